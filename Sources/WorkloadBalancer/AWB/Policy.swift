import BackplaneModel

/// How AWB v2 decides: the filters, the weighted scorers and how a card is picked among the
/// best. A policy is configuration; the named ones come from `AWBRegistry`.
public struct Policy: Sendable {
    public enum Selection: Hashable, Sendable {
        /// The highest score; ties go to the card state seen first (deterministic, cached per demand shape).
        case best
        /// The highest score; ties broken uniformly at random over the tied cards (Kubernetes' selectHost).
        case bestWithRandomTies
        /// Any feasible card, uniformly at random (the artifact's Random).
        case uniformRandom
    }

    public enum DeviceSelection: Hashable, Sendable {
        /// The devices whose placement scores highest (fragmentation-aware).
        case byScore
        /// The fullest device that still fits (artifact's default "best").
        case bestFit
        /// Any fitting device, uniformly at random.
        case random
    }

    /// Fragmentation settings; nil when no scorer looks at fragmentation.
    public struct Fragmentation: Hashable, Sendable {
        /// Share of requests the typical shapes must cover (FGD: 0.95).
        public var coverage: Double
        public var memoryAware: Bool
        public var cpuShapesCountIdle: Bool
        /// Weigh shapes by the GPU they request (count × milli-GPU), not by how many there are:
        /// a rare 8-GPU shape then weighs what it asks for (FGD counts instances).
        public var gpuWeighted: Bool
        public init(coverage: Double = 0.95, memoryAware: Bool = true, cpuShapesCountIdle: Bool = false, gpuWeighted: Bool = false) {
            self.coverage = coverage
            self.gpuWeighted = gpuWeighted
            self.memoryAware = memoryAware
            self.cpuShapesCountIdle = cpuShapesCountIdle
        }
    }

    public var name: String
    public var filters: [any CardFilter]
    public var scorers: [WeightedCardScorer]
    public var selection: Selection
    public var deviceSelection: DeviceSelection
    public var fragmentation: Fragmentation?

    public init(name: String, filters: [any CardFilter] = Policy.standardFilters, scorers: [WeightedCardScorer],
                selection: Selection = .best, deviceSelection: DeviceSelection = .byScore, fragmentation: Fragmentation? = nil) {
        self.name = name
        self.filters = filters
        self.scorers = scorers
        self.selection = selection
        self.deviceSelection = deviceSelection
        self.fragmentation = fragmentation
    }

    /// Ready, labels, GPU model, CPU/memory/network/IOPS, per-device GPU fit — in that order.
    public static let standardFilters: [any CardFilter] = [CardReadyFilter(), LabelFilter(), GPUModelFilter(), ResourceFitFilter(), GPUFitFilter()]
}
