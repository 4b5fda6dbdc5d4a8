import BackplaneModel
import Forecasting

/// Each shard's measured load and its forecast (pure; the caller supplies every time).
///
/// Cards report each shard's cumulative request count and its bytes (``ShardProtocol/Stats``,
/// every ``reportInterval``). A shard's rate is the count's change over the time between two
/// reports from the same instance and card; a new owner, or a count that went back (its card
/// agent restarted), starts the series' baseline again. Rates and bytes go into one forecasting
/// model each (the kind workloads use), so `backplane shards` shows where a shard is heading
/// as well as where it is.
public struct ShardLoad: Sendable {
    public struct Key: Hashable, Sendable {
        public var workload: String
        public var shard: UInt32
        public init(workload: String, shard: UInt32) {
            self.workload = workload
            self.shard = shard
        }
    }

    /// One shard's series.
    public struct Series: Sendable {
        var last: (instance: String, card: CardID, requests: UInt64, time: Double)?
        public internal(set) var requestsPerSecond: Double?
        public internal(set) var bytes: UInt64?
        public internal(set) var observed = 0
        var rateModel: any LimitModel
        var bytesModel: any LimitModel

        /// The highest request rate the model expects over the horizon (nil until it has seen
        /// ``ShardLoad/minimumObservations`` rates).
        public func forecastRequestsPerSecond(horizonSteps: Int, quantile: Double) -> Double? {
            observed >= ShardLoad.minimumObservations ? rateModel.limit(horizon: horizonSteps, quantile: quantile) : nil
        }

        public func forecastBytes(horizonSteps: Int, quantile: Double) -> Double? {
            observed >= ShardLoad.minimumObservations ? bytesModel.limit(horizon: horizonSteps, quantile: quantile) : nil
        }
    }

    /// Seconds between reports (the model's step).
    public static let reportInterval = 10.0
    /// The forecast's horizon: 5 minutes.
    public static let horizonSeconds = 300.0
    public static let quantile = 0.99
    static let minimumObservations = 3
    /// The most series kept (the oldest-reported ones go first beyond it).
    public static let maximumSeries = 100_000

    public private(set) var series: [Key: Series] = [:]

    public init() {}

    var horizonSteps: Int { Int((Self.horizonSeconds / Self.reportInterval).rounded()) }

    /// One card's report at `time` (seconds); the caller passes only the rows the card may speak
    /// for. A row without bytes (its app did not answer) updates the rate only.
    public mutating func ingest(_ stats: ShardProtocol.Stats, from card: CardID, at time: Double) {
        guard time.isFinite else { return }
        for row in stats.shards {
            let key = Key(workload: row.workload, shard: row.shard)
            if series[key] == nil {
                guard series.count < Self.maximumSeries else { continue }
                series[key] = Series(rateModel: ModelKind.ensemble.make(horizon: horizonSteps, quantile: Self.quantile), bytesModel: ModelKind.ensemble.make(horizon: horizonSteps, quantile: Self.quantile))
            }
            var s = series[key]!
            if let bytes = row.bytes { s.bytes = bytes }
            if let last = s.last, last.instance == row.instance, last.card == card, row.requests >= last.requests, time - last.time >= 1 {
                let rate = Double(row.requests - last.requests) / (time - last.time)
                s.requestsPerSecond = rate
                s.rateModel.observe(rate, at: time)
                if let bytes = row.bytes { s.bytesModel.observe(Double(bytes), at: time) }
                s.observed += 1
                s.last = (row.instance, card, row.requests, time)
            } else if s.last == nil || s.last!.instance != row.instance || s.last!.card != card || row.requests < s.last!.requests {
                // A new baseline: a new owner or a restarted count.
                s.last = (row.instance, card, row.requests, time)
            }
            series[key] = s
        }
    }

    /// Forgets the series of shards no map has any more (deleted workloads, merged-away shards).
    public mutating func keep(only live: Set<Key>) {
        series = series.filter { live.contains($0.key) }
    }

    public func forecast(_ key: Key) -> (requestsPerSecond: Double?, bytes: Double?)? {
        guard let s = series[key] else { return nil }
        return (s.forecastRequestsPerSecond(horizonSteps: horizonSteps, quantile: Self.quantile), s.forecastBytes(horizonSteps: horizonSteps, quantile: Self.quantile))
    }
}
