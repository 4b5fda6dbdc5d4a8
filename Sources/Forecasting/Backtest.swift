/// How forecasts are judged (see `shared/traces/README.md`): at each evaluation row t a model sets
/// a limit from rows ≤ t that must cover rows t+1 … t+H.
public enum Backtest {
    /// Evaluation rows: t = W, W+S, W+2S, … while t + H < rows (0-based data rows).
    public static func evaluationRows(rows: Int, horizon: Int, stride: Int, warmup: Int) -> StrideThrough<Int> {
        let last = rows - horizon - 1
        return Swift.stride(from: warmup, through: max(warmup - 1, last), by: max(1, stride))
    }

    /// Runs one model over one series: the limit at each evaluation row, and for every covered
    /// step its usage/limit ratio (what slack@1% needs).
    public static func run(_ model: ModelKind, times: [Double], values: [Double], horizon: Int, stride: Int, warmup: Int, quantile: Double) -> SeriesResult {
        run(model.make(horizon: horizon, quantile: quantile), times: times, values: values, horizon: horizon, stride: stride, warmup: warmup, quantile: quantile)
    }

    /// The same, for a model built by the caller (a configured ensemble, say).
    public static func run(_ model: some LimitModel, times: [Double], values: [Double], horizon: Int, stride: Int, warmup: Int, quantile: Double) -> SeriesResult {
        var m = model
        var limits: [(row: Int, limit: Double)] = []
        var covered = CoveredSteps()
        var next = 0
        for t in evaluationRows(rows: values.count, horizon: horizon, stride: stride, warmup: warmup) {
            while next <= t {
                m.observe(values[next], at: times[next])
                next += 1
            }
            let limit = m.limit(horizon: horizon, quantile: quantile)
            limits.append((t, limit))
            for j in (t + 1)...(t + horizon) { covered.add(limit: limit, usage: max(0, values[j].isFinite ? values[j] : 0)) }
        }
        return SeriesResult(limits: limits, covered: covered)
    }

    public struct SeriesResult: Sendable {
        public var limits: [(row: Int, limit: Double)]
        public var covered: CoveredSteps
    }
}

/// Covered steps pooled over series: enough to compute violation rate, slack, and slack at the
/// multiplier that brings the violation rate to a target.
public struct CoveredSteps: Sendable {
    public private(set) var limits: [Float] = []
    public private(set) var usages: [Float] = []

    public init() {}

    public mutating func add(limit: Double, usage: Double) {
        limits.append(Float(limit))
        usages.append(Float(usage))
    }

    public mutating func append(_ other: CoveredSteps) {
        limits += other.limits
        usages += other.usages
    }

    public var count: Int { limits.count }

    /// Share of covered steps whose usage exceeds `multiplier × limit`.
    public func violationRate(multiplier: Double = 1) -> Double {
        guard count > 0 else { return 0 }
        var v = 0
        for i in 0..<count where Double(usages[i]) > multiplier * Double(limits[i]) { v += 1 }
        return Double(v) / Double(count)
    }

    /// Σ max(m·limit − usage, 0) / Σ m·limit.
    public func slack(multiplier: Double = 1) -> Double {
        var over = 0.0
        var total = 0.0
        for i in 0..<count {
            let l = multiplier * Double(limits[i])
            over += max(l - Double(usages[i]), 0)
            total += l
        }
        return total > 0 ? over / total : 0
    }

    /// The smallest multiplier with violation rate ≤ `target` (binary search; the rate only
    /// falls as the multiplier grows), and the slack there.
    public func slackAt(violationRate target: Double = 0.01) -> (multiplier: Double, slack: Double, violationRate: Double) {
        guard count > 0 else { return (1, 0, 0) }
        var low = 0.0
        var high = 1.0
        while violationRate(multiplier: high) > target && high < 1e9 { high *= 2 }
        for _ in 0..<40 {
            let mid = (low + high) / 2
            if violationRate(multiplier: mid) > target { low = mid } else { high = mid }
        }
        return (high, slack(multiplier: high), violationRate(multiplier: high))
    }
}
