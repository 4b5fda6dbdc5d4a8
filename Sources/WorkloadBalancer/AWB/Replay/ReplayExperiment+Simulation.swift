import BackplaneModel

extension ReplayExperiment {
    /// The simulation state; `ReplayExperiment.run` is its only user.
    struct Simulation {
        struct PendingEntry {
            var task: Int
            var remaining: Int
            /// When it (re)joined the queue.
            var since: Int64
            /// false: an evicted instance waiting to restart.
            var firstStart: Bool
        }
        struct Queue {
            var items: [PendingEntry] = []
            var head = 0
            /// Entries with instances left.
            var live = 0
        }
        struct Departure: Comparable {
            var time: Int64
            var slot: Int
            var generation: Int
            static func < (a: Departure, b: Departure) -> Bool { (a.time, a.slot) < (b.time, b.slot) }
        }
        struct TenantKey: Comparable {
            var share: Double
            var tenant: Int
            static func < (a: TenantKey, b: TenantKey) -> Bool { (a.share, a.tenant) < (b.share, b.tenant) }
        }
        struct ShapeKey: Hashable {
            var level: Int
            var resources: Resources
            var gpu: GPURequest
        }
        struct PreemptStamp: Equatable {
            var freeGeneration: Int
            var lowerPlacements: Int
        }

        let tasks: [ReplayTask]
        let policy: Policy
        let seed: UInt64
        let options: Options
        var engine: PlacementEngine
        let cardCount: Int

        // Per task.
        var taskShape: [Int] = []
        var taskLevel: [Int] = []
        var taskTenant: [Int] = []
        var taskInstances: [Int] = []
        var startedInstances: [Int] = []
        // Per shape (level, resources, GPU request).
        var shapeFits: [Bool] = []
        var failedFit: [Int] = []
        var failedPreempt: [PreemptStamp?] = []
        // Levels (priorities, highest first) and tenants.
        var levels: [Int] = []
        var tenantCount = 0
        var queues: [[Queue]] = []
        var active: [[Int]] = []
        var isActive: [[Bool]] = []
        var cursor: [Int] = []
        var cursorStamp: [Int] = []
        var passStamp = 0
        var heldCPU: [Int64] = []
        var heldMemory: [Int64] = []
        var heldGPU: [Int64] = []
        var runningAtLevel: [Int] = []
        var placementsAtLevel: [Int] = []
        // Running instances by slot (the engine's instance id is "r<slot>").
        var runTask: [Int] = []
        var runGeneration: [Int] = []
        var freeSlots: [Int] = []
        var departures = MinHeap<Departure>()
        /// Bumped whenever resources are freed (a departure or an eviction).
        var freeGeneration = 0

        // Totals.
        let cpuCapacity: Int64, memoryCapacity: Int64, gpuCapacity: Int64
        var cpuAllocated: Int64 = 0, memoryAllocated: Int64 = 0
        var running = 0, pending = 0
        var placements = 0, preemptions = 0, decisions = 0, preemptionPlans = 0
        var placedInstances = 0, unplaceableInstances = 0, unplaceableTasks = 0, fullyStartedTasks = 0, droppedInstances = 0
        var pendingTime = SecondsHistogram(), taskPendingTime = SecondsHistogram(), requeuedPendingTime = SecondsHistogram()

        init(cards: [CardSpec], tasks: [ReplayTask], policy: Policy, seed: UInt64, options: Options) {
            self.tasks = tasks
            self.policy = policy
            self.seed = seed
            self.options = options
            cardCount = cards.count
            engine = PlacementEngine(cards: cards, policy: policy, expectedWorkload: tasks.enumerated().map { $1.demand(instanceID: "expected-\($0)") },
                                     seed: seed)
            let ready = cards.filter { $0.state == .ready }
            cpuCapacity = ready.reduce(0) { $0 + $1.capacity.cpuMillis }
            memoryCapacity = ready.reduce(0) { $0 + $1.capacity.memoryBytes }
            gpuCapacity = Int64(ready.reduce(0) { $0 + $1.gpuModels.count * milliGPUPerDevice })

            levels = Set(tasks.map(\.priority)).sorted(by: >)
            let levelOf = Dictionary(uniqueKeysWithValues: levels.enumerated().map { ($1, $0) })
            var tenantIDs: [String: Int] = [:]
            var shapeIDs: [ShapeKey: Int] = [:]
            for task in tasks {
                let level = levelOf[task.priority]!
                let key = ShapeKey(level: level, resources: task.resources, gpu: task.gpu)
                let shape: Int
                if let id = shapeIDs[key] { shape = id } else {
                    shape = shapeFits.count
                    shapeIDs[key] = shape
                    shapeFits.append(engine.fitsSomeEmptyCard(task.demand(instanceID: "probe")))
                }
                let tenant: Int
                if let id = tenantIDs[task.tenant] { tenant = id } else { tenant = tenantIDs.count; tenantIDs[task.tenant] = tenant }
                let n = min(max(task.instances, 0), options.maxInstancesPerTask.map { max($0, 1) } ?? .max)
                droppedInstances += max(task.instances, 0) - n
                taskShape.append(shape)
                taskLevel.append(level)
                taskTenant.append(tenant)
                taskInstances.append(n)
            }
            startedInstances = Array(repeating: 0, count: tasks.count)
            failedFit = Array(repeating: -1, count: shapeFits.count)
            failedPreempt = Array(repeating: nil, count: shapeFits.count)
            tenantCount = tenantIDs.count
            queues = Array(repeating: Array(repeating: Queue(), count: tenantCount), count: levels.count)
            active = Array(repeating: [], count: levels.count)
            isActive = Array(repeating: Array(repeating: false, count: tenantCount), count: levels.count)
            cursor = Array(repeating: 0, count: tenantCount)
            cursorStamp = Array(repeating: -1, count: tenantCount)
            heldCPU = Array(repeating: 0, count: tenantCount)
            heldMemory = heldCPU
            heldGPU = heldCPU
            runningAtLevel = Array(repeating: 0, count: levels.count)
            placementsAtLevel = runningAtLevel
        }

        var utilisation: Utilisation {
            Utilisation(cpu: cpuCapacity > 0 ? Double(cpuAllocated) / Double(cpuCapacity) : 0,
                        memory: memoryCapacity > 0 ? Double(memoryAllocated) / Double(memoryCapacity) : 0,
                        gpu: gpuCapacity > 0 ? Double(engine.gpuAllocatedMilli) / Double(gpuCapacity) : 0)
        }

        mutating func run(progress: ((Progress) -> Void)?) -> Result {
            let order = tasks.indices.sorted { (tasks[$0].createTime, $0) < (tasks[$1].createTime, $1) }
            let startTime = order.first.map { tasks[$0].createTime } ?? 0
            let span = Self.lastDeparture(tasks) - startTime
            let interval = max(options.sampleInterval ?? (span + 99) / 100, 1)
            var samples: [Sample] = []
            var nextSample = startTime
            var area = (cpu: 0.0, memory: 0.0, gpu: 0.0)
            var peak = Utilisation(cpu: 0, memory: 0, gpu: 0)
            var now = startTime
            var arrived = 0, events = 0, lastReport = 0
            func report(_ sim: Simulation, _ time: Int64) {
                progress?(Progress(time: time, arrivedTasks: arrived, totalTasks: sim.tasks.count, runningInstances: sim.running,
                                   pendingInstances: sim.pending, placements: sim.placements, preemptions: sim.preemptions))
            }
            while arrived < order.count || !departures.isEmpty {
                let t = min(arrived < order.count ? tasks[order[arrived]].createTime : .max, departures.min?.time ?? .max)
                // The state since `now` holds until t.
                let u = utilisation
                while nextSample < t {
                    samples.append(Sample(time: nextSample, utilisation: u, runningInstances: running, pendingInstances: pending))
                    nextSample += interval
                }
                let dt = Double(t - now)
                area.cpu += u.cpu * dt
                area.memory += u.memory * dt
                area.gpu += u.gpu * dt
                now = t
                while let d = departures.min, d.time == t {
                    _ = departures.pop()
                    events += 1
                    guard runGeneration[d.slot] == d.generation else { continue }
                    engine.remove(instanceID: "r\(d.slot)")
                    stopped(slot: d.slot)
                }
                while arrived < order.count, tasks[order[arrived]].createTime == t {
                    arrive(order[arrived], now: t)
                    arrived += 1
                    events += 1
                }
                schedule(now: t)
                let after = utilisation
                peak = Utilisation(cpu: max(peak.cpu, after.cpu), memory: max(peak.memory, after.memory), gpu: max(peak.gpu, after.gpu))
                if events - lastReport >= max(options.progressEvery, 1) {
                    lastReport = events
                    report(self, t)
                }
            }
            let endTime = now
            while nextSample <= endTime {
                samples.append(Sample(time: nextSample, utilisation: utilisation, runningInstances: running, pendingInstances: pending))
                nextSample += interval
            }
            report(self, endTime)
            var neverPlaced = 0, neverRestarted = 0
            for level in queues.indices {
                for queue in queues[level] {
                    for e in queue.items[queue.head...] where e.remaining > 0 {
                        if e.firstStart { neverPlaced += e.remaining } else { neverRestarted += e.remaining }
                    }
                }
            }
            let duration = Double(max(endTime - startTime, 0))
            let mean = duration > 0 ? Utilisation(cpu: area.cpu / duration, memory: area.memory / duration, gpu: area.gpu / duration)
                                    : Utilisation(cpu: 0, memory: 0, gpu: 0)
            return Result(policy: policy.name, seed: seed, cards: cardCount, tasks: tasks.count, instances: taskInstances.reduce(0, +),
                          droppedInstances: droppedInstances, placedInstances: placedInstances, unplaceableInstances: unplaceableInstances,
                          neverPlacedInstances: neverPlaced, neverRestartedInstances: neverRestarted, fullyStartedTasks: fullyStartedTasks,
                          unplaceableTasks: unplaceableTasks, placements: placements, preemptions: preemptions, decisions: decisions,
                          preemptionPlans: preemptionPlans, startTime: startTime, endTime: endTime, pendingTime: pendingTime.percentiles,
                          taskPendingTime: taskPendingTime.percentiles, requeuedPendingTime: requeuedPendingTime.percentiles,
                          samples: samples, meanUtilisation: mean, peakUtilisation: peak)
        }

        /// The latest create + duration (a lower bound of the span, for the default sample interval).
        static func lastDeparture(_ tasks: [ReplayTask]) -> Int64 {
            tasks.reduce(tasks.first?.createTime ?? 0) { max($0, $1.createTime + $1.duration) }
        }

        // MARK: - Events

        mutating func arrive(_ task: Int, now: Int64) {
            let n = taskInstances[task]
            guard n > 0 else { return }
            guard shapeFits[taskShape[task]] else {
                unplaceableInstances += n
                unplaceableTasks += 1
                return
            }
            enqueue(PendingEntry(task: task, remaining: n, since: now, firstStart: true))
        }

        mutating func enqueue(_ entry: PendingEntry) {
            let level = taskLevel[entry.task], tenant = taskTenant[entry.task]
            queues[level][tenant].items.append(entry)
            queues[level][tenant].live += 1
            pending += entry.remaining
            if !isActive[level][tenant] {
                isActive[level][tenant] = true
                active[level].append(tenant)
            }
        }

        /// Slot `slot` stopped running (departure or eviction; the engine already removed it).
        mutating func stopped(slot: Int) {
            let task = runTask[slot], tenant = taskTenant[task], r = tasks[task].resources
            runGeneration[slot] += 1
            freeSlots.append(slot)
            running -= 1
            runningAtLevel[taskLevel[task]] -= 1
            cpuAllocated -= r.cpuMillis
            memoryAllocated -= r.memoryBytes
            heldCPU[tenant] -= r.cpuMillis
            heldMemory[tenant] -= r.memoryBytes
            heldGPU[tenant] -= Int64(tasks[task].gpu.totalMilli)
            freeGeneration += 1
        }

        // MARK: - Scheduling pass

        func share(_ tenant: Int) -> Double {
            var s = 0.0
            if cpuCapacity > 0 { s = max(s, Double(heldCPU[tenant]) / Double(cpuCapacity)) }
            if memoryCapacity > 0 { s = max(s, Double(heldMemory[tenant]) / Double(memoryCapacity)) }
            if gpuCapacity > 0 { s = max(s, Double(heldGPU[tenant]) / Double(gpuCapacity)) }
            return s
        }

        func lowerPlacements(_ level: Int) -> Int { placementsAtLevel[(level + 1)...].reduce(0, +) }
        func lowerRunning(_ level: Int) -> Bool { runningAtLevel[(level + 1)...].contains { $0 > 0 } }

        /// Could an instance of this shape start now, as far as the memos know?
        func blocked(_ shape: Int, level: Int) -> Bool {
            guard failedFit[shape] == freeGeneration else { return false }
            guard options.preemption, lowerRunning(level) else { return true }
            return failedPreempt[shape] == PreemptStamp(freeGeneration: freeGeneration, lowerPlacements: lowerPlacements(level))
        }

        mutating func schedule(now: Int64) {
            for level in levels.indices where !active[level].isEmpty {
                passStamp += 1
                var heap = MinHeap<TenantKey>()
                for tenant in active[level] { heap.push(TenantKey(share: share(tenant), tenant: tenant)) }
                while var key = heap.pop() {
                    let tenant = key.tenant
                    while let k = nextCandidate(level: level, tenant: tenant) {
                        guard start(level: level, tenant: tenant, entry: k, now: now) else { continue }
                        key.share = share(tenant)
                        if let top = heap.min, top < key {
                            heap.push(key)
                            break
                        }
                    }
                }
                // Compact: drop finished entries and tenants with nothing left.
                var still: [Int] = []
                for tenant in active[level] {
                    var q = queues[level][tenant]
                    while q.head < q.items.count && q.items[q.head].remaining == 0 { q.head += 1 }
                    if q.head > 64 && q.head * 2 > q.items.count {
                        q.items.removeFirst(q.head)
                        q.head = 0
                        cursorStamp[tenant] = -1
                    }
                    queues[level][tenant] = q
                    if q.live > 0 { still.append(tenant) } else { isActive[level][tenant] = false }
                }
                active[level] = still
            }
        }

        /// The tenant's first entry (in queue order) with instances left whose shape is not known to fail.
        /// Entries before the cursor failed earlier in this pass; an eviction (more free) rewinds it.
        mutating func nextCandidate(level: Int, tenant: Int) -> Int? {
            let stamp = passStamp &* 1_000_003 &+ freeGeneration
            if cursorStamp[tenant] != stamp {
                cursorStamp[tenant] = stamp
                cursor[tenant] = queues[level][tenant].head
            }
            var k = cursor[tenant]
            let items = queues[level][tenant].items
            while k < items.count && (items[k].remaining == 0 || blocked(taskShape[items[k].task], level: level)) { k += 1 }
            cursor[tenant] = k
            return k < items.count ? k : nil
        }

        /// Tries to start one instance of entry `k`; preempts when allowed. true: started.
        mutating func start(level: Int, tenant: Int, entry k: Int, now: Int64) -> Bool {
            let task = queues[level][tenant].items[k].task, shape = taskShape[task]
            let slot: Int
            if let free = freeSlots.popLast() { slot = free } else {
                slot = runTask.count
                runTask.append(-1)
                runGeneration.append(0)
            }
            let demand = tasks[task].demand(instanceID: "r\(slot)")
            decisions += 1
            if engine.placeWithoutReason(demand) != nil {
                started(slot: slot, level: level, tenant: tenant, entry: k, now: now)
                return true
            }
            failedFit[shape] = freeGeneration
            if options.preemption && lowerRunning(level) {
                let stamp = PreemptStamp(freeGeneration: freeGeneration, lowerPlacements: lowerPlacements(level))
                if failedPreempt[shape] != stamp {
                    preemptionPlans += 1
                    if let plan = engine.preemptionPlan(for: demand) {
                        let placement = engine.commitPreemption(plan, demand: demand)
                        for victim in plan.victims {
                            let v = Int(victim.demand.instanceID.dropFirst())!
                            let victimTask = runTask[v]
                            stopped(slot: v)
                            preemptions += 1
                            enqueue(PendingEntry(task: victimTask, remaining: 1, since: now, firstStart: false))
                        }
                        if placement != nil {
                            started(slot: slot, level: level, tenant: tenant, entry: k, now: now)
                            return true
                        }
                        // Not expected (the plan makes it fit); never retry it in this state.
                        failedFit[shape] = freeGeneration
                        failedPreempt[shape] = PreemptStamp(freeGeneration: freeGeneration, lowerPlacements: lowerPlacements(level))
                    } else {
                        failedPreempt[shape] = stamp
                    }
                }
            }
            freeSlots.append(slot)
            return false
        }

        mutating func started(slot: Int, level: Int, tenant: Int, entry k: Int, now: Int64) {
            let e = queues[level][tenant].items[k]
            let task = e.task, r = tasks[task].resources
            runTask[slot] = task
            let (leaves, overflow) = now.addingReportingOverflow(tasks[task].duration)
            departures.push(Departure(time: overflow ? .max : leaves, slot: slot, generation: runGeneration[slot]))
            queues[level][tenant].items[k].remaining -= 1
            if e.remaining == 1 { queues[level][tenant].live -= 1 }
            pending -= 1
            running += 1
            placements += 1
            runningAtLevel[level] += 1
            placementsAtLevel[level] += 1
            cpuAllocated += r.cpuMillis
            memoryAllocated += r.memoryBytes
            heldCPU[tenant] += r.cpuMillis
            heldMemory[tenant] += r.memoryBytes
            heldGPU[tenant] += Int64(tasks[task].gpu.totalMilli)
            if e.firstStart {
                placedInstances += 1
                pendingTime.add(now - e.since)
                startedInstances[task] += 1
                if startedInstances[task] == taskInstances[task] {
                    fullyStartedTasks += 1
                    taskPendingTime.add(now - tasks[task].createTime)
                }
            } else {
                requeuedPendingTime.add(now - e.since)
            }
        }
    }
}
