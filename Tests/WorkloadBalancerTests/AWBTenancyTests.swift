import BackplaneModel
import Testing
@testable import WorkloadBalancer

@Suite("AWB v2 tenancy, explain and scaling")
struct AWBTenancyTests {
    @Test("a tenant over its quota is refused before any card is looked at")
    func quota() {
        var engine = PlacementEngine(cards: [spec(1, cpu: 16000)], policy: awb)
        engine.quotas["team-a"] = TenantQuota(limit: Resources(cpuMillis: 3000, memoryBytes: 8 << 30), gpuMilli: 0)
        let r1 = engine.place(demand("a-0", cpu: 2000, tenant: "team-a"))
        #expect(r1.placement != nil)
        guard case .pending(let reason) = engine.place(demand("a-1", cpu: 2000, tenant: "team-a")) else { Issue.record("expected pending"); return }
        #expect(reason.binding == .quota)
        #expect(reason.description.hasPrefix("tenant quota exceeded (tenant team-a holds cpu 2"))
        let r2 = engine.place(demand("b-0", cpu: 2000, tenant: "team-b"))
        #expect(r2.placement != nil, "other tenants are not limited")
        #expect(engine.tenantUsage["team-a"]?.instances == 1)
        engine.remove(instanceID: "a-0")
        let r3 = engine.place(demand("a-1", cpu: 2000, tenant: "team-a"))
        #expect(r3.placement != nil)
    }

    @Test("DRF serves the tenant with the smallest dominant share first")
    func drf() {
        let capacity = Resources(cpuMillis: 10000, memoryBytes: 100 << 30)
        // a already holds 50 % of CPU; b holds 10 % of memory; c nothing.
        let usage: [String: TenantUsage] = ["a": TenantUsage(resources: Resources(cpuMillis: 5000)), "b": TenantUsage(resources: Resources(memoryBytes: 10 << 30))]
        let pending = [demand("a1-0", tenant: "a"), demand("a2-0", tenant: "a"), demand("b1-0", tenant: "b"), demand("c1-0", tenant: "c"),
                       demand("c2-0", priority: 900, tenant: "c")]
        let order = DominantResourceFairness.order(pending, usage: usage, capacity: capacity, gpuCapacityMilli: 0).map(\.instanceID)
        // c (0 %) high priority first, then c again (10 %) ties with b (10 %) → b by name, then c, then a.
        #expect(order == ["c2-0", "b1-0", "c1-0", "a1-0", "a2-0"])
        #expect(DominantResourceFairness.dominantShare(TenantUsage(resources: Resources(cpuMillis: 1000, memoryBytes: 50 << 30)), capacity, 0) == 0.5)
    }

    @Test("explain counts refusals per filter and class, and lists the top scores")
    func explain() {
        var engine = PlacementEngine(cards: [spec(1, gpus: 2), spec(2, gpus: 2), spec(3, gpus: 2, model: "P100"), spec(4, state: .draining)], policy: awb)
        let e = engine.explain(demand("x-0", gpus: 1, models: ["T4"]), top: 3)
        #expect(e.cards == 4 && e.feasibleCards == 2)
        #expect(e.refusedBy == [.gpuModel: 1, .notReady: 1])
        #expect(e.classes.count == 3)
        #expect(e.classes.first?.cards == 2 && e.classes.first?.refusals == [])
        #expect(e.top.map(\.card) == [cardID(1), cardID(2)])
        #expect(Set(e.top[0].breakdown.keys) == ["Fragmentation", "ModelScarcity", "GPUStranding", "BalancedAllocation"])
        #expect(e.decision.placement != nil)
        #expect(engine.instanceCount == 0, "explain commits nothing")
    }

    @Test("horizontal scaling: hysteresis band, bounded step up, stabilised scale down")
    func horizontal() {
        let h = HorizontalScaling(targetUtilisation: 0.5, tolerance: 0.1, minReplicas: 1, maxReplicas: 10, scaleDownWindow: .seconds(300), maxStepUp: 2)
        let now = Instant(nanoseconds: 1_000_000_000_000)
        #expect(h.recommend(current: 4, forecastLoad: 2.1, history: [], now: now) == 4, "inside the band")
        #expect(h.recommend(current: 4, forecastLoad: 4, history: [], now: now) == 6, "at most +2")
        #expect(h.recommend(current: 4, forecastLoad: 0.5, history: [(now + .seconds(-100), 4)], now: now) == 4, "window holds 4")
        #expect(h.recommend(current: 4, forecastLoad: 0.5, history: [(Instant(nanoseconds: 1), 4)], now: now) == 1, "window passed")
        #expect(h.recommend(current: 10, forecastLoad: 100, history: [], now: now) == 10, "max replicas")
    }

    @Test("vertical scaling resizes outside the band only; the churn budget keeps the best actions")
    func verticalAndChurn() {
        let v = VerticalScaling(headroom: 1.0, band: 0.1)
        let current = Resources(cpuMillis: 1000, memoryBytes: 1 << 30)
        #expect(v.recommend(current: current, forecast: Resources(cpuMillis: 1050, memoryBytes: 1 << 30)) == nil)
        #expect(v.recommend(current: current, forecast: Resources(cpuMillis: 1500, memoryBytes: 1 << 30))?.cpuMillis == 1500)
        let budget = ChurnBudget(maxActions: 2)
        let actions: [(ScalingAction, Double)] = [(.scale(workload: "a", from: 1, to: 2), 1), (.scale(workload: "b", from: 1, to: 2), 5), (.scale(workload: "c", from: 1, to: 2), 3)]
        #expect(budget.select(actions) == [.scale(workload: "b", from: 1, to: 2), .scale(workload: "c", from: 1, to: 2)])
    }

    @Test("consolidation empties the expensive card when the rest absorb it, within the move budget")
    func consolidation() {
        var engine = PlacementEngine(cards: [spec(1, cost: 10), spec(2, cost: 1), spec(3, cost: 1)], policy: AWBRegistry.policy(named: "spread")!)
        for k in 0..<3 { engine.place(demand("w-\(k)", cpu: 2000)) }
        let plan = engine.consolidationPlan(order: .mostExpensive, moveCost: 1, maxMoves: 5)
        #expect(plan.emptied.first == cardID(1))
        #expect(plan.moves.allSatisfy { if case .move(_, let from, _) = $0 { return plan.emptied.contains(from) } else { return false } })
        #expect(plan.netSavingPerHour > 0)
        #expect(engine.consolidationPlan(order: .mostExpensive, moveCost: 1, maxMoves: 0).moves.isEmpty)
    }
}
