import Foundation

/// Online linear quantile regression of the next `horizon` rows' peak.
///
/// Works in a scale-free space: every feature and the target are divided by the series' running
/// scale, so one learning rate fits every series. Features: 1, last value, max of the last
/// `horizon` rows, max of the last 24 h, a decayed mean, yesterday's maximum for the coming hour
/// (when known) and the time of day (sin, cos). Training minimises pinball loss at the model's
/// quantile τ with normalised (RMSProp-style) SGD steps, on delayed labels: the features of the
/// last `horizon` rows wait in a ring until their peak is known.
///
/// A query at another quantile q shifts the τ-forecast by the spread of recent residuals times
/// logit(q) − logit(τ), so the limit is non-decreasing in q. O(features) per row, bounded memory.
public struct QuantileRegression: LimitModel, Codable {
    public struct Configuration: Codable, Sendable, Equatable {
        public var learningRate = 0.002
        /// Memory of the squared-gradient average that normalises steps (rows).
        public var gradientMemory = 2000.0
        public init() {}
    }

    static let featureCount = 8
    public var name: String { ModelKind.quantileRegression.rawValue }
    public let horizon: Int
    public let quantile: Double
    public let configuration: Configuration
    private var weights: [Double]
    private var squares: [Double]
    private var scale = 0.0
    private var mean = 0.0
    private var recent: WindowMax
    private var daily: TimeWindowMax
    /// Max per hour of day (index = absolute hour mod 24) and the absolute hour it belongs to.
    private var hourMax: [Float]
    private var hourStamp: [Int32]
    private var pending: [Float]  // horizon × features, ring
    private var position = 0
    private var seen = 0
    private var spread = 0.0  // decayed mean |residual| in scale units
    private var prediction = 0.0  // τ-forecast as of the last row, in value units

    public init(horizon: Int, quantile: Double, configuration: Configuration = Configuration()) {
        self.horizon = max(1, horizon)
        self.quantile = min(max(quantile, 0.5), 0.9999)
        self.configuration = configuration
        weights = [0, 0, 1, 0, 0, 0, 0, 0]
        squares = Array(repeating: 0, count: Self.featureCount)
        recent = WindowMax(steps: self.horizon)
        daily = TimeWindowMax(name: "daily", seconds: 86_400)
        hourMax = Array(repeating: 0, count: 24)
        hourStamp = Array(repeating: -1, count: 24)
        pending = Array(repeating: 0, count: self.horizon * Self.featureCount)
    }

    public mutating func observe(_ value: Double, at time: Double) {
        let v = sanitized(value)
        recent.observe(v, at: time)
        daily.observe(v, at: time)
        // Train on the row `horizon` rows ago: its label is the peak of the rows since.
        if seen >= horizon { train(label: recent.current) }
        seen += 1
        scale = scale == 0 ? v : scale + (v - scale) / 288
        mean += (v - mean) / Double(min(seen, horizon))
        let hour = hourIndex(time)
        let h = ((hour % 24) + 24) % 24
        if Int(hourStamp[h]) != hour {
            hourStamp[h] = Int32(truncatingIfNeeded: hour)
            hourMax[h] = 0
        }
        hourMax[h] = max(hourMax[h], Float(v))

        let s = max(scale, 1e-12)
        let coming = hourIndex(time + Double(horizon) * 150 - 86_400)  // the hour ~half a horizon ahead, yesterday
        let ch = ((coming % 24) + 24) % 24
        let yesterday = Int(hourStamp[ch]) == coming ? Double(hourMax[ch]) : recent.current
        let phase = 2 * Double.pi * (time.truncatingRemainder(dividingBy: 86_400)) / 86_400
        let base = position * Self.featureCount
        func put(_ i: Int, _ x: Double) { pending[base + i] = Float(x.isFinite ? min(x, 1e6) : 0) }
        put(0, 1)
        put(1, v / s)
        put(2, recent.current / s)
        put(3, daily.current / s)
        put(4, mean / s)
        put(5, yesterday / s)
        put(6, phase.isFinite ? sin(phase) : 0)
        put(7, phase.isFinite ? cos(phase) : 0)
        var y = 0.0
        for i in 0..<Self.featureCount { y += weights[i] * Double(pending[base + i]) }
        prediction = y * s
        if !prediction.isFinite { prediction = recent.current }
        position = (position + 1) % horizon
    }

    private mutating func train(label peak: Double) {
        // `position` points at the oldest pending row (written `horizon` rows ago).
        let s = max(scale, 1e-12)
        let base = position * Self.featureCount
        var y = 0.0
        for i in 0..<Self.featureCount { y += weights[i] * Double(pending[base + i]) }
        let target = min(peak / s, 1e6)
        let error = target - y
        spread += (min(abs(error), 100) - spread) / 500
        let g = error > 0 ? -quantile : 1 - quantile
        let keep = 1 - 1 / configuration.gradientMemory
        for i in 0..<Self.featureCount {
            let gi = g * Double(pending[base + i])
            squares[i] = keep * squares[i] + (1 - keep) * gi * gi
            guard squares[i] > 0 else { continue }
            weights[i] -= configuration.learningRate * gi / (squares[i].squareRoot() + 1e-8)
            if !weights[i].isFinite { weights[i] = i == 2 ? 1 : 0 }
        }
    }

    public func limit(horizon: Int, quantile q: Double) -> Double {
        guard seen > 0 else { return 0 }
        var l = prediction
        if q != quantile {
            l += spread * max(scale, 0) * (logit(q) - logit(quantile))
        }
        return sanitized(l)
    }

    private func hourIndex(_ t: Double) -> Int {
        t.isFinite ? Int(max(-1e12, min(1e12, t / 3600)).rounded(.down)) : 0
    }

    private func logit(_ p: Double) -> Double {
        let c = min(max(p, 1e-6), 1 - 1e-6)
        return log(c / (1 - c))
    }

    public var stateBytes: Int {
        200 + (weights.capacity + squares.capacity) * 8 + recent.stateBytes + daily.stateBytes
            + hourMax.capacity * 4 + hourStamp.capacity * 4 + pending.capacity * 4
    }
}
