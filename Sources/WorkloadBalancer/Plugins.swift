import BackplaneModel

/// A card as a placement sees it: the card and what is already allocated on it.
public struct CardView: Hashable, Sendable {
    public var card: Card
    public var allocated: Resources
    public init(card: Card, allocated: Resources = .zero) {
        self.card = card
        self.allocated = allocated
    }
    public var free: Resources { card.capacity - allocated }
}

/// One instance to place.
public struct PlacementRequest: Hashable, Sendable {
    public var instanceID: String
    public var workload: String
    public var tenant: String
    public var priority: Int
    public var resources: Resources
    public init(instanceID: String, workload: String, tenant: String = WorkloadSpec.defaultTenant, priority: Int = WorkloadSpec.defaultPriority, resources: Resources) {
        self.instanceID = instanceID
        self.workload = workload
        self.tenant = tenant
        self.priority = priority
        self.resources = resources
    }
}

/// Why a filter turned a card down.
public enum FilterOutcome: Hashable, Sendable {
    case fits
    case notReady(Card.State)
    case insufficient(ResourceDimension)
}

/// Decides whether a card can take a request at all.
public protocol FilterPlugin: Sendable {
    var name: String { get }
    func filter(_ request: PlacementRequest, on card: CardView) -> FilterOutcome
}

/// Rates a card that passed every filter, 0 (worst) to 100 (best).
public protocol ScorePlugin: Sendable {
    var name: String { get }
    func score(_ request: PlacementRequest, on card: CardView) -> Double
}

/// Only ready cards take new instances (not joining, draining, lost or removed ones).
public struct CardIsReady: FilterPlugin {
    public init() {}
    public var name: String { "CardIsReady" }
    public func filter(_ request: PlacementRequest, on card: CardView) -> FilterOutcome {
        card.card.state == .ready ? .fits : .notReady(card.card.state)
    }
}

/// Free resources cover the request in every dimension.
public struct ResourcesFit: FilterPlugin {
    public init() {}
    public var name: String { "ResourcesFit" }
    public func filter(_ request: PlacementRequest, on card: CardView) -> FilterOutcome {
        let free = card.free
        for dimension in ResourceDimension.allCases where dimension.amount(request.resources) > dimension.amount(free) {
            return .insufficient(dimension)
        }
        return .fits
    }
}

/// Prefers cards whose CPU and memory use stay even after placing (less stranded capacity).
public struct BalancedAllocation: ScorePlugin {
    public init() {}
    public var name: String { "BalancedAllocation" }
    public func score(_ request: PlacementRequest, on card: CardView) -> Double {
        let after = card.allocated + request.resources
        let cpu = fraction(after.cpuMillis, card.card.capacity.cpuMillis)
        let memory = fraction(after.memoryBytes, card.card.capacity.memoryBytes)
        return (1 - abs(cpu - memory)) * 100
    }
}

/// Prefers the emptiest card (spread), or with `binpack` the fullest one.
public struct AllocationLevel: ScorePlugin {
    public var binpack: Bool
    public init(binpack: Bool = false) { self.binpack = binpack }
    public var name: String { binpack ? "MostAllocated" : "LeastAllocated" }
    public func score(_ request: PlacementRequest, on card: CardView) -> Double {
        let after = card.allocated + request.resources
        let used = (fraction(after.cpuMillis, card.card.capacity.cpuMillis) + fraction(after.memoryBytes, card.card.capacity.memoryBytes)) / 2
        return (binpack ? used : 1 - used) * 100
    }
}

func fraction(_ part: Int64, _ whole: Int64) -> Double {
    whole > 0 ? min(1, max(0, Double(part) / Double(whole))) : 1
}
