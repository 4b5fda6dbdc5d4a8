/// The commands and events between the BMC and CardOS, carried as DCL `command` / `event`
/// messages with JSON bodies (control traffic, not the data path).
public enum CardProtocol {
    public static let startInstance = "instance.start"
    public static let stopInstance = "instance.stop"
    public static let instanceExited = "instance.exited"
    /// Body: the instance id (UTF-8). Reply: the tail of its stdout and stderr, interleaved by
    /// stream (stdout first), at most 64 KiB.
    public static let instanceLogs = "instance.logs"

    /// Hello metadata keys a card sends when it joins.
    public static let nameKey = "name"
    public static let capacityKey = "capacity"
    public static let runtimeKey = "runtime"
    public static let inventoryKey = "inventory"
    /// The card's GPU devices, as comma-separated model names (`T4,T4`); absent when none.
    public static let gpusKey = "gpus"

    public struct StartInstance: Codable, Hashable, Sendable {
        public var id: String
        public var image: String
        public var command: [String]
        public var env: [String: String]
        public var resources: Resources
        /// The workload's key (`<tenant>/<name>`), so the card can label the instance's usage.
        public var workload: String
        public init(id: String, image: String, command: [String], env: [String: String], resources: Resources, workload: String) {
            self.id = id
            self.image = image
            self.command = command
            self.env = env
            self.resources = resources
            self.workload = workload
        }
    }

    public struct StartedInstance: Codable, Hashable, Sendable {
        public var id: String
        public var pid: Int32
        public var runtime: String
        public var containerID: String
        public var cgroupPath: String
        public init(id: String, pid: Int32, runtime: String, containerID: String, cgroupPath: String) {
            self.id = id
            self.pid = pid
            self.runtime = runtime
            self.containerID = containerID
            self.cgroupPath = cgroupPath
        }
    }

    public struct StopInstance: Codable, Hashable, Sendable {
        public var id: String
        public var graceMilliseconds: Int64
        public init(id: String, graceMilliseconds: Int64) {
            self.id = id
            self.graceMilliseconds = graceMilliseconds
        }
    }

    public struct InstanceExited: Codable, Hashable, Sendable {
        public var id: String
        public var code: Int32
        public var oomKilled: Bool
        public init(id: String, code: Int32, oomKilled: Bool) {
            self.id = id
            self.code = code
            self.oomKilled = oomKilled
        }
    }
}
