import BackplaneModel

/// What to run: one instance's container.
public struct ContainerSpec: Hashable, Sendable {
    public var id: String
    /// `busybox` or an absolute path to a root filesystem directory.
    public var image: String
    public var command: [String]
    public var env: [String: String]
    public var resources: Resources
    /// Most processes the container may have.
    public var pidsLimit: Int64

    public init(id: String, image: String, command: [String], env: [String: String] = [:], resources: Resources, pidsLimit: Int64 = 256) {
        self.id = id
        self.image = image
        self.command = command
        self.env = env
        self.resources = resources
        self.pidsLimit = pidsLimit
    }
}

/// A started container.
public struct ContainerHandle: Hashable, Sendable {
    public var id: String
    /// Host PID of the container's init process.
    public var pid: Int32
    /// The cgroup (relative to each v1 controller's mount, or to the v2 root) it runs in.
    public var cgroupPath: String
    public var stdoutPath: String
    public var stderrPath: String
}

/// How a container ended.
public struct ContainerExit: Hashable, Sendable {
    public var id: String
    /// The exit status, or 128 + signal for a signalled process (as shells report it).
    public var code: Int32
    /// True when the kernel's OOM killer ended it (memory limit reached).
    public var oomKilled: Bool
}

/// Runs containers for instances. Drivers: ``RuncRuntime`` (real OCI containers with cgroup
/// limits), ``ProcessRuntime`` (plain processes, for machines without runc or root).
public protocol ContainerRuntime: Sendable {
    /// `runc` or `process`.
    var kind: String { get }

    /// Starts the container and returns once its init process has run. `onExit` is called once,
    /// when it ends (by itself, by a signal, or by ``stop(_:grace:)``) — possibly before `start`
    /// returns, for a container that ends at once.
    func start(_ spec: ContainerSpec, onExit: @escaping @Sendable (ContainerExit) -> Void) async throws -> ContainerHandle

    /// Stops the container: TERM, then KILL after `grace`. Returns when it is gone and nothing of
    /// it is left (runtime state, cgroup, bundle). Stopping an unknown id is not an error.
    func stop(_ id: String, grace: Duration) async throws

    /// Ids of containers this runtime knows about, including ones left by an earlier run.
    func list() async throws -> [String]

    /// Removes everything left by an earlier run of this card (after a crash or restart).
    func cleanUpLeftovers() async throws -> [String]

    /// Stops every container and removes what the runtime itself created (e.g. its cgroup parent).
    func shutdown() async
}

/// A runtime operation that failed, with the command's output when there was one.
public struct RuntimeError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
