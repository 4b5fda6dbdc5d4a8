import BackplaneModel
import Testing
@testable import WorkloadBalancer

@Suite("the allocation simulator's protocol")
struct SizingSimulatorTests {
    typealias S = SizingSimulator

    static func settings(warmup: Int, delay: Int = 0) -> S.Settings {
        var s = S.Settings()
        s.warmup = warmup
        s.delay = delay
        return s
    }

    @Test("a tiny hand-made trace with a known answer: the oracle serves everything at exactly the demand; static-peak misses the spike it never saw")
    func knownAnswer() throws {
        let times = (0..<10).map { Double($0) * 60 }
        let demand: [Double] = [1, 1, 1, 1, 5, 1, 1, 1, 1, 1]
        let oracle = try #require(S.run(.oracle, resource: .cpu, times: times, values: demand, headrooms: [1], settings: Self.settings(warmup: 2)).first)
        #expect(oracle.unserved == 0 && oracle.breaches == 0 && oracle.steps == 8)
        #expect(oracle.demand == 12)
        #expect(oracle.provisioned == 12 * 60, "each scored step's demand for its 60 s")
        let peak = try #require(S.run(.staticPeak, resource: .cpu, times: times, values: demand, headrooms: [1, 5], settings: Self.settings(warmup: 2)))
        #expect(peak[0].unserved == 4 && peak[0].breaches == 1 && peak[0].provisioned == 8 * 60 && peak[0].resizes == 0)
        #expect(abs(peak[0].unservedFraction - 4.0 / 12) < 1e-12)
        #expect(peak[1].unserved == 0 && peak[1].provisioned == 5 * 8 * 60, "five times the headroom covers the spike at five times the cost")
    }

    @Test("the actuation delay: a decision after step t applies from t + 1 + delay; a policy never sees a step before it happened")
    func delayAndNoLookahead() throws {
        let times = (0..<8).map { Double($0) }
        // A step up at t = 4 and held: autopilot's 24 h peak (memory) follows it one step late
        // with delay 0, two steps late with delay 1.
        let demand: [Double] = [1, 1, 1, 1, 3, 3, 3, 3]
        let now = try #require(S.run(.autopilotMW, resource: .memory, times: times, values: demand, headrooms: [1], settings: Self.settings(warmup: 2)).first)
        #expect(now.breaches == 1 && now.unserved == 2)
        let late = try #require(S.run(.autopilotMW, resource: .memory, times: times, values: demand, headrooms: [1], settings: Self.settings(warmup: 2, delay: 1)).first)
        #expect(late.breaches == 2 && late.unserved == 4)
        // Changing the future does not change what was decided before it.
        var future = demand
        future[7] = 100
        let a = S.run(.backplane, resource: .cpu, times: times, values: demand, headrooms: [1], settings: Self.settings(warmup: 2))[0]
        let b = S.run(.backplane, resource: .cpu, times: times, values: future, headrooms: [1], settings: Self.settings(warmup: 2))[0]
        #expect(b.provisioned == a.provisioned, "the allocation of every step was set before step 7 was seen")
    }

    @Test("properties on seeded random series: unserved in [0, 1]; a larger headroom never serves less or costs less; hostile values are read as 0")
    func properties() {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<20 {
            let n = Int(rng.next() % 400) + 2
            var t = 0.0
            let times = (0..<n).map { _ in t += Double(rng.next() % 600 + 1); return t }
            let values = (0..<n).map { i -> Double in
                switch rng.next() % 50 {
                case 0: return .nan
                case 1: return -5
                case 2: return .infinity
                default: return Double(rng.next() % 1000) * (i % 97 == 0 ? 8 : 1)
                }
            }
            for policy in S.Policy.allCases {
                let outcomes = S.run(policy, resource: rng.next() % 2 == 0 ? .cpu : .memory, times: times, values: values, headrooms: [0.5, 1, 1.5, 3], settings: Self.settings(warmup: n / 4 + 1))
                for o in outcomes {
                    #expect((0...1).contains(o.unservedFraction) && o.provisioned.isFinite && o.provisioned >= 0, "\(policy)")
                }
                for (a, b) in zip(outcomes, outcomes.dropFirst()) {
                    #expect(b.unserved <= a.unserved + 1e-9 && b.provisioned + 1e-9 >= a.provisioned, "\(policy): headroom monotone")
                }
            }
        }
        #expect(S.run(.backplane, resource: .cpu, times: [1], values: [1], headrooms: [1]) == [S.Outcome()], "one row: nothing to score")
    }

    @Test("cards: capacity is Σ peaks / cards; each row needs the fluid bound over resources; rows needing more than the bus are counted")
    func cards() {
        let model = CardModel(count: 2, peaks: [.cpu: 10, .memory: 100], costPerCardHour: 3)
        #expect(model.capacity[.cpu] == 5 && model.capacity[.memory] == 50)
        // Row 0: cpu 4 (0.8 card), memory 60 (1.2 cards) → 2 cards. Row 1: nothing yet → 0.
        // Row 2: cpu 11 (2.2) → 3 cards, over the bus's 2.
        let u = model.usage([.cpu: [4, 0, 11], .memory: [60, 0, 10]], stepSeconds: 1800)
        #expect(u.cardHours == (2 + 3) * 0.5 && u.cost == 7.5 && u.peakCards == 3 && u.stepsShort == 1)
        #expect(CardModel(count: 0, peaks: [.cpu: 1]).count == 1, "at least one card")
        #expect(model.usage([:], stepSeconds: 300) == CardModel.Usage())
        // Recorded allocations match the scored provisioned total.
        let times = (0..<6).map { Double($0) * 10 }
        let runs = S.runRecording(.staticPeak, resource: .cpu, times: times, values: [2, 3, 1, 1, 1, 1], headrooms: [1], settings: Self.settings(warmup: 2), record: true)
        #expect(runs[0].allocations == [0, 0, 3, 3, 3, 3])
        #expect(runs[0].outcome.provisioned == 3 * 10 * 4)
    }
}
