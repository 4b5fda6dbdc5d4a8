import BackplaneModel
import Forecasting

/// One workload's usage over time (pure; the caller supplies every time).
///
/// Instances' points are gathered into aligned `step`-second buckets; a bucket closes once a
/// point two buckets later has arrived (or the clock has moved past it), and becomes one
/// ``WorkloadPoint``: CPU and memory summed over the workload's instances. Closed points go into
/// a bounded ring, into 1-minute means (a longer bounded ring, what is persisted), and into one
/// forecasting model per metric and horizon.
public struct WorkloadSeries: Sendable {
    /// A workload's usage over one step.
    public struct Point: Codable, Hashable, Sendable {
        /// End of the step: wall-clock seconds since 1970.
        public var time: Double
        public var seconds: Double
        public var cpuMillicores: Double
        public var memoryBytes: Double
        /// Sum over instances of each one's highest memory sample in the step.
        public var memoryMaxBytes: Double
        public var instances: Int
    }

    /// A forecast horizon the BMC keeps models for.
    public struct Horizon: Hashable, Sendable, CustomStringConvertible {
        public var seconds: Int
        public init(seconds: Int) { self.seconds = seconds }
        public var description: String { seconds % 3600 == 0 ? "\(seconds / 3600)h" : seconds % 60 == 0 ? "\(seconds / 60)m" : "\(seconds)s" }
        public static let standard = [Horizon(seconds: 60), Horizon(seconds: 300), Horizon(seconds: 3600)]
    }

    public struct Configuration: Sendable {
        public var step: Double = 10
        /// Points kept at full resolution (360 × 10 s = 1 h).
        public var ringPoints = 360
        /// 1-minute means kept (1,440 = 1 day).
        public var minutePoints = 1440
        public var horizons = Horizon.standard
        public var model: ModelKind = .ensemble
        /// The quantile the models aim for (their loss).
        public var quantile = 0.99
        public init() {}
    }

    public let configuration: Configuration
    public private(set) var points: [Point] = []
    public private(set) var minutes: [Point] = []
    /// Points observed by the models since the BMC started (or since their state was restored).
    public private(set) var observed = 0
    private var open: [Int: [String: UsagePoint]] = [:]
    private var lastClosed: Int?
    private var minute: (index: Int, cpu: Double, memory: Double, memoryMax: Double, instances: Int, count: Int)?
    var models: [Horizon: (cpu: any LimitModel, memory: any LimitModel)] = [:]

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        for h in configuration.horizons {
            let steps = max(1, Int((Double(h.seconds) / configuration.step).rounded()))
            models[h] = (configuration.model.make(horizon: steps, quantile: configuration.quantile), configuration.model.make(horizon: steps, quantile: configuration.quantile))
        }
    }

    /// Adds an instance's point. Points for a bucket that has already closed are dropped.
    public mutating func add(_ p: UsagePoint) {
        let bucket = Int((p.time / configuration.step).rounded(.down))
        if let lastClosed, bucket <= lastClosed { return }
        open[bucket, default: [:]][p.instance] = p
        close(before: bucket - 1)
    }

    /// Closes the buckets that ended more than one step before `now`.
    public mutating func advance(to now: Double) {
        close(before: Int((now / configuration.step).rounded(.down)) - 1)
    }

    private mutating func close(before limit: Int) {
        for bucket in open.keys.sorted() where bucket < limit {
            let members = open.removeValue(forKey: bucket)!.values
            let point = Point(
                time: Double(bucket + 1) * configuration.step, seconds: configuration.step,
                cpuMillicores: members.reduce(0) { $0 + $1.cpuMillicores },
                memoryBytes: members.reduce(0) { $0 + $1.memoryBytes },
                memoryMaxBytes: members.reduce(0) { $0 + $1.memoryMaxBytes },
                instances: members.count)
            lastClosed = bucket
            append(point)
        }
    }

    private mutating func append(_ point: Point) {
        points.append(point)
        if points.count > configuration.ringPoints { points.removeFirst(points.count - configuration.ringPoints) }
        for h in models.keys {
            models[h]!.cpu.observe(point.cpuMillicores, at: point.time)
            models[h]!.memory.observe(point.memoryBytes, at: point.time)
        }
        observed += 1
        let index = Int(((point.time - point.seconds) / 60).rounded(.down))
        if let m = minute, m.index != index { flushMinute() }
        if minute == nil { minute = (index, 0, 0, 0, 0, 0) }
        minute!.cpu += point.cpuMillicores
        minute!.memory += point.memoryBytes
        minute!.memoryMax = max(minute!.memoryMax, point.memoryMaxBytes)
        minute!.instances = max(minute!.instances, point.instances)
        minute!.count += 1
    }

    private mutating func flushMinute() {
        guard let m = minute, m.count > 0 else { return }
        minutes.append(Point(time: Double(m.index + 1) * 60, seconds: 60, cpuMillicores: m.cpu / Double(m.count), memoryBytes: m.memory / Double(m.count), memoryMaxBytes: m.memoryMax, instances: m.instances))
        if minutes.count > configuration.minutePoints { minutes.removeFirst(minutes.count - configuration.minutePoints) }
        minute = nil
    }

    /// Limits for the next `horizon`: per quantile, the CPU (millicores) and memory (bytes) the
    /// workload is expected to stay under. Nil for a horizon without models.
    public func forecast(horizon: Horizon, quantiles: [Double]) -> [(quantile: Double, cpuMillicores: Double, memoryBytes: Double)]? {
        guard let m = models[horizon] else { return nil }
        let steps = max(1, Int((Double(horizon.seconds) / configuration.step).rounded()))
        return quantiles.map { q in (q, m.cpu.limit(horizon: steps, quantile: q), m.memory.limit(horizon: steps, quantile: q)) }
    }

    /// Restores persisted 1-minute history (after a BMC restart).
    public mutating func restore(minutes saved: [Point]) {
        minutes = Array(saved.suffix(configuration.minutePoints))
    }
}
