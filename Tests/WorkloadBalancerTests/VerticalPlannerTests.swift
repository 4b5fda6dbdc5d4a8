import BackplaneModel
import Testing
@testable import WorkloadBalancer

@Suite("the allocator's in-place resize planner")
struct VerticalPlannerTests {
    typealias P = VerticalPlanner
    static let card = CardID(0x1_000000)
    static let big = [card: Resources(cpuMillis: 8000, memoryBytes: 16 << 30)]
    static let mib: Int64 = 1 << 20

    func instance(_ id: String, priority: Int = 0, mode: P.Mode = .auto, cpu: Int64 = 1000, memory: Int64 = 512 << 20,
                  usageCPU: Double = 500, usageMemory: Double = 200 * 1048576, forecastCPU: Double = 500, forecastMemory: Double = 200 * 1048576,
                  lastResized: Double? = nil) -> P.Instance {
        P.Instance(id: id, card: Self.card, priority: priority, mode: mode, current: Resources(cpuMillis: cpu, memoryBytes: memory),
                   usageCPU: usageCPU, usageMemory: usageMemory, forecastCPU: forecastCPU, forecastMemory: forecastMemory, lastResized: lastResized)
    }

    @Test("a forecast rise resizes up before usage gets there, with the numbers in the reason")
    func upBeforeTheRise() throws {
        // Using 0.9 cores of 1.0; the next minutes' p99 is 1.8 cores.
        let plan = P.plan([instance("web-0", usageCPU: 900, forecastCPU: 1800)], cards: Self.big, now: 0)
        let r = try #require(plan.first)
        #expect(r.applied && r.to.cpuMillis == 2070 && r.from.cpuMillis == 1000, "1.8 × 1.15 = 2.07 cores")
        #expect(r.reason.contains("cpu p99 forecast 1.8 cores") && r.reason.contains("→ 2.07"))
    }

    @Test("never below live usage: a low forecast does not take memory under the working set")
    func neverBelowUsage() throws {
        let plan = P.plan([instance("db-0", memory: 2048 << 20, usageMemory: 1500 * 1048576, forecastMemory: 100 * 1048576)], cards: Self.big, now: 0)
        let r = try #require(plan.first)
        #expect(r.to.memoryBytes >= Int64(1500 * 1.1 * 1048576), "working set × margin")
        #expect(r.to.memoryBytes < 2048 << 20)
    }

    @Test("hysteresis: a change within the band is not made; a decrease waits for the cool-down")
    func hysteresisAndCooldown() {
        // Wants 1.05 cores against 1.0: within 10 %.
        #expect(P.plan([instance("a-0", cpu: 1000, usageCPU: 100, forecastCPU: 913, forecastMemory: 400 * 1048576)], cards: Self.big, now: 0).allSatisfy { $0.to.cpuMillis == 1000 })
        // Wants far less, but was resized 60 s ago (cool-down 300 s): nothing; after it: down.
        let shrink = instance("b-0", cpu: 4000, memory: 512 << 20, usageCPU: 100, usageMemory: 400 * 1048576, forecastCPU: 200, forecastMemory: 400 * 1048576, lastResized: 1000)
        #expect(P.plan([shrink], cards: Self.big, now: 1060).isEmpty)
        let later = P.plan([shrink], cards: Self.big, now: 1400)
        #expect(later.first?.to.cpuMillis == 230 && later.first?.applied == true)
    }

    @Test("a full card: the higher priority grows into the room there is, the lower yields with the reason; a decrease's room is for the next plan")
    func priorityAndRoom() throws {
        let cards = [Self.card: Resources(cpuMillis: 4000, memoryBytes: 16 << 30)]
        let high = instance("high-0", priority: 10, cpu: 1000, forecastCPU: 2000)   // wants 2.3
        let low = instance("low-0", priority: 1, cpu: 1000, forecastCPU: 2000)      // wants 2.3
        let idle = instance("idle-0", cpu: 1500, usageCPU: 100, forecastCPU: 100)  // gives back 1.38 (to 0.12)
        // 4.0 − (1 + 1 + 1.5) = 0.5 free now. The idle one's decrease is not counted: the card
        // might refuse it. High grows into the 0.5 (to 1.5, said so); low gets nothing and waits.
        let plan = P.plan([high, low, idle], cards: cards, now: 0)
        let byID = Dictionary(uniqueKeysWithValues: plan.map { ($0.instance, $0) })
        #expect(byID["high-0"]?.applied == true && byID["high-0"]?.to.cpuMillis == 1500 && byID["high-0"]?.wanted?.cpuMillis == 2300)
        #expect(byID["high-0"]?.reason.contains("full") == true)
        #expect(byID["low-0"]?.applied == false && byID["low-0"]?.held?.contains("full") == true)
        #expect(byID["idle-0"]?.applied == true && byID["idle-0"]?.to.cpuMillis == 120)
        // Never over-committed, even if the decrease is refused: what is applied fits the card.
        let grown = plan.filter { $0.applied && $0.to.cpuMillis > $0.from.cpuMillis }
        let worst = [high, low, idle].reduce(Resources()) { sum, i in sum + (grown.first { $0.instance == i.id }?.to ?? i.current) }
        #expect(worst.cpuMillis <= 4000)
        // The next plan, with the decrease made: low grows into the room it freed.
        let after = P.plan([instance("high-0", priority: 10, cpu: 1500, forecastCPU: 2000), low, instance("idle-0", cpu: 120, usageCPU: 100, forecastCPU: 100)], cards: cards, now: 10)
        #expect(after.first { $0.instance == "low-0" }?.applied == true)
    }

    @Test("a card with no room left: the increase is held, with the reason")
    func heldWhenNoRoom() throws {
        let cards = [Self.card: Resources(cpuMillis: 2000, memoryBytes: 16 << 30)]
        let plan = P.plan([instance("a-0", cpu: 1000, forecastCPU: 2000), instance("b-0", cpu: 1000, usageCPU: 900, forecastCPU: 900)], cards: cards, now: 0)
        let a = try #require(plan.first { $0.instance == "a-0" })
        #expect(!a.applied && a.held?.contains("full") == true && a.to.cpuMillis == 2300)
    }

    @Test("throttling: CPU usage is censored at the limit, so a throttled instance grows by a step even when its usage and forecast do not ask for it")
    func throttledGrows() throws {
        var i = instance("t-0", cpu: 400, usageCPU: 380, forecastCPU: 370)
        i.throttled = 0.6
        let r = try #require(P.plan([i], cards: Self.big, now: 0).first)
        #expect(r.applied && r.to.cpuMillis == 600 && r.reason.contains("throttled in 60% of periods"))
        i.throttled = 0.02  // noise: below the 10 % threshold
        #expect(P.plan([i], cards: Self.big, now: 0).allSatisfy { $0.to.cpuMillis == 400 })
    }

    @Test("a decrease goes no lower than the next hour's forecast")
    func longHorizonFloor() throws {
        var i = instance("d-0", cpu: 2000, usageCPU: 100, forecastCPU: 100)
        i.longForecastCPU = 1500
        let r = try #require(P.plan([i], cards: Self.big, now: 0).first)
        #expect(r.to.cpuMillis == 1500)
        i.longForecastCPU = 1900  // within the band of 2.0: no change
        #expect(P.plan([i], cards: Self.big, now: 0).allSatisfy { $0.to.cpuMillis == 2000 })
    }

    @Test("the churn budget: at most N resizes applied, increases first; recommend mode is reported, never applied; off is left out")
    func churnAndModes() {
        var settings = P.Settings()
        settings.churn = 2
        let growing = (0..<3).map { instance("g-\($0)", priority: $0, forecastCPU: 2000) }
        let shrinking = instance("s-0", cpu: 4000, usageCPU: 10, forecastCPU: 10)
        let roomy = [Self.card: Resources(cpuMillis: 64000, memoryBytes: 64 << 30)]
        let plan = P.plan(growing + [shrinking, instance("r-0", mode: .recommend, forecastCPU: 3000), instance("o-0", mode: .off, forecastCPU: 3000)], cards: roomy, now: 0, settings: settings)
        #expect(plan.filter(\.applied).count == 2)
        #expect(Set(plan.filter(\.applied).map(\.instance)) == ["g-2", "g-1"], "the two highest-priority increases")
        #expect(plan.first { $0.instance == "r-0" }?.applied == false && plan.first { $0.instance == "r-0" }?.held == "vertical: recommend")
        #expect(!plan.contains { $0.instance == "o-0" })
        #expect(plan.first { $0.instance == "s-0" }?.held?.contains("churn") == true)
    }

    @Test("properties on seeded random buses: deterministic; applied increases never over-commit a card; hostile numbers stay in range")
    func properties() {
        var rng = SplitMix64(seed: 11)
        for _ in 0..<50 {
            let cards = (0..<3).map { CardID(UInt64(0x1_000000 + $0)) }
            var capacity: [CardID: Resources] = [:]
            for c in cards { capacity[c] = Resources(cpuMillis: Int64(rng.next() % 8000 + 1000), memoryBytes: Int64(rng.next() % 8 + 1) << 30) }
            let instances = (0..<Int(rng.next() % 12)).map { k -> P.Instance in
                func wild() -> Double { [Double.nan, -1, .infinity, 1e300][Int(rng.next() % 4)] }
                let hostile = rng.next() % 10 == 0
                return P.Instance(id: "i-\(k)", card: cards[Int(rng.next() % 3)], priority: Int(rng.next() % 5), mode: [.auto, .recommend, .off][Int(rng.next() % 3)],
                                  current: Resources(cpuMillis: Int64(rng.next() % 2000 + 10), memoryBytes: Int64(rng.next() % 2048 + 16) << 20),
                                  usageCPU: hostile ? wild() : Double(rng.next() % 2000), usageMemory: Double(rng.next() % 2048) * 1048576,
                                  forecastCPU: Double(rng.next() % 4000), forecastMemory: hostile ? wild() : Double(rng.next() % 4096) * 1048576,
                                  lastResized: rng.next() % 2 == 0 ? nil : Double(rng.next() % 600))
            }
            let a = P.plan(instances, cards: capacity, now: 600), b = P.plan(instances.reversed(), cards: capacity, now: 600)
            #expect(a == b, "the order of the input does not matter")
            for c in cards {
                let before = instances.filter { $0.card == c }.reduce(Resources()) { $0 + $1.current }
                let after = instances.filter { $0.card == c }.reduce(Resources()) { sum, i in sum + (a.first { $0.instance == i.id && $0.applied }?.to ?? i.current) }
                let cap = capacity[c]!
                #expect(after.cpuMillis <= max(cap.cpuMillis, before.cpuMillis) && after.memoryBytes <= max(cap.memoryBytes, before.memoryBytes), "card \(c)")
            }
            for r in a { #expect(r.to.cpuMillis > 0 && r.to.cpuMillis <= Resources.maximum.cpuMillis && r.to.memoryBytes > 0 && r.to.memoryBytes <= Resources.maximum.memoryBytes) }
        }
    }
}
