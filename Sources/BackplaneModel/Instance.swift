/// One running copy of a workload on one card (one container).
public struct Instance: Hashable, Sendable, Codable {
    public enum State: String, Hashable, Sendable, Codable, CaseIterable {
        /// Not placed yet (see `pendingReason`).
        case pending
        /// Placed; the card has been told to start it.
        case starting
        case running
        /// Ended; waiting for a restart (after backoff) or for deletion.
        case exited
        case stopping
        case stopped
    }

    public var id: String
    public var workload: String
    public var tenant: String
    public var priority: Int
    public var requested: Resources
    /// GPUs it needs, if any (placed by AWB on a card's devices; accounting only for now).
    public var gpu: GPUDemand?
    /// The card's GPU device indexes it holds, once placed.
    public var gpuDevices: [Int]?
    public var state: State
    public var card: CardID?
    public var pendingReason: PendingReason?
    /// `runc` or `process`.
    public var runtime: String?
    public var containerID: String?
    /// Host PID of the container's init process.
    public var pid: Int32?
    public var exitCode: Int32?
    public var restarts: Int

    public init(id: String, workload: String, tenant: String, priority: Int, requested: Resources, state: State = .pending) {
        self.id = id
        self.workload = workload
        self.tenant = tenant
        self.priority = priority
        self.requested = requested
        self.state = state
        self.restarts = 0
    }

    /// Instances that hold resources on their card.
    public var holdsResources: Bool { card != nil && [.starting, .running, .stopping, .exited].contains(state) }
}
