import Foundation

/// Additive Holt-Winters with a damped trend and automatic season detection.
///
/// - Level and damped trend follow every row; when `SeasonDetector` finds a period (1 day or
///   1 week by default, from hourly means), an additive season of at most `maxSlots` slots is
///   started from the hourly profile and then updated per row. Slots are indexed by time of
///   period, so gaps in timestamps do not shift the season.
/// - The limit is the forecast's peak over the next `horizon` rows plus the `quantile` of recent
///   residuals "realised peak − forecast peak" (each known `horizon` rows later), kept in a
///   decayed histogram in units of the series' scale.
///
/// O(horizon) per row (the forecast peak), O(1) amortised detection, bounded memory.
public struct HoltWinters: LimitModel, Codable {
    public struct Configuration: Codable, Sendable, Equatable {
        public var alpha = 0.3
        public var beta = 0.02
        public var phi = 0.9
        public var gamma = 0.2
        public var candidatePeriods: [Double] = [86_400, 604_800]
        public var maxSlots = 288
        public var detectionThreshold = 0.3
        /// Residual memory, in rows (half-life).
        public var residualHalfLife = 2016.0
        public init() {}
    }

    public var name: String { ModelKind.holtWinters.rawValue }
    public let horizon: Int
    public let configuration: Configuration
    private var level = 0.0
    private var trend = 0.0
    private var started = false
    private var lastTime: Double?
    private var step = 0.0
    private var rejectedSteps = 0
    private var scale = 0.0
    private var season: [Float] = []
    private var slotWidth = 0.0
    private var detector: SeasonDetector
    private var recent: WindowMax
    private var pending: [Double]
    private var position = 0
    private var residuals: ResidualQuantile
    /// The forecast's peak over the next `horizon` rows, as of the last row.
    private(set) var forecastPeak = 0.0

    public init(horizon: Int, configuration: Configuration = Configuration()) {
        self.horizon = max(1, horizon)
        self.configuration = configuration
        detector = SeasonDetector(candidatePeriods: configuration.candidatePeriods, threshold: configuration.detectionThreshold)
        recent = WindowMax(steps: self.horizon)
        pending = Array(repeating: .nan, count: self.horizon)
        residuals = ResidualQuantile(halfLife: configuration.residualHalfLife)
    }

    /// The season's period in seconds, nil while none is detected.
    public var period: Double? { season.isEmpty ? nil : detector.period }

    public mutating func observe(_ value: Double, at time: Double) {
        let v = sanitized(value)
        updateStep(time)
        // Score the forecast made `horizon` rows ago against the peak that followed it.
        recent.observe(v, at: time)
        let old = pending[position]
        if old.isFinite { residuals.add((recent.current - old) / max(scale, 1e-12)) }
        scale = scale == 0 ? v : scale + (v - scale) / 288

        if detector.observe(v, at: time) { restartSeason() }
        if !started {
            level = v
            started = true
        } else {
            let c = configuration
            let s = seasonal(at: time)
            let previous = level
            level = c.alpha * (v - s) + (1 - c.alpha) * (level + c.phi * trend)
            trend = c.beta * (level - previous) + (1 - c.beta) * c.phi * trend
            if !season.isEmpty { season[slot(time)] = Float(c.gamma * (v - level) + (1 - c.gamma) * s) }
        }
        if !level.isFinite || !trend.isFinite { level = v; trend = 0 }

        var peak = -Double.infinity
        var damping = 0.0
        var phiK = 1.0
        let dt = step > 0 ? step : 300
        if season.isEmpty {
            for _ in 1...horizon {
                phiK *= configuration.phi
                damping += phiK
                peak = max(peak, level + damping * trend)
            }
        } else if let p = detector.period {
            // Walk the season's phase forward without a remainder per step.
            var phase = time.truncatingRemainder(dividingBy: p)
            if phase < 0 { phase += p }
            let advance = dt.truncatingRemainder(dividingBy: p)
            for _ in 1...horizon {
                phiK *= configuration.phi
                damping += phiK
                phase += advance
                if phase >= p { phase -= p }
                let slot = min(season.count - 1, max(0, Int(phase / slotWidth)))
                peak = max(peak, level + damping * trend + Double(season[slot]))
            }
        }
        forecastPeak = peak.isFinite ? peak : v
        pending[position] = forecastPeak
        position = (position + 1) % horizon
    }

    public func limit(horizon: Int, quantile: Double) -> Double {
        guard started else { return 0 }
        let l = forecastPeak + max(scale, 0) * residuals.quantile(quantile)
        return sanitized(l)
    }

    public var stateBytes: Int {
        160 + season.capacity * 4 + detector.stateBytes + recent.stateBytes + pending.capacity * 8 + residuals.stateBytes
    }

    private mutating func updateStep(_ time: Double) {
        defer { lastTime = time }
        guard let last = lastTime else { return }
        let dt = time - last
        guard dt > 0, dt.isFinite else { return }
        if step == 0 || rejectedSteps >= 3 {
            step = dt
            rejectedSteps = 0
        } else if dt < 3 * step {
            step += 0.05 * (dt - step)
            rejectedSteps = 0
        } else {
            rejectedSteps += 1  // a gap, unless it keeps happening
        }
    }

    private func slot(_ time: Double) -> Int {
        guard let p = detector.period, !season.isEmpty else { return 0 }
        var phase = time.truncatingRemainder(dividingBy: p)
        if phase < 0 { phase += p }
        return min(season.count - 1, max(0, Int(phase / slotWidth)))
    }

    private func seasonal(at time: Double) -> Double {
        season.isEmpty ? 0 : Double(season[slot(time)])
    }

    private mutating func restartSeason() {
        guard let p = detector.period, step > 0 else {
            season = []
            return
        }
        let slots = max(1, min(configuration.maxSlots, Int((p / step).rounded())))
        slotWidth = p / Double(slots)
        let hours = max(1, Int((p / SeasonDetector.hour).rounded()))
        let profile = detector.hourlyProfile(hours: hours)
        season = (0..<slots).map { i in
            let phaseHour = min(hours - 1, Int((Double(i) + 0.5) * slotWidth / SeasonDetector.hour))
            return Float(profile[phaseHour])
        }
        // The level was tracking the season too; leave it: the next rows pull it to the deseasonalised mean.
    }
}
