import BackplaneModel

/// What to run: one instance's container.
public struct ContainerSpec: Hashable, Sendable {
    /// The instance id.
    public var id: String
    /// Which start of the instance this is (see ``ContainerID``).
    public var incarnation: UInt64
    /// The name of an image in the card's ``ImageStore`` (`busybox`, or one an admin imported).
    public var image: String
    public var command: [String]
    public var env: [String: String]
    public var resources: Resources
    /// Most processes the container may have.
    public var pidsLimit: Int64
    /// The workload's key (`<tenant>/<name>`), to label usage.
    public var workload: String = ""
    public var liveness: Probe?
    public var readiness: Probe?
    /// Host directories the container sees (read-write, nosuid, nodev); runc only.
    public var bindMounts: [BindMount] = []

    public init(id: String, incarnation: UInt64 = 0, image: String, command: [String], env: [String: String] = [:], resources: Resources, pidsLimit: Int64 = 256) {
        self.id = id
        self.incarnation = incarnation
        self.image = image
        self.command = command
        self.env = env
        self.resources = resources
        self.pidsLimit = pidsLimit
    }
}

/// A host directory mounted into a container.
public struct BindMount: Hashable, Sendable {
    public var source: String
    /// Below `/tmp` (the container's private scratch), where a mount point can be made in a
    /// read-only image.
    public var destination: String
    public init(source: String, destination: String) {
        self.source = source
        self.destination = destination
    }
}

/// A started container.
public struct ContainerHandle: Hashable, Sendable {
    /// The instance id.
    public var id: String
    public var incarnation: UInt64
    /// The runtime's own id for the container (`<instance>.<incarnation>` for runc).
    public var containerID: String
    /// The workload's key (`<tenant>/<name>`).
    public var workload: String = ""
    /// Its probes (kept with the container, so an adopting agent runs them again).
    public var liveness: Probe?
    public var readiness: Probe?
    /// Host PID of the container's init process.
    public var pid: Int32
    /// The cgroup (relative to each v1 controller's mount, or to the v2 root) it runs in.
    public var cgroupPath: String
    public var stdoutPath: String
    public var stderrPath: String
}

/// How a container ended.
public struct ContainerExit: Hashable, Sendable {
    /// The instance id.
    public var id: String
    public var incarnation: UInt64
    /// The exit status, or 128 + signal for a signalled process (as shells report it); -1 when
    /// unknown.
    public var code: Int32
    /// True when the kernel's OOM killer ended it (memory limit reached).
    public var oomKilled: Bool
    /// Killed by its shim because the card's lease lapsed.
    public var fenced: Bool
    /// Why it ended, for people.
    public var reason: String

    public init(id: String, incarnation: UInt64, code: Int32, oomKilled: Bool, fenced: Bool = false, reason: String? = nil) {
        self.id = id
        self.incarnation = incarnation
        self.code = code
        self.oomKilled = oomKilled
        self.fenced = fenced
        self.reason = reason ?? CardProtocol.InstanceExited(id: id, incarnation: incarnation, code: code, oomKilled: oomKilled, fenced: fenced).reason
    }
}

/// What a runtime found when the card agent (re)started.
public struct AdoptionReport: Hashable, Sendable {
    /// Still running under their supervisors: tracked again, same PID, no restart.
    public var adopted: [ContainerHandle] = []
    /// Ended while no agent watched (fenced, or by themselves): to report to the BMC.
    public var ended: [ContainerExit] = []
    /// Leftovers with nothing to adopt (no supervisor or no record): killed and removed.
    public var removed: [String] = []
    public init() {}
}

/// Runs containers for instances. Drivers: ``RuncRuntime`` (real OCI containers with cgroup
/// limits), ``ProcessRuntime`` (plain processes, for machines without runc or root).
public protocol ContainerRuntime: Sendable {
    /// `runc` or `process`.
    var kind: String { get }

    /// The lease file this runtime's supervisors enforce (nil: the runtime cannot fence).
    var lease: LeaseFile? { get }

    /// Starts the container and returns once its init process has run. `onExit` is called once,
    /// when it ends (by itself, by a signal, by ``stop(_:incarnation:grace:)``, or fenced) —
    /// possibly before `start` returns, for a container that ends at once.
    /// Idempotent for one incarnation: starting an incarnation that already runs returns its
    /// handle. Any other incarnation of the same instance is stopped first.
    func start(_ spec: ContainerSpec, onExit: @escaping @Sendable (ContainerExit) -> Void) async throws -> ContainerHandle

    /// Stops the instance's container (only `incarnation`, or any when nil): TERM, then KILL after
    /// `grace`. Returns when it is gone and nothing of it is left (runtime state, cgroup, bundle).
    /// Stopping an unknown id is not an error.
    func stop(_ id: String, incarnation: UInt64?, grace: Duration) async throws

    /// Changes the CPU and memory limits of the instance's running container in place: the same
    /// process goes on (the allocator's vertical resize). Throws when no container of it runs,
    /// when the limits are out of range, or when the kernel refuses them (memory below what the
    /// container uses and cannot reclaim); then nothing changed.
    func resize(_ id: String, incarnation: UInt64?, to resources: Resources) async throws

    /// The containers this runtime supervises now.
    func running() -> [ContainerHandle]

    /// Instance ids of containers this runtime's backend knows about, including ones left by an
    /// earlier run.
    func list() async throws -> [String]

    /// After the card agent (re)started: takes back the containers an earlier run left running
    /// under live supervisors, collects the exits recorded while no agent watched, and removes
    /// everything else.
    func adopt(onExit: @escaping @Sendable (ContainerExit) -> Void) async throws -> AdoptionReport

    /// Runs `command` inside the container (for exec probes); true when it exited 0 within
    /// `timeout`.
    func exec(_ handle: ContainerHandle, command: [String], timeout: Duration) async -> Bool

    /// Watches the containers (reports their exits) until ``shutdown()`` or ``abandon()``; its
    /// owner (the card agent, or a test) runs it beside every other call. Not ended by
    /// cancellation: the last ``shutdown()`` needs it.
    func run() async

    /// Stops every container and removes what the runtime itself created (e.g. its cgroup
    /// parent); then ``run()`` returns. Nothing can be started after it.
    func shutdown() async

    /// Stops watching without stopping anything, as a killed agent would; ``run()`` returns.
    func abandon()
}

extension ContainerRuntime {
    /// Stops whichever incarnation of the instance runs.
    public func stop(_ id: String, grace: Duration) async throws {
        try await stop(id, incarnation: nil, grace: grace)
    }
}

/// A runtime operation that failed, with the command's output when there was one.
public struct RuntimeError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
