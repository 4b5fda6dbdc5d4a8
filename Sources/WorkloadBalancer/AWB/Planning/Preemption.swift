import BackplaneModel

/// Instances to evict from one card so that a higher-priority instance fits there.
public struct PreemptionPlan: Hashable, Sendable {
    public var card: CardID
    /// Every victim has a strictly lower priority than the preemptor.
    public var victims: [PlacedInstanceInfo]
}

extension PlacementEngine {
    /// When `demand` fits nowhere: the smallest set of strictly lower-priority instances on one
    /// card whose eviction makes it fit (ties: lowest highest victim priority, then lowest
    /// priority sum, then the card first on the bus). Never picks equal or higher priority.
    /// Exact for up to `exactUpTo` victims per card; beyond, greedy (lowest priority, largest first) then pruned.
    public func preemptionPlan(for demand: InstanceDemand, maxVictims: Int = 16, exactUpTo: Int = 3) -> PreemptionPlan? {
        let shape = demandShape(demand)
        var best: (count: Int, maxPriority: Int, sumPriority: Int, card: Int, victims: [Int])?
        for i in cards.indices where cards[i].state == .ready {
            let key = shapes[cardShape[i]]
            // Would it fit on the card if it were empty? (labels, model, capacity)
            var empty = classes[cardClass[i]].view
            empty.free = key.capacity
            empty.devices = key.models.map { DeviceSlot(model: $0, free: milliGPUPerDevice) }.sorted()
            guard policy.filters.allSatisfy({ $0.check(shape, on: empty) == nil }), allowsAntiAffinity(demand, i) else { continue }
            let candidates = cardInstances[i].filter { instances[$0]!.demand.priority < demand.priority }
                .sorted { (instances[$0]!.demand.priority, -instances[$0]!.demand.resources.cpuMillis, $0) < (instances[$1]!.demand.priority, -instances[$1]!.demand.resources.cpuMillis, $1) }
            guard !candidates.isEmpty, fits(shape, onCard: i, without: candidates) else { continue }
            guard let victims = smallestVictimSet(shape, card: i, candidates: candidates, maxVictims: maxVictims, exactUpTo: exactUpTo) else { continue }
            let priorities = victims.map { instances[$0]!.demand.priority }
            let rank = (victims.count, priorities.max() ?? 0, priorities.reduce(0, +), i)
            if best == nil || rank < (best!.count, best!.maxPriority, best!.sumPriority, best!.card) {
                best = (rank.0, rank.1, rank.2, rank.3, victims)
            }
        }
        guard let best else { return nil }
        return PreemptionPlan(card: cards[best.card].id, victims: best.victims.map { slot in
            let p = instances[slot]!
            return PlacedInstanceInfo(demand: p.demand, card: cards[best.card].id, gpuDevices: p.devices)
        })
    }

    /// Evicts the plan's victims and places `demand` on the plan's card.
    public mutating func commitPreemption(_ plan: PreemptionPlan, demand: InstanceDemand) -> Placement? {
        guard let i = cardIndex[plan.card] else { return nil }
        for v in plan.victims { remove(instanceID: v.demand.instanceID) }
        let t = internDemand(demand)
        let v = verdict(cardClass[i], t)
        guard v.refusals == 0 else { return nil }
        let placement = Placement(instanceID: demand.instanceID, card: plan.card, gpuDevices: chooseDevices(card: i, shape: demandShapes[t], verdict: v), score: v.score)
        commit(placement, demand: demand)
        return placement
    }

    func smallestVictimSet(_ shape: DemandShape, card i: Int, candidates: [Int], maxVictims: Int, exactUpTo: Int) -> [Int]? {
        var best: [Int]?
        func better(_ a: [Int], _ b: [Int]?) -> Bool {
            guard let b else { return true }
            let pa = a.map { instances[$0]!.demand.priority }, pb = b.map { instances[$0]!.demand.priority }
            return (pa.max()!, pa.reduce(0, +)) < (pb.max()!, pb.reduce(0, +))
        }
        // Exact: all sets of size k, k = 1…exactUpTo (bounded by a combination budget).
        for k in 1...min(exactUpTo, candidates.count) {
            var budget = 20_000
            var chosen: [Int] = []
            func search(_ start: Int) {
                guard budget > 0 else { return }
                if chosen.count == k {
                    budget -= 1
                    if fits(shape, onCard: i, without: chosen.map { candidates[$0] }) {
                        let set = chosen.map { candidates[$0] }
                        if better(set, best) { best = set }
                    }
                    return
                }
                guard start < candidates.count else { return }
                for j in start..<candidates.count {
                    chosen.append(j)
                    search(j + 1)
                    chosen.removeLast()
                }
            }
            search(0)
            if best != nil { return best }
        }
        // Greedy: take victims in order until it fits, then drop any not needed.
        var set: [Int] = []
        for c in candidates {
            set.append(c)
            if fits(shape, onCard: i, without: set) { break }
        }
        guard fits(shape, onCard: i, without: set) else { return nil }
        for c in set.reversed() where set.count > 1 {
            let smaller = set.filter { $0 != c }
            if fits(shape, onCard: i, without: smaller) { set = smaller }
        }
        return set.count <= maxVictims ? set : nil
    }

    /// Would the shape fit on card `i` once the instances in `without` are gone (per device for GPUs)?
    func fits(_ shape: DemandShape, onCard i: Int, without: [Int]) -> Bool {
        var free = shapes[cardShape[i]].capacity - allocated[i]
        var devices = deviceFree[i]
        for slot in without {
            let p = instances[slot]!
            free = free + p.demand.resources
            for d in p.devices { devices[d] += p.demand.gpu.milliPerDevice }
        }
        var view = classes[cardClass[i]].view
        view.free = free
        view.devices = zip(shapes[cardShape[i]].models, devices).map { DeviceSlot(model: $0, free: $1) }.sorted()
        return policy.filters.allSatisfy { $0.check(shape, on: view) == nil }
    }
}
