import BackplaneModel

/// The openb workload-inflation experiment of "Beware of Fragmentation" (Weng et al., ATC '23),
/// as the traces README defines it, on AWB v2's engine:
///
/// 1. The bus is every machine of the node list; the task list is the pod list, plus tasks drawn
///    uniformly with replacement from it until the next one would take the total GPU request
///    (num_gpu × gpu_milli) past `inflation` × the bus's GPU capacity. A list already past it
///    loses tasks drawn uniformly until it is not (the artifact's `tuneDownPods`).
/// 2. The list is shuffled with the seed; tasks arrive one at a time and never leave; a task
///    that fits nowhere is skipped.
/// 3. After each arrival the allocated GPU share is recorded against the arrived GPU request as a
///    whole percent of capacity (rounded half to even, as pandas does in the artifact); the curve
///    is the mean allocation per percent (a missing percent takes the mean of its ±1 neighbours).
///
/// The fragmentation reference (FGD's typical tasks) is the pod list before inflation.
public enum OpenbExperiment {
    public struct Progress: Hashable, Sendable {
        public var arrived: Int
        public var total: Int
        public var placed: Int
        public var failed: Int
        public var gpuAllocPct: Double
    }

    public struct Result: Hashable, Sendable {
        public var policy: String
        public var seed: UInt64
        public var tasks: Int
        public var placed: Int
        public var failed: Int
        public var gpuCapacityMilli: Int
        /// Allocated GPU % once the arrived GPU request reaches 100 % (and 130 %) of capacity; nil if never reached.
        public var gpuAllocPctAt100: Double?
        public var gpuAllocPctAt130: Double?
        /// Allocated GPU % per whole percent of arrived GPU request.
        public var curve: [Int: Double]
        public var finalGPUAllocPct: Double
    }

    /// The task list the protocol runs: inflated (or trimmed) and shuffled.
    public static func taskList(_ tasks: [OpenbTask], gpuCapacityMilli: Int, inflation: Double, rng: inout SplitMix64) -> [OpenbTask] {
        var list = tasks
        var total = tasks.reduce(0) { $0 + $1.totalGPUMilli }
        let target = inflation * Double(gpuCapacityMilli)
        if !tasks.isEmpty && Double(total) < target {
            while true {
                let extra = tasks[Int(rng.next() % UInt64(tasks.count))]
                if Double(total + extra.totalGPUMilli) > target { break }
                total += extra.totalGPUMilli
                list.append(extra)
            }
        } else {
            while Double(total) > target, !list.isEmpty {
                let removed = list.remove(at: Int(rng.next() % UInt64(list.count)))
                total -= removed.totalGPUMilli
            }
        }
        list.shuffle(using: &rng)
        return list
    }

    /// Runs one list with one policy and seed. `progress` is called every `progressEvery` arrivals and at the end.
    public static func run(nodes: [OpenbNode], tasks: [OpenbTask], policy: Policy, seed: UInt64, inflation: Double = 1.3,
                           progressEvery: Int = 1000, progress: ((Progress) -> Void)? = nil) -> Result {
        let cards = nodes.enumerated().map { $1.card(id: CardID(UInt64(0x0B_0000) + UInt64($0))) }
        let expected = tasks.enumerated().map { $1.demand(instanceID: "expected-\($0)") }
        var engine = PlacementEngine(cards: cards, policy: policy, expectedWorkload: expected, seed: seed &* 0x9E37_79B9_7F4A_7C15 ^ 0xA5A5)
        let capacity = engine.gpuCapacityMilli
        var rng = SplitMix64(seed: seed)
        let list = taskList(tasks, gpuCapacityMilli: capacity, inflation: inflation, rng: &rng)

        var sums: [Int: (sum: Double, n: Int)] = [:]
        var arrived = 0, placed = 0, failed = 0
        for (k, task) in list.enumerated() {
            arrived += task.totalGPUMilli
            if case .place = engine.place(task.demand(instanceID: "t\(k)")) { placed += 1 } else { failed += 1 }
            let alloc = capacity > 0 ? Double(engine.gpuAllocatedMilli) / Double(capacity) * 100 : 0
            let percent = capacity > 0 ? Int((Double(arrived) / Double(capacity) * 100).rounded(.toNearestOrEven)) : 0
            let old = sums[percent] ?? (0, 0)
            sums[percent] = (old.sum + alloc, old.n + 1)
            if let progress, (k + 1) % max(progressEvery, 1) == 0 || k + 1 == list.count {
                progress(Progress(arrived: k + 1, total: list.count, placed: placed, failed: failed, gpuAllocPct: alloc))
            }
        }
        var curve: [Int: Double] = [:]
        for (percent, s) in sums { curve[percent] = s.sum / Double(s.n) }
        func at(_ percent: Int) -> Double? {
            if let v = curve[percent] { return v }
            let near = (percent - 1...percent + 1).compactMap { sums[$0] }
            let n = near.reduce(0) { $0 + $1.n }
            return n == 0 ? nil : near.reduce(0) { $0 + $1.sum } / Double(n)
        }
        return Result(policy: policy.name, seed: seed, tasks: list.count, placed: placed, failed: failed, gpuCapacityMilli: capacity,
                      gpuAllocPctAt100: at(100), gpuAllocPctAt130: at(130), curve: curve,
                      finalGPUAllocPct: capacity > 0 ? Double(engine.gpuAllocatedMilli) / Double(capacity) * 100 : 0)
    }
}
