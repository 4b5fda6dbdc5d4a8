import BackplaneModel

/// The AWB speed benchmark: a bus of `cards` cards drawn from the openb machine mix, and
/// `workloads` instances drawn from an openb task list (CPU, memory, whole GPUs, GPU shares, model
/// constraints), placed one at a time through the full pipeline (every filter, the policy's
/// scorers, tenant quotas, anti-affinity for a tenth of the workloads). Time is a parameter:
/// `now()` returns nanoseconds from any monotonic clock.
public enum PlacementBenchmark {
    public struct Result: Hashable, Sendable {
        public var cards: Int
        public var workloads: Int
        public var placed: Int
        public var pending: Int
        public var totalNanos: UInt64
        public var p50DecisionNanos: UInt64
        public var p99DecisionNanos: UInt64
        public var maxDecisionNanos: UInt64
        public var liveClasses: Int
        public var gpuAllocPct: Double
        public var placementsPerSecond: Double { totalNanos == 0 ? 0 : Double(workloads) / (Double(totalNanos) / 1e9) }
    }

    /// The bus and the instances to place (deterministic for a seed).
    public static func scenario(nodes: [OpenbNode], tasks: [OpenbTask], cards: Int, workloads: Int, seed: UInt64) -> (cards: [CardSpec], demands: [InstanceDemand]) {
        var rng = SplitMix64(seed: seed)
        let specs = (0..<cards).map { i -> CardSpec in
            var spec = nodes[Int(rng.next() % UInt64(nodes.count))].card(id: CardID(UInt64(0x1_000000) + UInt64(i)))
            spec.name = "card-\(i)"
            spec.capacity.networkBitsPerSecond = 25_000_000_000
            spec.capacity.storageIOPS = 200_000
            spec.costPerHour = Double(spec.gpuModels.count) * 2 + Double(spec.capacity.cpuMillis) / 32_000
            return spec
        }
        let tenants = ["search", "ads", "training", "batch"]
        let demands = (0..<workloads).map { i -> InstanceDemand in
            let task = tasks[Int(rng.next() % UInt64(tasks.count))]
            var d = task.demand(instanceID: "w\(i)")
            d.workload = "app-\(i % 5000)"
            d.tenant = tenants[i % tenants.count]
            d.priority = [100, 500, 500, 900][Int(rng.next() % 4)]
            d.resources.networkBitsPerSecond = task.cpuMilli * 100_000
            d.resources.storageIOPS = task.cpuMilli / 10
            if i % 10 == 0 { d.maxInstancesPerCard = 2 }
            return d
        }
        return (specs, demands)
    }

    public static func run(nodes: [OpenbNode], tasks: [OpenbTask], cards: Int = 10_000, workloads: Int = 100_000,
                           policy: Policy, seed: UInt64 = 1, now: () -> UInt64) -> Result {
        let (specs, demands) = scenario(nodes: nodes, tasks: tasks, cards: cards, workloads: workloads, seed: seed)
        var engine = PlacementEngine(cards: specs, policy: policy, expectedWorkload: tasks.enumerated().map { $1.demand(instanceID: "e\($0)") }, seed: seed)
        let big = Resources(cpuMillis: .max / 4, memoryBytes: .max / 4, networkBitsPerSecond: .max / 4, storageIOPS: .max / 4)
        for tenant in ["search", "ads", "training", "batch"] { engine.quotas[tenant] = TenantQuota(limit: big) }
        var durations = [UInt64](repeating: 0, count: demands.count)
        var placed = 0
        let start = now()
        for (k, demand) in demands.enumerated() {
            let t0 = now()
            if case .place = engine.place(demand) { placed += 1 }
            durations[k] = now() - t0
        }
        let total = now() - start
        durations.sort()
        func pct(_ p: Double) -> UInt64 { durations.isEmpty ? 0 : durations[min(durations.count - 1, Int(Double(durations.count) * p))] }
        return Result(cards: cards, workloads: demands.count, placed: placed, pending: demands.count - placed, totalNanos: total,
                      p50DecisionNanos: pct(0.5), p99DecisionNanos: pct(0.99), maxDecisionNanos: durations.last ?? 0,
                      liveClasses: engine.classCount,
                      gpuAllocPct: engine.gpuCapacityMilli > 0 ? Double(engine.gpuAllocatedMilli) / Double(engine.gpuCapacityMilli) * 100 : 0)
    }
}
