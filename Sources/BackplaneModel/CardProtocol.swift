/// The commands and events between the BMC and CardOS, carried as DCL `command` / `event`
/// messages with JSON bodies (control traffic, not the data path).
public enum CardProtocol {
    public static let startInstance = "instance.start"
    public static let stopInstance = "instance.stop"
    /// BMC → card: change a running instance's CPU and memory limits in place (body
    /// ``ResizeInstance``, empty reply). Refused by a runtime that cannot (the process driver).
    public static let resizeInstance = "instance.resize"
    public static let instanceExited = "instance.exited"
    /// Body: the instance id (UTF-8). Reply: the tail of its stdout and stderr, interleaved by
    /// stream (stdout first), at most 64 KiB.
    public static let instanceLogs = "instance.logs"
    /// Card → BMC request, every heartbeat interval, on the control class: body ``Heartbeat``,
    /// reply ``LeaseGrant``. The grant renews the card's lease (see ARCHITECTURE.md, "Health,
    /// leases and fencing"); the report lets the BMC adopt what matches and stop the rest.
    public static let heartbeat = "card.heartbeat"

    /// Enrollment (mutual-TLS buses): on a link without a certificate, admitted with a join
    /// token (hello role `client`, metadata ``purposeKey`` = ``enrollPurpose``), a card asks
    /// for its certificate: body ``Enroll``, reply ``Enrolled``. The link allows nothing else.
    public static let enroll = "card.enroll"
    /// A certified card renews its certificate on its own link: body ``Renew``, reply ``Enrolled``.
    public static let renew = "card.renew"
    public static let purposeKey = "purpose"
    public static let enrollPurpose = "enroll"
    /// A data client (`backplane load`, the Redis gateway): hello role `client` with an API
    /// token; it may send only shard-routed requests to the BMC, for its tenant's workloads.
    public static let dataPurpose = "data"

    public struct Enroll: Codable, Hashable, Sendable {
        /// The card's certificate signing request (PEM).
        public var csr: String
        public var name: String
        public init(csr: String, name: String) {
            self.csr = csr
            self.name = name
        }
    }

    public struct Renew: Codable, Hashable, Sendable {
        public var csr: String
        public init(csr: String) { self.csr = csr }
    }

    public struct Enrolled: Codable, Hashable, Sendable {
        /// The card's certificate (PEM), its SAN carrying the CardID.
        public var certificate: String
        /// The bus CA (PEM).
        public var ca: String
        public init(certificate: String, ca: String) {
            self.certificate = certificate
            self.ca = ca
        }
    }

    /// Hello metadata keys a card sends when it joins.
    public static let nameKey = "name"
    public static let capacityKey = "capacity"
    public static let runtimeKey = "runtime"
    public static let inventoryKey = "inventory"
    /// The card's GPU devices, as comma-separated model names (`T4,T4`); absent when none.
    public static let gpusKey = "gpus"

    /// What a card runs (one container), as it reports it.
    public struct RunningInstance: Codable, Hashable, Sendable {
        public var id: String
        public var incarnation: UInt64
        public var pid: Int32
        public var containerID: String
        /// Its readiness probe's verdict (nil: it has none).
        public var ready: Bool?
        public init(id: String, incarnation: UInt64, pid: Int32, containerID: String, ready: Bool? = nil) {
            self.id = id
            self.incarnation = incarnation
            self.pid = pid
            self.containerID = containerID
            self.ready = ready
        }
    }

    public struct Heartbeat: Codable, Hashable, Sendable {
        /// Counts up from 0 for each link; 0 is the link report (everything the card runs, after
        /// it linked: the BMC adopts what matches and treats what is missing as ended).
        public var sequence: UInt64
        /// The previous heartbeat's round trip, in microseconds.
        public var rttMicros: Int64?
        public var running: [RunningInstance]
        /// Instances that ended recently (repeated for a while: the BMC applies each once).
        public var exited: [InstanceExited]
        public init(sequence: UInt64, rttMicros: Int64?, running: [RunningInstance], exited: [InstanceExited]) {
            self.sequence = sequence
            self.rttMicros = rttMicros
            self.running = running
            self.exited = exited
        }
    }

    public struct LeaseGrant: Codable, Hashable, Sendable {
        /// The lease, from when the card sent the heartbeat this answers.
        public var leaseMilliseconds: Int64
        /// How often the BMC wants heartbeats.
        public var heartbeatMilliseconds: Int64
        public init(leaseMilliseconds: Int64, heartbeatMilliseconds: Int64) {
            self.leaseMilliseconds = leaseMilliseconds
            self.heartbeatMilliseconds = heartbeatMilliseconds
        }
    }

    public struct StartInstance: Codable, Hashable, Sendable {
        public var id: String
        /// Which start of the instance this is; a card stops any other incarnation of `id` first.
        public var incarnation: UInt64
        public var image: String
        public var command: [String]
        public var env: [String: String]
        public var resources: Resources
        /// The workload's key (`<tenant>/<name>`), so the card can label the instance's usage.
        public var workload: String
        public var liveness: Probe?
        public var readiness: Probe?
        /// A sharded workload's instance: the card's shard host gives it a socket and a token.
        public var sharded: Bool?
        public init(id: String, incarnation: UInt64, image: String, command: [String], env: [String: String], resources: Resources, workload: String) {
            self.id = id
            self.incarnation = incarnation
            self.image = image
            self.command = command
            self.env = env
            self.resources = resources
            self.workload = workload
        }
    }

    public struct StartedInstance: Codable, Hashable, Sendable {
        public var id: String
        public var incarnation: UInt64
        public var pid: Int32
        public var runtime: String
        public var containerID: String
        public var cgroupPath: String
        public init(id: String, incarnation: UInt64, pid: Int32, runtime: String, containerID: String, cgroupPath: String) {
            self.id = id
            self.incarnation = incarnation
            self.pid = pid
            self.runtime = runtime
            self.containerID = containerID
            self.cgroupPath = cgroupPath
        }
    }

    public struct StopInstance: Codable, Hashable, Sendable {
        public var id: String
        /// Only this incarnation; nil stops whichever runs.
        public var incarnation: UInt64?
        public var graceMilliseconds: Int64
        public init(id: String, incarnation: UInt64? = nil, graceMilliseconds: Int64) {
            self.id = id
            self.incarnation = incarnation
            self.graceMilliseconds = graceMilliseconds
        }
    }

    public struct ResizeInstance: Codable, Hashable, Sendable {
        public var id: String
        public var incarnation: UInt64
        /// The new limits (CPU and memory are applied; the rest stay as started).
        public var resources: Resources
        public init(id: String, incarnation: UInt64, resources: Resources) {
            self.id = id
            self.incarnation = incarnation
            self.resources = resources
        }
    }

    public struct InstanceExited: Codable, Hashable, Sendable {
        public var id: String
        public var incarnation: UInt64
        public var code: Int32
        public var oomKilled: Bool
        /// Killed by its shim because the card's lease lapsed.
        public var fenced: Bool
        /// Why it ended, for people ("exited with 1", "OOM-killed", "fenced: lease lapsed").
        public var reason: String
        public init(id: String, incarnation: UInt64, code: Int32, oomKilled: Bool, fenced: Bool = false, reason: String? = nil) {
            self.id = id
            self.incarnation = incarnation
            self.code = code
            self.oomKilled = oomKilled
            self.fenced = fenced
            self.reason = reason ?? (fenced ? "fenced: the card's lease lapsed" : oomKilled ? "OOM-killed: memory limit reached" : code > 128 ? "killed by signal \(code - 128)" : "exited with \(code)")
        }
    }
}
