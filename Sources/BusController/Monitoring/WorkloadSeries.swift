import BackplaneModel
import Forecasting
import Foundation

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
    var calibration: [Horizon: (cpu: Calibration, memory: Calibration)] = [:]

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        for h in configuration.horizons {
            let steps = max(1, Int((Double(h.seconds) / configuration.step).rounded()))
            models[h] = (configuration.model.make(horizon: steps, quantile: configuration.quantile), configuration.model.make(horizon: steps, quantile: configuration.quantile))
            calibration[h] = (Calibration(steps: steps), Calibration(steps: steps))
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
            let steps = calibration[h]!.cpu.steps
            calibration[h]!.cpu.observe(point.cpuMillicores, limit: models[h]!.cpu.limit(horizon: steps, quantile: configuration.quantile))
            calibration[h]!.memory.observe(point.memoryBytes, limit: models[h]!.memory.limit(horizon: steps, quantile: configuration.quantile))
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

    /// The models' limits for the next `horizon` (the usage they expect not to be exceeded).
    public func limit(horizon: Horizon) -> (cpuMillicores: Double, memoryBytes: Double)? {
        guard let m = models[horizon], let c = calibration[horizon] else { return nil }
        return (m.cpu.limit(horizon: c.cpu.steps, quantile: configuration.quantile), m.memory.limit(horizon: c.memory.steps, quantile: configuration.quantile))
    }

    /// Per quantile q, the usage the workload's peak over the next `horizon` stays under with
    /// probability q: the models' limit times the q-quantile of this workload's own past ratios
    /// of realised peak to limit (the limit itself until 5 windows have been seen).
    public func forecast(horizon: Horizon, quantiles: [Double]) -> [(quantile: Double, cpuMillicores: Double, memoryBytes: Double)]? {
        guard let l = limit(horizon: horizon), let c = calibration[horizon] else { return nil }
        return quantiles.map { q in (q, l.cpuMillicores * c.cpu.ratio(at: q), l.memoryBytes * c.memory.ratio(at: q)) }
    }

    /// Ratios of each window's realised peak to the limit set at its start (the last 200
    /// non-overlapping windows).
    public struct Calibration: Codable, Sendable, Hashable {
        public let steps: Int
        public private(set) var ratios: [Double] = []
        var limit = 0.0
        var peak = 0.0
        var seen = 0
        static let capacity = 200

        init(steps: Int) { self.steps = steps }

        /// `value` is the new point; `limit` what the model said before seeing it.
        mutating func observe(_ value: Double, limit current: Double) {
            if seen == 0 { limit = current }
            peak = max(peak, value.isFinite ? value : 0)
            seen += 1
            guard seen == steps else { return }
            if limit > 0 {
                ratios.append(peak / limit)
                if ratios.count > Self.capacity { ratios.removeFirst(ratios.count - Self.capacity) }
            }
            peak = 0
            seen = 0
        }

        func ratio(at q: Double) -> Double {
            guard ratios.count >= 5 else { return 1 }
            let sorted = ratios.sorted()
            return sorted[min(sorted.count - 1, max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1))]
        }
    }

    /// The models' state per horizon (seconds), for the store.
    public func encodedModels() throws -> [String: ModelState] {
        var out: [String: ModelState] = [:]
        for (h, m) in models {
            out["\(h.seconds)"] = ModelState(cpu: try ModelCodec.encode(m.cpu), memory: try ModelCodec.encode(m.memory), cpuCalibration: calibration[h]?.cpu, memoryCalibration: calibration[h]?.memory)
        }
        return out
    }

    /// Restores persisted 1-minute history and model state (after a BMC restart). Models whose
    /// state cannot be read (or whose horizon is no longer configured) start afresh.
    public mutating func restore(minutes saved: [Point], models savedModels: [String: ModelState]?, observed count: Int?) {
        minutes = Array(saved.suffix(configuration.minutePoints))
        var restored = false
        for (key, state) in savedModels ?? [:] {
            guard let seconds = Int(key), models[Horizon(seconds: seconds)] != nil,
                  let cpu = try? ModelCodec.decode(state.cpu), let memory = try? ModelCodec.decode(state.memory) else { continue }
            let h = Horizon(seconds: seconds)
            models[h] = (cpu, memory)
            if let c = state.cpuCalibration, let m = state.memoryCalibration, c.steps == calibration[h]?.cpu.steps, m.steps == c.steps { calibration[h] = (c, m) }
            restored = true
        }
        if restored { observed = count ?? 0 }
    }

    /// A horizon's models, encoded (``ModelCodec``).
    public struct ModelState: Codable, Sendable, Hashable {
        public var cpu: Data
        public var memory: Data
        public var cpuCalibration: Calibration?
        public var memoryCalibration: Calibration?
    }
}
