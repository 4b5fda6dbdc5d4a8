import BackplaneModel

extension PlacementEngine {
    // MARK: - Interning

    mutating func internModel(_ name: String) -> Int {
        if let id = modelIDs[name] { return id }
        let id = modelNames.count
        modelNames.append(name)
        modelIDs[name] = id
        return id
    }

    /// Bit mask of the allowed models (`.max` = any). Models past the 64th are never matched.
    func modelMask(_ allowed: [String]) -> UInt64 {
        guard !allowed.isEmpty else { return .max }
        var mask: UInt64 = 0
        for name in allowed { if let id = modelIDs[name], id < 64 { mask |= 1 << UInt64(id) } }
        return mask
    }

    mutating func internShape(_ spec: CardSpec) -> Int {
        let key = ShapeKey(state: spec.state, capacity: spec.capacity, models: spec.gpuModels.map { modelIDs[$0]! },
                           labels: spec.labels, costPerHour: spec.costPerHour)
        if let id = shapeIDs[key] { return id }
        shapeIDs[key] = shapes.count
        shapes.append(key)
        return shapes.count - 1
    }

    /// The demand as the plugins see it. Its priority is kept only when some plugin of the policy
    /// reads it: otherwise demands differing only in priority are one shape (one row of verdicts).
    func demandShape(_ demand: InstanceDemand) -> DemandShape {
        DemandShape(resources: demand.resources, gpuCount: demand.gpu.count, gpuMilli: demand.gpu.milliPerDevice,
                    modelMask: modelMask(demand.gpu.allowedModels), requiredLabels: demand.requiredLabels,
                    priority: policyReadsPriority ? demand.priority : 0)
    }

    mutating func internDemand(_ demand: InstanceDemand) -> Int {
        let shape = demandShape(demand)
        if let id = demandIDs[shape] { return id }
        let id = demandShapes.count
        demandIDs[shape] = id
        demandShapes.append(shape)
        bestCache.append(nil)
        verdictTable.append([])
        refusalCounts.append(nil)
        return id
    }

    static func buildMix(_ demands: [InstanceDemand], settings: Policy.Fragmentation, mask: ([String]) -> UInt64) -> WorkloadMix {
        struct Key: Hashable, Comparable {
            var cpu: Int64, milli: Int, count: Int, models: [String]
            static func < (a: Key, b: Key) -> Bool {
                (a.cpu, a.milli, a.count, a.models.joined(separator: "|")) < (b.cpu, b.milli, b.count, b.models.joined(separator: "|"))
            }
        }
        var counts: [Key: (n: Int, memory: Int64)] = [:]
        for d in demands {
            let key = Key(cpu: d.resources.cpuMillis, milli: d.gpu.milliPerDevice, count: d.gpu.count, models: d.gpu.allowedModels)
            let old = counts[key] ?? (0, 0)
            counts[key] = (old.n + 1, old.memory.saturatingAdd(d.resources.memoryBytes))
        }
        // Heaviest first (ties: larger shape first, as the artifact's reverse sort).
        func weight(_ key: Key, _ n: Int) -> Double { settings.gpuWeighted ? Double(n * key.milli * key.count) : Double(n) }
        let sorted = counts.sorted {
            let a = weight($0.key, $0.value.n), b = weight($1.key, $1.value.n)
            return a != b ? a > b : $1.key < $0.key
        }
        let total = counts.reduce(0.0) { $0 + weight($1.key, $1.value.n) }
        var chosen: [(Key, Double, Int64)] = []
        var covered = 0.0
        for (key, value) in sorted {
            if covered >= settings.coverage * total { break }
            let w = weight(key, value.n)
            if w == 0 { continue }
            chosen.append((key, w, value.memory / Int64(value.n)))
            covered += w
        }
        let entries = chosen.map { key, w, memory in
            WorkloadMix.Entry(cpuMillis: key.cpu, memoryBytes: memory, gpuCount: key.count, gpuMilli: key.milli,
                              modelMask: mask(key.models), weight: w / max(covered, 1e-9))
        }
        return WorkloadMix(entries: entries, memoryAware: settings.memoryAware, cpuShapesCountIdle: settings.cpuShapesCountIdle)
    }

    /// pressure(M) = Σ over restricted mix shapes e allowing M of wₑ·gpuₑ / capacity(models of e),
    /// divided by the bus average Σₑ wₑ·gpuₑ / capacity(all). Shapes open to any model add nothing.
    static func pressure(_ mix: WorkloadMix, cards: [CardSpec], models: [String: Int]) -> [Double] {
        var capacity = [Double](repeating: 0, count: models.count)
        for card in cards where card.state == .ready { for m in card.gpuModels { capacity[models[m]!] += Double(milliGPUPerDevice) } }
        let total = capacity.reduce(0, +)
        let average = mix.entries.reduce(0.0) { $0 + $1.weight * Double($1.gpuCount.saturatingMultiply($1.gpuMilli)) } / max(total, 1)
        var pressure = [Double](repeating: 0, count: models.count)
        guard average > 0 else { return pressure }
        for e in mix.entries where e.gpuCount > 0 && e.modelMask != .max {
            let allowed = capacity.indices.filter { allows(e.modelMask, $0) }
            let cap = allowed.reduce(0.0) { $0 + capacity[$1] }
            guard cap > 0 else { continue }
            for m in allowed { pressure[m] += e.weight * Double(e.gpuCount.saturatingMultiply(e.gpuMilli)) / cap / average }
        }
        return pressure
    }

    // MARK: - Classes

    func classKey(_ i: Int) -> ClassKey {
        let shape = shapes[cardShape[i]]
        var devices: [DeviceSlot] = []
        devices.reserveCapacity(shape.models.count)
        for (k, model) in shape.models.enumerated() { devices.append(DeviceSlot(model: model, free: deviceFree[i][k])) }
        devices.sort()
        return ClassKey(shape: cardShape[i], free: shape.capacity - allocated[i], devices: devices)
    }

    /// Moves card `i` to the class of its current state.
    mutating func reclass(_ i: Int) {
        busVersion += 1
        let key = classKey(i)
        let old = cardClass[i]
        if old >= 0, classes[old].key == key { return }
        if old >= 0 {
            let pos = posInClass[i]
            let last = classes[old].members.removeLast()
            if last != i {
                classes[old].members[pos] = last
                posInClass[last] = pos
            }
            slotSize[old] -= 1
            sizeChanged(old)
            if classes[old].members.isEmpty {
                classByKey[classes[old].key] = nil
                classes[old].serial = -1
                slotSerial[old] = -1
                freeClassSlots.append(old)
            }
        }
        let slot = classByKey[key] ?? createClass(key)
        cardClass[i] = slot
        posInClass[i] = classes[slot].members.count
        classes[slot].members.append(i)
        slotSize[slot] += 1
        sizeChanged(slot)
    }

    mutating func createClass(_ key: ClassKey) -> Int {
        let shape = shapes[key.shape]
        var view = CardStateView(state: shape.state, capacity: shape.capacity, free: key.free, devices: key.devices,
                                 labels: shape.labels, costPerHour: shape.costPerHour, fragmentation: 0, modelPressure: modelPressure)
        if let mix { view.fragmentation = mix.fragmentation(free: view.free, devices: view.devices) }
        let serial = nextSerial
        nextSerial += 1
        let made = CardClass(serial: serial, key: key, members: [], view: view)
        let slot: Int
        if let free = freeClassSlots.popLast() {
            slot = free
            classes[slot] = made
            slotSerial[slot] = serial
            slotSize[slot] = 0
            slotReady[slot] = view.state == .ready
            slotFree[slot] = view.free
            slotIdleGPU[slot] = view.idleGPUMilli
        } else {
            slot = classes.count
            classes.append(made)
            slotSerial.append(serial)
            slotSize.append(0)
            slotReady.append(view.state == .ready)
            slotFree.append(view.free)
            slotIdleGPU.append(view.idleGPUMilli)
        }
        classByKey[key] = slot
        createdLog.append((slot, serial), limit: logLimit)
        if largest.tracking {
            if largest.overgrown(liveClasses: classByKey.count) {
                largest = LargestFree()  // not tracking: the next pending reason rebuilds it
            } else if view.state == .ready {
                largest.classCreated(slot: slot, serial: serial, free: view.free, idleGPU: view.idleGPUMilli)
            }
        }
        return slot
    }

    // MARK: - Verdicts (cached per class and demand shape)

    @inline(__always)
    mutating func verdict(_ slot: Int, _ t: Int) -> Verdict {
        let serial = slotSerial[slot]
        if slot < verdictTable[t].count {
            let v = verdictTable[t][slot]
            if v.serial == serial { return v }
        } else {
            verdictTable[t].append(contentsOf: repeatElement(.unknown, count: classes.count - verdictTable[t].count))
        }
        var v = Self.evaluate(classes[slot].view, demandShapes[t], filters: policy.filters, scorers: policy.scorers, mix: mix,
                              allOptions: policy.deviceSelection == .byScore)
        v.serial = serial
        verdictTable[t][slot] = v
        return v
    }

    func evaluate(_ view: CardStateView, _ shape: DemandShape) -> Verdict {
        Self.evaluate(view, shape, filters: policy.filters, scorers: policy.scorers, mix: mix, allOptions: policy.deviceSelection == .byScore)
    }

    /// Static so the option loop captures only what it needs (never a copy of the engine).
    static func evaluate(_ view: CardStateView, _ shape: DemandShape, filters: [any CardFilter], scorers: [WeightedCardScorer],
                         mix: WorkloadMix?, allOptions: Bool) -> Verdict {
        var refusals: UInt16 = 0
        for filter in filters {
            if let r = filter.check(shape, on: view) {
                refusals |= r.bit
                if r == .notReady { break }
            }
        }
        guard refusals == 0 else { return Verdict(refusals: refusals, serial: .min, choiceModel: -1, choiceFree: -1, score: -.infinity) }
        var best = Verdict(refusals: 0, serial: .min, choiceModel: -1, choiceFree: -1, score: -.infinity)
        var found = false
        forEachDeviceOption(view, shape) { model, free in
            var after = applied(view, shape, model: model, free: free)
            if let mix { after.fragmentation = mix.fragmentation(free: after.free, devices: after.devices) }
            var score = 0.0
            for s in scorers { score += s.weight * s.scorer.score(shape, before: view, after: after) }
            if !found || score > best.score {
                found = true
                best.score = score
                best.choiceModel = model
                best.choiceFree = free
            }
            return allOptions
        }
        return best
    }

    /// Calls `body(model, free)` per distinct device choice, best fit first; `free == -1` means
    /// "the `count` fullest fitting devices of `model`". No GPU: one call with (-1, -1).
    /// `body` returns false to stop.
    static func forEachDeviceOption(_ view: CardStateView, _ shape: DemandShape, _ body: (Int, Int) -> Bool) {
        guard shape.gpuCount > 0 else { _ = body(-1, -1); return }
        // Devices are sorted by (model, free): for each model, candidates come fullest first.
        var previous: DeviceSlot?
        if shape.gpuCount == 1 {
            for d in view.devices where d.free >= shape.gpuMilli && allows(shape.modelMask, d.model) && d != previous {
                previous = d
                if !body(d.model, d.free) { return }
            }
            return
        }
        var k = 0
        while k < view.devices.count {
            let model = view.devices[k].model
            var n = 0
            while k < view.devices.count && view.devices[k].model == model {
                if view.devices[k].free >= shape.gpuMilli { n += 1 }
                k += 1
            }
            if n >= shape.gpuCount && allows(shape.modelMask, model) { if !body(model, -1) { return } }
        }
    }

    /// The state after placing `shape` with a device choice.
    static func applied(_ view: CardStateView, _ shape: DemandShape, model: Int, free: Int) -> CardStateView {
        var after = view
        after.free = view.free - shape.resources
        guard shape.gpuCount > 0 else { return after }
        if free >= 0 {
            if let k = after.devices.firstIndex(of: DeviceSlot(model: model, free: free)) { after.devices[k].free -= shape.gpuMilli }
        } else {
            var left = shape.gpuCount
            for k in after.devices.indices where left > 0 && after.devices[k].model == model && after.devices[k].free >= shape.gpuMilli {
                after.devices[k].free -= shape.gpuMilli
                left -= 1
            }
        }
        after.devices.sort()
        return after
    }

    // MARK: - Selection

    /// The best class for shape `t`: the top of its heap once the classes created since its last
    /// decision are pushed (see `BestCache`).
    mutating func cachedBest(_ t: Int) -> (slot: Int, verdict: Verdict)? {
        var cache: BestCache
        if let position = bestCache[t]?.logPosition, let size = bestCache[t]?.heap.items.count,
           let created = createdLog.entries(since: position), created.count <= slotSerial.count,
           size <= 2 * classByKey.count + bestHeapFloor {
            cache = bestCache[t]!
            bestCache[t] = nil  // `cache` is the sole owner: the heap changes in place, not as a copy
            for (slot, serial) in created {
                guard slotSerial[slot] == serial else { continue }
                let v = verdict(slot, t)
                guard v.refusals == 0 else { continue }
                cache.heap.push(BestCache.Entry(slot: slot, serial: serial, score: v.score))
            }
            cache.logPosition = createdLog.end
        } else {
            cache = fullBestHeap(t)
        }
        while let top = cache.heap.min, slotSerial[top.slot] != top.serial { _ = cache.heap.pop() }
        let top = cache.heap.min
        bestCache[t] = cache
        return top.map { ($0.slot, verdict($0.slot, t)) }
    }

    /// Every live class that shape `t` fits, as a heap.
    mutating func fullBestHeap(_ t: Int) -> BestCache {
        var entries: [BestCache.Entry] = []
        for slot in 0..<slotSerial.count where slotSize[slot] > 0 {
            let v = verdict(slot, t)
            guard v.refusals == 0 else { continue }
            entries.append(BestCache.Entry(slot: slot, serial: slotSerial[slot], score: v.score))
        }
        return BestCache(heap: MinHeap(entries), logPosition: createdLog.end)
    }

    mutating func scanBest(_ t: Int, excluded: Set<Int>) -> (slot: Int, verdict: Verdict)? {
        var best: (slot: Int, serial: Int, verdict: Verdict)?
        for slot in 0..<slotSerial.count where slotSize[slot] > 0 && (excluded.isEmpty || !excluded.contains(slot)) {
            let v = verdict(slot, t)
            guard v.refusals == 0 else { continue }
            let serial = slotSerial[slot]
            if best == nil || v.score > best!.verdict.score || (v.score == best!.verdict.score && serial < best!.serial) {
                best = (slot, serial, v)
            }
        }
        return best.map { ($0.slot, $0.verdict) }
    }

    /// Highest score with ties broken uniformly over the tied cards, or (uniformRandom) any
    /// feasible card uniformly.
    mutating func scanRandom(_ t: Int, excluded: Set<Int>) -> (slot: Int, verdict: Verdict)? {
        var chosen: (slot: Int, verdict: Verdict)?
        var weight: UInt64 = 0
        let uniform = policy.selection == .uniformRandom
        for slot in 0..<slotSerial.count where slotSize[slot] > 0 && (excluded.isEmpty || !excluded.contains(slot)) {
            let v = verdict(slot, t)
            guard v.refusals == 0 else { continue }
            let m = UInt64(slotSize[slot])
            if !uniform, let c = chosen, v.score < c.verdict.score { continue }
            if !uniform, let c = chosen, v.score > c.verdict.score { weight = 0 }
            weight += m
            if rng.next() % weight < m { chosen = (slot, v) }
        }
        return chosen
    }

    /// A card of the class that the per-card filters (anti-affinity) allow.
    mutating func chooseMember(_ slot: Int, demand: InstanceDemand) -> Int? {
        let members = classes[slot].members
        if policy.selection != .best {
            let start = Int(rng.next() % UInt64(members.count))
            for k in 0..<members.count {
                let card = members[(start + k) % members.count]
                if allowsAntiAffinity(demand, card) { return card }
            }
            return nil
        }
        for card in members.reversed() where allowsAntiAffinity(demand, card) { return card }
        return nil
    }

    func allowsAntiAffinity(_ demand: InstanceDemand, _ card: Int) -> Bool {
        guard demand.maxInstancesPerCard != nil else { return true }
        return AntiAffinityFilter().allows(demand, instancesOfWorkloadOnCard: workloadCounts[WorkloadOnCard(workload: demand.workload, card: card)] ?? 0)
    }

    /// The card's device indexes for the class-level choice.
    mutating func chooseDevices(card i: Int, shape: DemandShape, verdict: Verdict) -> [Int] {
        guard shape.gpuCount > 0 else { return [] }
        let models = shapes[cardShape[i]].models
        let free = deviceFree[i]
        if shape.gpuCount == 1 {
            if policy.deviceSelection == .random {
                let fitting = free.indices.filter { free[$0] >= shape.gpuMilli && allows(shape.modelMask, models[$0]) }
                return [fitting[Int(rng.next() % UInt64(fitting.count))]]
            }
            return [free.indices.first { models[$0] == verdict.choiceModel && free[$0] == verdict.choiceFree }!]
        }
        let fitting = free.indices.filter { models[$0] == verdict.choiceModel && free[$0] >= shape.gpuMilli }
            .sorted { (free[$0], $0) < (free[$1], $1) }
        return Array(fitting.prefix(shape.gpuCount))
    }
}
