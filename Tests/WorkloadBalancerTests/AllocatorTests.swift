import BackplaneModel
import Testing
@testable import WorkloadBalancer

@Suite("the Resource Allocator's plan")
struct AllocatorTests {
    typealias A = Allocator
    static let gib: Int64 = 1 << 30
    static func card(_ n: UInt64) -> CardID { CardID(0x1_000000 + n) }

    func card(_ n: UInt64, cpu: Int64 = 4000, memory: Int64 = 8 << 30, cost: Double = 1) -> A.Card {
        A.Card(id: Self.card(n), name: "card-\(n)", capacity: Resources(cpuMillis: cpu, memoryBytes: memory), costPerHour: cost)
    }

    func instance(_ id: String, on n: UInt64, workload: String = "default/w", priority: Int = 0, mode: VerticalMode = .auto, cpu: Int64 = 1000, memory: Int64 = 1 << 30,
                  usageCPU: Double = 500, forecastCPU: Double = 500) -> A.Instance {
        A.Instance(sizing: VerticalPlanner.Instance(id: id, card: Self.card(n), priority: priority, mode: mode, current: Resources(cpuMillis: cpu, memoryBytes: memory),
                                                    usageCPU: usageCPU, usageMemory: 500 * 1048576, forecastCPU: forecastCPU, forecastMemory: 500 * 1048576),
                   workload: workload)
    }

    @Test("autoscale: replicas from the CPU forecast (HPA's ratio to target with 10 % tolerance), at most 4 more per interval")
    func scaleUpFromForecast() throws {
        // 2 replicas of 1 core; the forecast says 4.2 cores: 4.2 / 0.7 = 6 replicas.
        let w = A.Workload(key: "default/api", replicas: 2, autoscale: Autoscale(min: 1, max: 10, target: 70), requestCPU: 1000, forecastCPU: 4200, usageCPU: 1500)
        let s = try #require(A.plan(A.Snapshot(now: 0, cards: [card(0)], instances: [], workloads: [w])).scales.first)
        #expect(s.from == 2 && s.to == 6 && s.reason.contains("target 70%"))
        // From 1 replica to 10 wanted: 1 + 4 this interval.
        var big = w
        big.replicas = 1
        big.forecastCPU = 20_000
        let capped = try #require(A.plan(A.Snapshot(now: 0, cards: [card(0)], instances: [], workloads: [big])).scales.first)
        #expect(capped.to == 5 && capped.recommended == 10, "max 10, at most 4 more per interval")
        // Within the tolerance: 2 replicas at 1.45 cores is 72.5 % of 2 cores, target 70 %.
        var steady = w
        steady.forecastCPU = 1450
        #expect(A.plan(A.Snapshot(now: 0, cards: [card(0)], instances: [], workloads: [steady])).scales.isEmpty)
    }

    @Test("autoscale: a scale-down waits for the 5-minute window's highest recommendation; min and max hold")
    func scaleDownStabilised() throws {
        let w = A.Workload(key: "default/api", replicas: 6, autoscale: Autoscale(min: 2, max: 10, target: 50), requestCPU: 1000, forecastCPU: 500, usageCPU: 500,
                           history: [A.Recommendation(time: 100, replicas: 6), A.Recommendation(time: 350, replicas: 4)])
        let held = try #require(A.plan(A.Snapshot(now: 380, cards: [card(0)], instances: [], workloads: [w])).scales.first)
        #expect(held.to == 6 && held.recommended == 2, "6 was recommended 280 s ago")
        let later = try #require(A.plan(A.Snapshot(now: 500, cards: [card(0)], instances: [], workloads: [w])).scales.first)
        #expect(later.to == 4, "only 4 is in the window now")
        var none = w
        none.history = []
        #expect(A.plan(A.Snapshot(now: 500, cards: [card(0)], instances: [], workloads: [none])).scales.first?.to == 2, "never below min")
    }

    @Test("autoscaled workloads are not resized (not both on CPU); hostile forecasts change nothing wild")
    func autoscaledNotResized() {
        let w = A.Workload(key: "default/api", replicas: 1, autoscale: Autoscale(min: 1, max: 3), requestCPU: 1000, forecastCPU: .nan, usageCPU: .infinity)
        let plan = A.plan(A.Snapshot(now: 0, cards: [card(0)], instances: [instance("api-0", on: 0, workload: "default/api", forecastCPU: 3000)], workloads: [w]))
        #expect(plan.resizes.isEmpty)
        #expect(plan.scales.allSatisfy { (1...3).contains($0.to) })
    }

    @Test("moves: a card the forecast overfills moves its lowest-priority instance to the card with most room; planned, not carried out, and said so")
    func moveOffOverfilledCard() throws {
        // card-0: 4 cores; two instances of 2 cores each that want 3 (forecast 2.6 × 1.15).
        let plan = A.plan(A.Snapshot(now: 0, cards: [card(0), card(1), card(2, cpu: 8000)], instances: [
            instance("hi-0", on: 0, priority: 10, cpu: 2000, forecastCPU: 2600), instance("lo-0", on: 0, priority: 1, cpu: 2000, forecastCPU: 2600),
        ], workloads: []))
        let m = try #require(plan.moves.first)
        #expect(plan.moves.count == 1 && m.instance == "lo-0" && m.to == Self.card(2) && !m.applied && m.held == A.movesNotCarriedOut)
        #expect(plan.cardRequest == nil)
    }

    @Test("card requests: what waits for room and fits no card asks for cards of the usual shape; idle cards only when nothing is needed")
    func cardRequestAndIdle() throws {
        let cards = [card(0, cpu: 2000, memory: 4 << 30), card(1, cpu: 2000, memory: 4 << 30)]
        let busy = [instance("a-0", on: 0, cpu: 1500, usageCPU: 1000, forecastCPU: 1000)]
        let waiting = (0..<3).map { A.Waiting(instance: "b-\($0)", resources: Resources(cpuMillis: 1500, memoryBytes: 1 << 30)) }
        let plan = A.plan(A.Snapshot(now: 0, cards: cards, instances: busy, workloads: [], waiting: waiting))
        // card-1 takes one; two more of 1.5 cores need two 2-core cards.
        let r = try #require(plan.cardRequest)
        #expect(r.count == 2 && r.shape == Resources(cpuMillis: 2000, memoryBytes: 4 << 30))
        #expect(plan.idleCards.isEmpty)
        let quiet = A.plan(A.Snapshot(now: 0, cards: cards, instances: busy, workloads: []))
        #expect(quiet.cardRequest == nil && quiet.idleCards.map(\.card) == [Self.card(1)])
        // Larger than any card: said, with no count.
        let huge = A.plan(A.Snapshot(now: 0, cards: cards, instances: [], workloads: [], waiting: [A.Waiting(instance: "x-0", resources: Resources(cpuMillis: 9000, memoryBytes: 1 << 30))]))
        #expect(huge.cardRequest?.count == 0 && huge.cardRequest?.reason.contains("larger than any card") == true)
    }

    @Test("consolidation: an under-used card is emptied only when the rest absorbs its load, most expensive first")
    func consolidation() throws {
        let small = [instance("a-0", on: 0, cpu: 500, usageCPU: 400, forecastCPU: 400), instance("b-0", on: 1, cpu: 500, usageCPU: 400, forecastCPU: 400)]
        let plan = A.plan(A.Snapshot(now: 0, cards: [card(0, cost: 1), card(1, cost: 3)], instances: small, workloads: []))
        #expect(plan.consolidated == [Self.card(1)], "the expensive one is emptied")
        #expect(plan.moves.map(\.instance) == ["b-0"] && plan.moves.allSatisfy { $0.to == Self.card(0) && !$0.applied })
        // The rest cannot absorb it: card-0 is nearly full.
        let full = [instance("a-0", on: 0, cpu: 3800, usageCPU: 3400, forecastCPU: 3300), instance("b-0", on: 1, cpu: 500, usageCPU: 400, forecastCPU: 400)]
        let none = A.plan(A.Snapshot(now: 0, cards: [card(0, cost: 1), card(1, cost: 3)], instances: full, workloads: []))
        #expect(none.consolidated.isEmpty && none.moves.isEmpty)
    }

    @Test("consolidation never empties a card that takes another's instances in the same plan")
    func consolidationChain() {
        // Three under-used cards of one cost: A's instance goes to B (or C); that card is not emptied too.
        let three = [instance("a-0", on: 0, cpu: 500, usageCPU: 400, forecastCPU: 400), instance("b-0", on: 1, cpu: 500, usageCPU: 400, forecastCPU: 400),
                     instance("c-0", on: 2, cpu: 500, usageCPU: 400, forecastCPU: 400)]
        let plan = A.plan(A.Snapshot(now: 0, cards: [card(0), card(1), card(2)], instances: three, workloads: []))
        let targets = Set(plan.moves.map(\.to))
        #expect(!plan.consolidated.isEmpty)
        #expect(targets.isDisjoint(with: plan.consolidated), "\(plan.moves) \(plan.consolidated)")
    }

    @Test("properties on seeded random buses: deterministic whatever the order; never two moves of one instance; applied resizes never over-commit a card")
    func properties() {
        var rng = SplitMix64(seed: 2026)
        for _ in 0..<60 {
            let cards = (0..<UInt64(rng.next() % 5 + 1)).map { card($0, cpu: Int64(rng.next() % 6000 + 1000), memory: Int64(rng.next() % 8 + 1) << 30, cost: Double(rng.next() % 5)) }
            let instances = (0..<Int(rng.next() % 20)).map { k in
                instance("i-\(k)", on: rng.next() % UInt64(cards.count), workload: "default/w\(k % 4)", priority: Int(rng.next() % 3), mode: [.auto, .recommend, .off][Int(rng.next() % 3)],
                         cpu: Int64(rng.next() % 2000 + 10), memory: Int64(rng.next() % 1024 + 16) << 20,
                         usageCPU: Double(rng.next() % 2000), forecastCPU: rng.next() % 10 == 0 ? .nan : Double(rng.next() % 4000))
            }
            let workloads = (0..<4).map { k in
                A.Workload(key: "default/w\(k)", replicas: Int(rng.next() % 5), autoscale: k == 3 ? Autoscale(min: 0, max: 6) : nil, requestCPU: 500,
                           forecastCPU: Double(rng.next() % 5000), usageCPU: 0)
            }
            let waiting = (0..<Int(rng.next() % 4)).map { A.Waiting(instance: "p-\($0)", resources: Resources(cpuMillis: Int64(rng.next() % 3000 + 1), memoryBytes: 1 << 28)) }
            let s = A.Snapshot(now: 1000, cards: cards, instances: instances, workloads: workloads, waiting: waiting)
            let a = A.plan(s)
            let b = A.plan(A.Snapshot(now: 1000, cards: cards.reversed(), instances: instances.reversed(), workloads: workloads.reversed(), waiting: waiting.reversed()))
            #expect(a == b)
            #expect(Set(a.moves.map(\.instance)).count == a.moves.count, "one move per instance at most")
            #expect(Set(a.moves.map(\.to)).isDisjoint(with: a.consolidated), "an emptied card takes no moves")
            for c in cards {
                let mine = instances.filter { $0.sizing.card == c.id }.map(\.sizing)
                let before = mine.reduce(Resources()) { $0 + $1.current }
                let after = mine.reduce(Resources()) { sum, i in sum + (a.resizes.first { $0.instance == i.id && $0.applied }?.to ?? i.current) }
                #expect(after.cpuMillis <= max(c.capacity.cpuMillis, before.cpuMillis) && after.memoryBytes <= max(c.capacity.memoryBytes, before.memoryBytes))
            }
            for scale in a.scales { #expect((0...6).contains(scale.to)) }
        }
    }
}
