import BackplaneModel

/// Why a request goes where it goes (or nowhere): the filters' verdicts per card class and the best scores.
public struct Explanation: Hashable, Sendable {
    public struct ClassVerdict: Hashable, Sendable {
        /// Cards in this state, and one of them.
        public var cards: Int
        public var example: CardID
        public var exampleName: String
        /// Empty when the class fits.
        public var refusals: [Refusal]
        public var score: Double?
    }
    public struct ScoredCard: Hashable, Sendable {
        public var card: CardID
        public var name: String
        public var score: Double
        /// Weighted contribution of each scorer.
        public var breakdown: [String: Double]
    }

    public var decision: PlacementDecision
    public var cards: Int
    public var feasibleCards: Int
    /// Cards refused, per filter dimension.
    public var refusedBy: [Refusal: Int]
    public var classes: [ClassVerdict]
    public var top: [ScoredCard]
}

extension PlacementEngine {
    /// The filter outcome per card class and the top `n` scored cards for one request (nothing is committed).
    public mutating func explain(_ demand: InstanceDemand, top n: Int = 5) -> Explanation {
        let t = internDemand(demand)
        var rows: [Explanation.ClassVerdict] = []
        var refused: [Refusal: Int] = [:]
        var feasible = 0
        var scored: [(slot: Int, verdict: Verdict)] = []
        for slot in classes.indices where classes[slot].alive {
            let v = verdict(slot, t)
            let members = classes[slot].members
            let reasons = Refusal.allCases.filter { v.refusals & $0.bit != 0 }
            for r in reasons { refused[r, default: 0] += members.count }
            if reasons.isEmpty { feasible += members.count; scored.append((slot, v)) }
            let example = members.min()!
            rows.append(.init(cards: members.count, example: cards[example].id, exampleName: cards[example].name, refusals: reasons,
                              score: reasons.isEmpty ? v.score : nil))
        }
        rows.sort { ($1.score ?? -.infinity, $0.example) < ($0.score ?? -.infinity, $1.example) }
        scored.sort { ($1.verdict.score, slotSerial[$0.slot]) < ($0.verdict.score, slotSerial[$1.slot]) }
        var top: [Explanation.ScoredCard] = []
        let shape = demandShapes[t]
        for (slot, v) in scored where top.count < n {
            let view = classes[slot].view
            var after = Self.applied(view, shape, model: v.choiceModel, free: v.choiceFree)
            if let mix { after.fragmentation = mix.fragmentation(free: after.free, devices: after.devices) }
            var breakdown: [String: Double] = [:]
            for s in policy.scorers { breakdown[s.scorer.name, default: 0] += s.weight * s.scorer.score(shape, before: view, after: after) }
            for card in classes[slot].members.sorted() where top.count < n {
                top.append(.init(card: cards[card].id, name: cards[card].name, score: v.score, breakdown: breakdown))
            }
        }
        let decision = decide(demand)
        return Explanation(decision: decision, cards: cards.count, feasibleCards: feasible, refusedBy: refused, classes: rows, top: top)
    }
}
