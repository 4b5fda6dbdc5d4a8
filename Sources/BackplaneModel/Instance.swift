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
    /// Why it last ended ("exited with 1", "OOM-killed", "fenced: the card's lease lapsed").
    public var exitReason: String?
    public var restarts: Int
    /// Grows every time the instance is placed (started) anywhere; commands and reports carry it,
    /// so a stale copy is recognised and stopped.
    public var incarnation: UInt64 = 0
    /// Its readiness probe's last verdict; nil when it has no readiness probe (or is not running).
    public var ready: Bool?

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

extension Instance {
    enum CodingKeys: String, CodingKey {
        case id, workload, tenant, priority, requested, gpu, gpuDevices, state, card, pendingReason, runtime, containerID, pid, exitCode, exitReason, restarts, incarnation, ready
    }

    /// Records written before incarnations existed decode with incarnation 0.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        workload = try c.decode(String.self, forKey: .workload)
        tenant = try c.decode(String.self, forKey: .tenant)
        priority = try c.decode(Int.self, forKey: .priority)
        requested = try c.decode(Resources.self, forKey: .requested)
        gpu = try c.decodeIfPresent(GPUDemand.self, forKey: .gpu)
        gpuDevices = try c.decodeIfPresent([Int].self, forKey: .gpuDevices)
        state = try c.decode(State.self, forKey: .state)
        card = try c.decodeIfPresent(CardID.self, forKey: .card)
        pendingReason = try c.decodeIfPresent(PendingReason.self, forKey: .pendingReason)
        runtime = try c.decodeIfPresent(String.self, forKey: .runtime)
        containerID = try c.decodeIfPresent(String.self, forKey: .containerID)
        pid = try c.decodeIfPresent(Int32.self, forKey: .pid)
        exitCode = try c.decodeIfPresent(Int32.self, forKey: .exitCode)
        exitReason = try c.decodeIfPresent(String.self, forKey: .exitReason)
        restarts = try c.decodeIfPresent(Int.self, forKey: .restarts) ?? 0
        incarnation = try c.decodeIfPresent(UInt64.self, forKey: .incarnation) ?? 0
        ready = try c.decodeIfPresent(Bool.self, forKey: .ready)
    }
}
