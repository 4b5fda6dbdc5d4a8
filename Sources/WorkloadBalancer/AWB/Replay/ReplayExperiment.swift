import BackplaneModel

/// Replays a placement trace on a bus: a discrete-event simulation over the trace's clock.
///
/// - Tasks arrive at their create time with all their instances pending; an instance, once
///   started, holds its resources for the task's duration, then leaves.
/// - At each time with events, departures go first, then arrivals join the pending queue, then one
///   scheduling pass: priority levels highest first; within a level, tenants in dominant-resource-
///   fair order (the tenant holding the smallest dominant share of the bus gets its next instance,
///   progressive filling as in `DominantResourceFairness`), each tenant's tasks first come first.
///   A pending instance is retried only when something left since its shape last failed.
/// - An instance that fits nowhere may preempt (`Options.preemption`): the engine's
///   `preemptionPlan` evicts the fewest strictly lower-priority instances on one card. Victims
///   return to the pending queue (at the back of their tenant's queue) and restart from scratch:
///   once placed again they run their full duration.
/// - An instance that would not fit even on an empty card is refused on arrival (`unplaceable`).
///
/// Pure and deterministic for a seed (the seed drives the engine's random tie-breaking; event ties
/// go to trace order). No clock: the caller measures wall time and divides `decisions` by it.
public enum ReplayExperiment {
    public struct Options: Hashable, Sendable {
        public var preemption: Bool
        /// Seconds between utilisation samples; nil: the span / 100 (at least 1 s).
        public var sampleInterval: Int64?
        /// Replay at most this many instances of each task; the rest are dropped and counted in
        /// `Result.droppedInstances` (nil: all — alibaba-2017's 11 M instances take about 4 minutes).
        public var maxInstancesPerTask: Int?
        /// `progress` is called every this many processed events (arrivals + departures) and at the end.
        public var progressEvery: Int

        public init(preemption: Bool = true, sampleInterval: Int64? = nil, maxInstancesPerTask: Int? = nil, progressEvery: Int = 100_000) {
            self.preemption = preemption
            self.sampleInterval = sampleInterval
            self.maxInstancesPerTask = maxInstancesPerTask
            self.progressEvery = progressEvery
        }
    }

    public struct Progress: Hashable, Sendable {
        /// Trace time (seconds).
        public var time: Int64
        public var arrivedTasks: Int
        public var totalTasks: Int
        public var runningInstances: Int
        public var pendingInstances: Int
        public var placements: Int
        public var preemptions: Int
    }

    /// Allocated share (0…1) of the bus's CPU, memory and GPU.
    public struct Utilisation: Hashable, Sendable {
        public var cpu: Double
        public var memory: Double
        public var gpu: Double
    }

    public struct Sample: Hashable, Sendable {
        public var time: Int64
        public var utilisation: Utilisation
        public var runningInstances: Int
        public var pendingInstances: Int
    }

    /// Nearest-rank percentiles of seconds (all 0 when `count` is 0).
    public struct Percentiles: Hashable, Sendable {
        public var count: Int
        public var mean: Double
        public var p50: Int64
        public var p90: Int64
        public var p99: Int64
        public var max: Int64
    }

    public struct Result: Hashable, Sendable {
        public var policy: String
        public var seed: UInt64
        public var cards: Int
        public var tasks: Int
        /// Instances replayed (after `maxInstancesPerTask`).
        public var instances: Int
        public var droppedInstances: Int
        /// Instances that started at least once.
        public var placedInstances: Int
        /// Instances that fit no card even when empty (refused on arrival).
        public var unplaceableInstances: Int
        /// Instances still waiting for their first start when the last instance left.
        public var neverPlacedInstances: Int
        /// Preempted instances that never restarted.
        public var neverRestartedInstances: Int
        /// Tasks whose every instance started / that fit no card.
        public var fullyStartedTasks: Int
        public var unplaceableTasks: Int
        /// Engine placements, restarts included.
        public var placements: Int
        /// Instances evicted by preemption.
        public var preemptions: Int
        /// Placement attempts (engine decisions) and preemption plans computed: the work to time.
        public var decisions: Int
        public var preemptionPlans: Int
        /// Create time of the first task; time of the last event.
        public var startTime: Int64
        public var endTime: Int64
        public var span: Int64 { endTime - startTime }
        /// Create → first start, per instance that started.
        public var pendingTime: Percentiles
        /// Create → start of its last instance, per task that fully started.
        public var taskPendingTime: Percentiles
        /// Eviction → restart, per restart.
        public var requeuedPendingTime: Percentiles
        public var samples: [Sample]
        /// Time-weighted over [startTime, endTime].
        public var meanUtilisation: Utilisation
        public var peakUtilisation: Utilisation
    }

    public static func run(cards: [CardSpec], tasks: [ReplayTask], policy: Policy, seed: UInt64, options: Options = Options(),
                           progress: ((Progress) -> Void)? = nil) -> Result {
        var sim = Simulation(cards: cards, tasks: tasks, policy: policy, seed: seed, options: options)
        return sim.run(progress: progress)
    }

    /// For tests: the same run with the engine's caches switched off or their logs kept short.
    static func run(cards: [CardSpec], tasks: [ReplayTask], policy: Policy, seed: UInt64, options: Options = Options(),
                    useBestCache: Bool, logFloor: Int, bestHeapFloor: Int = 64) -> Result {
        var sim = Simulation(cards: cards, tasks: tasks, policy: policy, seed: seed, options: options)
        sim.engine.useBestCache = useBestCache
        sim.engine.logFloor = logFloor
        sim.engine.bestHeapFloor = bestHeapFloor
        return sim.run(progress: nil)
    }
}

/// Percentiles from a histogram of seconds.
struct SecondsHistogram {
    var counts: [Int64: Int] = [:]
    mutating func add(_ seconds: Int64, count: Int = 1) { counts[seconds, default: 0] += count }

    var percentiles: ReplayExperiment.Percentiles {
        let sorted = counts.sorted { $0.key < $1.key }
        let total = sorted.reduce(0) { $0 + $1.value }
        guard total > 0 else { return .init(count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0) }
        let sum = sorted.reduce(0.0) { $0 + Double($1.key) * Double($1.value) }
        func rank(_ p: Double) -> Int64 {
            let need = Swift.max(1, Int((p * Double(total)).rounded(.up)))
            var seen = 0
            for (value, n) in sorted {
                seen += n
                if seen >= need { return value }
            }
            return sorted.last!.key
        }
        return .init(count: total, mean: sum / Double(total), p50: rank(0.5), p90: rank(0.9), p99: rank(0.99), max: sorted.last!.key)
    }
}
