import BackplaneModel
import Testing
@testable import WorkloadBalancer

@Suite("AWB v2 engine")
struct AWBEngineTests {
    @Test("GPU shares pack on one device (sum ≤ 1000) and leave whole devices free")
    func sharesPack() {
        var engine = PlacementEngine(cards: [spec(1, gpus: 2)], policy: awb, expectedWorkload: [demand("w-0", gpus: 1), demand("s-0", gpus: 1, milli: 500)])
        let r1 = engine.place(demand("s-1", gpus: 1, milli: 500))
        #expect(r1.placement != nil)
        let r2 = engine.place(demand("s-2", gpus: 1, milli: 500))
        #expect(r2.placement != nil)
        #expect(engine.allocation(of: cardID(1))!.deviceFree.sorted() == [0, 1000])
        let r3 = engine.place(demand("w-1", gpus: 1))
        #expect(r3.placement?.gpuDevices.count == 1)
        #expect(engine.allocation(of: cardID(1))!.deviceFree == [0, 0])
        guard case .pending(let reason) = engine.place(demand("s-3", gpus: 1, milli: 100)) else { Issue.record("expected pending"); return }
        #expect(reason.binding == .gpu)
    }

    @Test("a draining card receives no new instances")
    func drainingCard() {
        var engine = PlacementEngine(cards: [spec(1), spec(2)], policy: awb)
        engine.cardStateChanged(cardID(1), to: .draining)
        for k in 0..<8 { let r4 = engine.place(demand("w-\(k)")); #expect(r4.placement?.card == cardID(2)) }
        guard case .pending(let reason) = engine.place(demand("w-9")) else { Issue.record("expected pending"); return }
        #expect(reason.binding == .cpu)
        #expect(reason.refusals[.notReady] == 1)
    }

    @Test("model constraints and labels are honoured")
    func constraints() {
        var engine = PlacementEngine(cards: [spec(1, gpus: 2, model: "T4"), spec(2, gpus: 2, model: "V100", labels: ["zone": "b"])], policy: awb)
        let r5 = engine.place(demand("a-0", gpus: 1, models: ["V100", "A100"]))
        #expect(r5.placement?.card == cardID(2))
        let r6 = engine.place(demand("b-0", labels: ["zone": "b"]))
        #expect(r6.placement?.card == cardID(2))
        guard case .pending(let reason) = engine.place(demand("c-0", gpus: 1, models: ["A100"])) else { Issue.record("expected pending"); return }
        #expect(reason.binding == .gpuModel)
        #expect(reason.refusals[.gpuModel] == 2)
    }

    @Test("the pending reason names the binding dimension with counts")
    func pendingReason() {
        // 3 GPU cards with one free GPU each but a 2-GPU request; 1 card of the wrong model; 1 CPU card.
        var cards = (1...3).map { spec($0, gpus: 2) }
        cards.append(spec(4, gpus: 2, model: "P100"))
        cards.append(spec(5, cpu: 500))
        var engine = PlacementEngine(cards: cards, policy: awb)
        for k in 1...3 { engine.commit(Placement(instanceID: "x-\(k)", card: cardID(UInt64(k)), gpuDevices: [0]), demand: demand("x-\(k)", gpus: 1)) }
        guard case .pending(let reason) = engine.place(demand("big-0", gpus: 2, models: ["T4"])) else { Issue.record("expected pending"); return }
        #expect(reason.binding == .gpu)
        #expect(reason.refusals == [.gpu: 4, .gpuModel: 1, .cpu: 1])
        #expect(reason.description == "insufficient gpu on 4 of 5 cards (requested 2 GPU (T4), largest free 1 GPU); GPU model constraint on 1; insufficient cpu on 1")
    }

    @Test("anti-affinity caps instances of a workload per card")
    func antiAffinity() {
        var engine = PlacementEngine(cards: [spec(1, cpu: 64000), spec(2, cpu: 64000)], policy: AWBRegistry.policy(named: "binpack")!)
        for k in 0..<4 { let r7 = engine.place(demand("web-\(k)", maxPerCard: 2)); #expect(r7.placement != nil) }
        #expect(engine.instances(on: cardID(1)).count == 2 && engine.instances(on: cardID(2)).count == 2)
        guard case .pending(let reason) = engine.place(demand("web-4", maxPerCard: 2)) else { Issue.record("expected pending"); return }
        #expect(reason.binding == .antiAffinity)
    }

    @Test("spread policy spreads, binpack packs")
    func policies() {
        var spread = PlacementEngine(cards: [spec(1), spec(2)], policy: AWBRegistry.policy(named: "spread")!)
        spread.place(demand("a-0"))
        spread.place(demand("a-1"))
        #expect(spread.instances(on: cardID(1)).count == 1)
        var pack = PlacementEngine(cards: [spec(1), spec(2)], policy: AWBRegistry.policy(named: "binpack")!)
        pack.place(demand("a-0"))
        pack.place(demand("a-1"))
        #expect(pack.instances(on: cardID(1)).count == 2 || pack.instances(on: cardID(2)).count == 2)
    }

    @Test("cost policy prefers the cheaper card")
    func costPolicy() {
        var engine = PlacementEngine(cards: [spec(1, cost: 3), spec(2, cost: 1)], policy: AWBRegistry.policy(named: "cost")!)
        let r8 = engine.place(demand("a-0"))
        #expect(r8.placement?.card == cardID(2))
    }

    @Test("removing an instance returns its resources and GPU share")
    func remove() {
        var engine = PlacementEngine(cards: [spec(1, gpus: 1)], policy: awb)
        engine.place(demand("s-0", gpus: 1, milli: 700))
        let r9 = engine.place(demand("s-1", gpus: 1, milli: 700))
        #expect(r9.placement == nil)
        let r10 = engine.remove(instanceID: "s-0")
        #expect(r10)
        #expect(engine.allocation(of: cardID(1))! == (Resources.zero, [1000]))
        let r11 = engine.place(demand("s-1", gpus: 1, milli: 700))
        #expect(r11.placement != nil)
    }

    /// Random buses (GPU models, shares, states) and requests, seeded; the seed is in every message.
    static func randomRun(seed: UInt64, policy: Policy) -> (PlacementEngine, [PlacementDecision]) {
        var rng = SplitMix64(seed: seed)
        let models = ["T4", "V100", "A10"]
        let cards = (0..<Int.random(in: 1...12, using: &rng)).map { i in
            spec(UInt64(i), cpu: Int64.random(in: 1...16, using: &rng) * 1000, memoryGi: Int64.random(in: 1...64, using: &rng),
                 gpus: [0, 1, 2, 4, 8].randomElement(using: &rng)!, model: models.randomElement(using: &rng)!,
                 state: Int.random(in: 0..<8, using: &rng) == 0 ? .draining : .ready)
        }
        let demands = (0..<Int.random(in: 1...80, using: &rng)).map { k in
            let kind = Int.random(in: 0..<4, using: &rng)
            return demand("w\(k % 7)-\(k)", cpu: Int64.random(in: 1...40, using: &rng) * 100, memoryGi: Int64.random(in: 0...8, using: &rng),
                          gpus: kind == 0 ? 0 : kind == 1 ? 1 : Int.random(in: 1...4, using: &rng),
                          milli: kind == 1 ? Int.random(in: 1...19, using: &rng) * 50 : 1000,
                          models: Int.random(in: 0..<4, using: &rng) == 0 ? [models.randomElement(using: &rng)!] : [],
                          priority: Int.random(in: 0...1000, using: &rng), maxPerCard: Int.random(in: 0..<5, using: &rng) == 0 ? 1 : nil)
        }
        var engine = PlacementEngine(cards: cards, policy: policy, expectedWorkload: demands, seed: seed)
        var decisions: [PlacementDecision] = []
        for d in demands {
            decisions.append(engine.place(d))
            if Int.random(in: 0..<10, using: &rng) == 0, let victim = engine.instance(d.instanceID) { engine.remove(instanceID: victim.demand.instanceID) }
        }
        return (engine, decisions)
    }

    @Test("never over-commits any dimension or GPU device, is deterministic, and pending means nothing fits (seeded)",
          arguments: ["awb", "spread", "cost", "fgd", "bestfit", "dotprod", "random"])
    func properties(policyName: String) {
        let policy = AWBRegistry.policy(named: policyName)!
        for seed in UInt64(1)...120 {
            let (engine, decisions) = Self.randomRun(seed: seed, policy: policy)
            if let breach = overCommitment(engine) { Issue.record("seed \(seed), \(policyName): \(breach)") }
            let (_, again) = Self.randomRun(seed: seed, policy: policy)
            #expect(decisions == again, "not deterministic: seed \(seed), \(policyName)")
            for case .place(let p) in decisions {
                let card = engine.cards.first { $0.id == p.card }!
                #expect(card.state == .ready, "placed on a \(card.state) card, seed \(seed)")
            }
        }
    }

    /// (class-log floor, best-heap floor): the defaults, logs dropped all the time, heaps rebuilt eagerly.
    static let cacheSettings = [(1 << 16, 64), (4, 64), (1 << 16, 0), (4, 0)]

    @Test("the best-class cache never changes a decision (seeded, openb-like shapes, removals; dropped logs, eager rebuilds)",
          arguments: cacheSettings.indices)
    func cacheIsTransparent(setting: Int) {
        let (logFloor, heapFloor) = Self.cacheSettings[setting]
        for seed in UInt64(1)...(setting == 0 ? 60 : 20) {
            var rng = SplitMix64(seed: seed)
            let cards = (0..<40).map { i in spec(UInt64(i), cpu: [8000, 32000, 96000].randomElement(using: &rng)!, memoryGi: 64, gpus: [0, 2, 8].randomElement(using: &rng)!,
                                                  model: ["T4", "G2"].randomElement(using: &rng)!) }
            let demands = (0..<400).map { k in
                demand("w-\(k)", cpu: [1000, 4000, 6000].randomElement(using: &rng)!, memoryGi: 4, gpus: [0, 1, 1, 2].randomElement(using: &rng)!,
                       milli: [1000, 470, 810, 230].randomElement(using: &rng)!)
            }.map { d -> InstanceDemand in var d = d; if d.gpu.count > 1 { d.gpu.milliPerDevice = 1000 }; return d }
            var cached = PlacementEngine(cards: cards, policy: awb, expectedWorkload: demands)
            cached.logFloor = logFloor
            cached.bestHeapFloor = heapFloor
            var plain = cached
            plain.useBestCache = false
            for (k, d) in demands.enumerated() {
                let a = cached.place(d), b = plain.place(d)
                #expect(a == b, "seed \(seed), request \(k)")
                if a != b { break }
                if k % 7 == 3 { cached.remove(instanceID: demands[k / 2].instanceID); plain.remove(instanceID: demands[k / 2].instanceID) }
            }
        }
    }

    @Test("demands differing only in priority share one shape unless a plugin of the policy reads priority")
    func priorityOnlyWhereRead() {
        let cards = [spec(1, cpu: 8000, memoryGi: 16), spec(2, cpu: 8000, memoryGi: 16)]
        var plain = PlacementEngine(cards: cards, policy: awb)
        _ = plain.decide(demand("a-0", cpu: 1000, priority: 100))
        _ = plain.decide(demand("a-1", cpu: 1000, priority: 900))
        #expect(plain.demandShapes.count == 1)
        var withPriority = awb
        withPriority.scorers.append(WeightedCardScorer(PriorityScore(), weight: 1))
        var aware = PlacementEngine(cards: cards, policy: withPriority)
        _ = aware.decide(demand("a-0", cpu: 1000, priority: 100))
        _ = aware.decide(demand("a-1", cpu: 1000, priority: 900))
        #expect(aware.demandShapes.count == 2)
        #expect(aware.demandShapes.map(\.priority) == [100, 900])
    }

    /// The pending reason by brute force: every card's state through every filter.
    static func naiveReason(_ engine: PlacementEngine, _ d: InstanceDemand) -> Unschedulable {
        let shape = engine.demandShape(d)
        var refusals: [Refusal: Int] = [:]
        var views: [CardStateView] = []
        for i in engine.cards.indices {
            let v = engine.classes[engine.cardClass[i]].view
            views.append(v)
            var seen: Set<Refusal> = []
            for f in engine.policy.filters { if let r = f.check(shape, on: v) { seen.insert(r); if r == .notReady { break } } }
            for r in seen { refusals[r, default: 0] += 1 }
        }
        let ready = refusals.filter { $0.key != .notReady }
        let binding = ready.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key ?? (refusals[.notReady] != nil ? .notReady : nil)
        var requested: String?, free: String?
        if let binding, let dim = PlacementEngine.dimension(binding) {
            requested = dim.format(dim.amount(d.resources))
            free = dim.format(views.filter { $0.state == .ready }.map { dim.amount($0.free) }.max() ?? 0)
        } else if binding == .gpu {
            requested = d.gpu.description
            free = PlacementEngine.formatGPU(views.filter { $0.state == .ready }
                .map { $0.devices.filter { allows(shape.modelMask, $0.model) }.reduce(0) { $0 + $1.free } }.max() ?? 0)
        }
        return Unschedulable(cards: engine.cards.count, refusals: refusals, binding: binding, requested: requested, largestFree: free)
    }

    @Test("pending reasons (cached per bus version, counted by class) equal a card-by-card scan (seeded)")
    func pendingReasonsMatchScan() {
        for seed in UInt64(1)...120 {
            var rng = SplitMix64(seed: seed ^ 0xBEEF)
            var (engine, _) = Self.randomRun(seed: seed, policy: awb)
            for k in 0..<6 {
                let d = demand("p-\(k)", cpu: Int64.random(in: 1...20, using: &rng) * 1000, memoryGi: Int64.random(in: 0...40, using: &rng),
                               gpus: Int.random(in: 0...3, using: &rng), models: Bool.random(using: &rng) ? ["T4"] : [])
                guard case .pending(let reason) = engine.decide(d) else { continue }
                #expect(reason == Self.naiveReason(engine, d), "seed \(seed), request \(k)")
                guard case .pending(let again) = engine.decide(d) else { Issue.record("seed \(seed): decision changed"); continue }
                #expect(again == reason, "seed \(seed): cached reason differs")
            }
        }
    }

    @Test("pending reasons follow the bus as instances come and go and cards change state (seeded; long and dropped change logs)",
          arguments: [1 << 16, 4])
    func pendingReasonsFollowTheBus(logFloor: Int) {
        var compared = 0
        for seed in UInt64(1)...60 {
            var rng = SplitMix64(seed: seed ^ 0xFEED)
            var (engine, _) = Self.randomRun(seed: seed, policy: awb)
            engine.logFloor = logFloor
            let probes = (0..<4).map { k in
                demand("probe-\(k)", cpu: Int64.random(in: 4...16, using: &rng) * 1000, memoryGi: Int64.random(in: 8...48, using: &rng),
                       gpus: Int.random(in: 0...4, using: &rng), models: k == 3 ? ["V100"] : [])
            }
            var placed: [String] = []
            for step in 0..<40 {
                switch Int.random(in: 0..<4, using: &rng) {
                case 0, 1:
                    let d = demand("s\(step)", cpu: Int64.random(in: 1...8, using: &rng) * 500, memoryGi: Int64.random(in: 0...8, using: &rng),
                                   gpus: Int.random(in: 0...1, using: &rng), milli: [250, 500, 1000].randomElement(using: &rng)!)
                    if case .place = engine.place(d) { placed.append(d.instanceID) }
                case 2:
                    if !placed.isEmpty { engine.remove(instanceID: placed.remove(at: Int.random(in: 0..<placed.count, using: &rng))) }
                default:
                    if let card = engine.cards.randomElement(using: &rng) {
                        engine.cardStateChanged(card.id, to: [.ready, .draining, .lost].randomElement(using: &rng)!)
                    }
                }
                for (k, p) in probes.enumerated() {
                    guard case .pending(let reason) = engine.decide(p) else { continue }
                    #expect(reason == Self.naiveReason(engine, p), "seed \(seed), step \(step), probe \(k)")
                    compared += 1
                }
            }
        }
        #expect(compared > 1000, "the probes should often be pending")
    }

    @Test("preemption evicts the fewest strictly lower-priority instances, never equal or higher (seeded)")
    func preemptionProperty() {
        for seed in UInt64(1)...150 {
            var (engine, _) = Self.randomRun(seed: seed, policy: awb)
            var rng = SplitMix64(seed: seed ^ 0xFEED)
            let preemptor = demand("vip-\(seed)", cpu: Int64.random(in: 1...12, using: &rng) * 1000, memoryGi: Int64.random(in: 0...16, using: &rng),
                                   gpus: Int.random(in: 0...2, using: &rng), priority: Int.random(in: 0...1000, using: &rng))
            guard case .pending = engine.decide(preemptor), let plan = engine.preemptionPlan(for: preemptor) else { continue }
            for v in plan.victims { #expect(v.demand.priority < preemptor.priority, "seed \(seed): victim priority \(v.demand.priority) ≥ \(preemptor.priority)") }
            // No smaller set on that card works: removing any one victim back breaks the fit.
            let r12 = engine.commitPreemption(plan, demand: preemptor)
            #expect(r12 != nil, "seed \(seed): plan does not make it fit")
            if let breach = overCommitment(engine) { Issue.record("seed \(seed): \(breach)") }
        }
    }

    @Test("preemption picks the single low-priority victim over two, and never touches equal priority")
    func preemptionChoice() {
        var engine = PlacementEngine(cards: [spec(1, cpu: 4000), spec(2, cpu: 4000)], policy: awb)
        engine.commit(Placement(instanceID: "a-1", card: cardID(1)), demand: demand("a-1", cpu: 2000, priority: 100))
        engine.commit(Placement(instanceID: "a-2", card: cardID(1)), demand: demand("a-2", cpu: 2000, priority: 100))
        engine.commit(Placement(instanceID: "b-1", card: cardID(2)), demand: demand("b-1", cpu: 3000, priority: 100))
        engine.commit(Placement(instanceID: "b-2", card: cardID(2)), demand: demand("b-2", cpu: 1000, priority: 900))
        let plan = engine.preemptionPlan(for: demand("vip-0", cpu: 3000, priority: 900))
        #expect(plan?.card == cardID(2))
        #expect(plan?.victims.map(\.demand.instanceID) == ["b-1"])
        #expect(engine.preemptionPlan(for: demand("peer-0", cpu: 3000, priority: 100)) == nil)
    }
}
