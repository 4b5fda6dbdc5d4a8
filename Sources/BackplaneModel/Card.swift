/// A compute node on the bus, as the BMC's registry sees it.
public struct Card: Hashable, Sendable, Codable {
    /// joining → ready → draining → removed (a drained card whose lease lapses); ready → suspect
    /// when heartbeats are late or its link closed (no new placements); suspect → lost once its
    /// lease has surely lapsed (its instances are fenced and re-placed); → ready when it links again.
    public enum State: String, Hashable, Sendable, Codable, CaseIterable {
        case joining, ready, draining, lost, removed, suspect
    }

    public var id: CardID
    public var name: String
    public var state: State
    /// What the card offers to workloads (its slice of the host).
    public var capacity: Resources
    /// The model of each GPU device the card offers (`["T4", "T4"]`), if any.
    public var gpus: [String]?
    public var labels: [String: String]
    /// What the card's host has (cores, memory, disks, network interfaces, PCI devices).
    public var inventory: Inventory?

    public init(id: CardID, name: String, state: State, capacity: Resources, labels: [String: String] = [:], inventory: Inventory? = nil) {
        self.id = id
        self.name = name
        self.state = state
        self.capacity = capacity
        self.labels = labels
        self.inventory = inventory
    }
}

/// Why an instance is not placed: which dimension binds, with the numbers.
public struct PendingReason: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The binding resource, or nil when no card is ready at all.
    public var dimension: ResourceDimension?
    public var requested: Int64
    /// The most any considered card has free in that dimension.
    public var largestFree: Int64
    /// Ready cards too small in that dimension.
    public var cardsShort: Int
    /// Cards looked at (ready ones).
    public var cardsConsidered: Int
    /// Cards not ready, by state.
    public var notReady: [String: Int]
    /// The balancer's full sentence, when it says more than the fields above (GPUs, quotas,
    /// labels, anti-affinity, several refusals); it is the description when set.
    public var detail: String?

    public init(dimension: ResourceDimension?, requested: Int64, largestFree: Int64, cardsShort: Int, cardsConsidered: Int, notReady: [String: Int], detail: String? = nil) {
        self.detail = detail
        self.dimension = dimension
        self.requested = requested
        self.largestFree = largestFree
        self.cardsShort = cardsShort
        self.cardsConsidered = cardsConsidered
        self.notReady = notReady
    }

    public var description: String {
        if let detail { return detail }
        let others = notReady.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        guard let dimension else {
            return others.isEmpty ? "no cards on the bus" : "no ready cards (\(others))"
        }
        let name = dimension == .storageIOPS ? "storage IOPS" : dimension.rawValue
        return "insufficient \(name) on \(cardsShort) of \(cardsConsidered) cards (requested \(dimension.format(requested)), largest free \(dimension.format(largestFree)))"
            + (others.isEmpty ? "" : "; not ready: \(others)")
    }
}
