import BackplaneModel

/// AdaptiveWorkloadBalancer, version 1: filter cards, score the ones left, take the best;
/// when nothing fits, say which resource binds (structured, never thrown). Pure: no I/O, no
/// clock, deterministic (ties go to the lower CardID).
public struct Balancer: Sendable {
    public struct WeightedScorer: Sendable {
        public var plugin: any ScorePlugin
        public var weight: Double
        public init(_ plugin: any ScorePlugin, weight: Double) {
            self.plugin = plugin
            self.weight = weight
        }
    }

    public var filters: [any FilterPlugin]
    public var scorers: [WeightedScorer]

    /// The default pipeline: ready cards that fit; balance CPU against memory, then spread.
    public init(filters: [any FilterPlugin] = [CardIsReady(), ResourcesFit()],
                scorers: [WeightedScorer] = [WeightedScorer(BalancedAllocation(), weight: 1), WeightedScorer(AllocationLevel(), weight: 1)]) {
        self.filters = filters
        self.scorers = scorers
    }

    public enum Decision: Hashable, Sendable {
        case place(CardID, score: Double)
        case pending(PendingReason)
    }

    /// Where one request goes on this snapshot.
    public func decide(_ request: PlacementRequest, cards: [CardView]) -> Decision {
        var best: (CardID, Double)?
        var notReady: [String: Int] = [:]
        var short: [ResourceDimension: Int] = [:]
        var considered = 0
        for view in cards {
            var outcome = FilterOutcome.fits
            for filter in filters {
                outcome = filter.filter(request, on: view)
                if outcome != .fits { break }
            }
            switch outcome {
            case .notReady(let state):
                notReady[state.rawValue, default: 0] += 1
                continue
            case .insufficient(let dimension):
                considered += 1
                short[dimension, default: 0] += 1
                continue
            case .fits:
                considered += 1
            }
            let score = scorers.reduce(0) { $0 + $1.weight * $1.plugin.score(request, on: view) }
            if best == nil || score > best!.1 || (score == best!.1 && view.card.id < best!.0) {
                best = (view.card.id, score)
            }
        }
        if let (card, score) = best { return .place(card, score: score) }
        guard considered > 0 else {
            return .pending(PendingReason(dimension: nil, requested: 0, largestFree: 0, cardsShort: 0, cardsConsidered: 0, notReady: notReady))
        }
        // The binding dimension: the one that the most cards are short of (ties: fixed order).
        let binding = ResourceDimension.allCases.max { (short[$0] ?? 0) < (short[$1] ?? 0) }!
        let ready = cards.filter { $0.card.state == .ready }
        return .pending(PendingReason(
            dimension: binding,
            requested: binding.amount(request.resources),
            largestFree: ready.map { binding.amount($0.free) }.max() ?? 0,
            cardsShort: ready.filter { binding.amount($0.free) < binding.amount(request.resources) }.count,
            cardsConsidered: considered,
            notReady: notReady
        ))
    }

    /// A plan for many requests: higher priority first (then instance id), each placement
    /// counted against the card before the next decision.
    public func plan(_ requests: [PlacementRequest], cards: [CardView]) -> Plan {
        var views = cards.sorted { $0.card.id < $1.card.id }
        var index: [CardID: Int] = [:]
        for (i, v) in views.enumerated() { index[v.card.id] = i }
        var plan = Plan()
        for request in requests.sorted(by: { ($0.priority, $1.instanceID) > ($1.priority, $0.instanceID) }) {
            switch decide(request, cards: views) {
            case .place(let card, let score):
                views[index[card]!].allocated = views[index[card]!].allocated + request.resources
                plan.placements.append(Plan.Placement(instanceID: request.instanceID, card: card, score: score))
            case .pending(let reason):
                plan.pending.append(Plan.Pending(instanceID: request.instanceID, reason: reason))
            }
        }
        return plan
    }
}

/// What the balancer decided; the BMC's plan applier commits it.
public struct Plan: Hashable, Sendable {
    public struct Placement: Hashable, Sendable {
        public var instanceID: String
        public var card: CardID
        public var score: Double
    }
    public struct Pending: Hashable, Sendable {
        public var instanceID: String
        public var reason: PendingReason
    }
    public var placements: [Placement] = []
    public var pending: [Pending] = []
    public init() {}
}
