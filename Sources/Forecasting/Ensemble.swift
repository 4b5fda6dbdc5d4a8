import Foundation

/// Per series, follows the candidate limit with the lowest recent decayed loss against what
/// actually happened (the peak of the next `horizon` rows), as Autopilot's ML recommender picks
/// among its models; a candidate must beat the current choice by `switchMargin` to take over.
///
/// Candidates span the two baselines that matter on real traces — the last-window max `w`
/// (tight, for smooth series) and the 24 h peak `p` (safe, for bursty ones): geometric blends
/// `w^a · p^(1−a)` for a in `blends`, `w` with small headroom factors (`headroom`), and
/// max(w, the peak of the coming window one day earlier) for series with daily spikes (`daily`).
///
/// The loss is the pinball loss at `tau` of each window's realised peak against the candidate,
/// divided by the window's largest candidate (scale free), plus `burstPenalty` when the peak
/// went over `burstThreshold ×` the candidate. Pinball alone weighs an overshoot by its size,
/// so a smooth series that creeps slightly past its window max still picks a tight candidate;
/// the burst term charges the violations that set a pooled safety multiplier (large relative
/// overshoots) by their count, so a bursty series moves to the safe side. `tau` is well below
/// the 0.99 target on purpose: the final coverage comes from one multiplier (slack@1%), and a
/// selection at 0.99 would always pick the loosest candidate.
///
/// O(candidates) per row, fixed memory besides the two members' deques.
public struct Ensemble: LimitModel, Codable {
    public struct Configuration: Codable, Sendable, Equatable {
        public var tau = 0.85
        /// Loss memory per scored window (0.97 ⇒ about 33 windows).
        public var decay = 0.97
        public var burstPenalty = 0.05
        public var burstThreshold = 1.3
        /// Relative loss advantage a candidate needs to take over.
        public var switchMargin = 0.0
        /// Exponents a of the blends w^a · p^(1−a); 1 is the window max, 0 the 24 h peak.
        public var blends: [Double] = [1, 0.75, 0.5, 0.25, 0]
        /// Window max × these factors.
        public var headroom: [Double] = [1.02, 1.05, 1.1]
        /// Also offer max(w, the peak of the same window one day earlier) — for daily spikes.
        public var daily = true
        public init() {}
    }

    public var name: String { ModelKind.ensemble.rawValue }
    public let horizon: Int
    public let quantile: Double
    public let configuration: Configuration

    private var windowMax: WindowMax
    private var peak24h: TimeWindowMax
    private var yesterday: DailyWindowPeaks
    private var losses: [Double]
    /// Candidates' limits at the start of the window being scored, and its peak so far.
    private var pending: [Double]?
    private var peak = 0.0
    private var steps = 0
    private var chosen: Int

    public init(horizon: Int, quantile: Double, configuration: Configuration = Configuration()) {
        self.horizon = max(1, horizon)
        self.quantile = quantile
        self.configuration = configuration
        windowMax = WindowMax(steps: self.horizon)
        peak24h = TimeWindowMax(name: ModelKind.peak24h.rawValue, seconds: 24 * 3600)
        yesterday = DailyWindowPeaks(steps: self.horizon)
        let count = max(1, configuration.blends.count + configuration.headroom.count + (configuration.daily ? 1 : 0))
        losses = Array(repeating: 0, count: count)
        chosen = min(count - 1, configuration.blends.count / 2)  // start in the middle: a half blend
    }

    public var candidateCount: Int { losses.count }

    /// The candidate currently followed, e.g. `w^0.5·p^0.5` or `w×1.05`.
    public var choice: String { label(chosen) }

    func label(_ i: Int) -> String {
        let b = configuration.blends
        if i < b.count { return b[i] == 1 ? "window-max" : b[i] == 0 ? "peak-24h" : "w^\(b[i])·p^\(1 - b[i])" }
        if i < b.count + configuration.headroom.count { return "window-max×\(configuration.headroom[i - b.count])" }
        return "max(window-max, same window yesterday)"
    }

    func candidate(_ i: Int) -> Double {
        let w = windowMax.current
        let b = configuration.blends
        if i >= b.count + configuration.headroom.count { return max(w, yesterday.peak ?? w) }
        if i >= b.count { return w * configuration.headroom[i - b.count] }
        let p = peak24h.current
        let a = b[i]
        if a == 1 { return w }
        if a == 0 { return p }
        return w > 0 && p > 0 ? exp(a * log(w) + (1 - a) * log(p)) : max(w, p)
    }

    public mutating func observe(_ value: Double, at time: Double) {
        let v = sanitized(value)
        if let limits = pending {
            peak = max(peak, v)
            steps += 1
            if steps == horizon { score(limits) }
        }
        windowMax.observe(v, at: time)
        peak24h.observe(v, at: time)
        if configuration.daily { yesterday.observe(v, at: time) }
        if pending == nil {
            pending = (0..<losses.count).map(candidate)
            peak = 0
            steps = 0
        }
    }

    private mutating func score(_ limits: [Double]) {
        let c = configuration
        let scale = max(limits.max() ?? 0, 1e-12)
        for i in limits.indices {
            let error = (peak - limits[i]) / scale
            var loss = error > 0 ? c.tau * error : (c.tau - 1) * error
            if peak > c.burstThreshold * limits[i] { loss += c.burstPenalty }
            losses[i] = losses[i] * c.decay + loss
        }
        var best = chosen
        for i in losses.indices where losses[i] < losses[best] { best = i }
        if losses[best] < losses[chosen] * (1 - c.switchMargin) { chosen = best }
        pending = nil
    }

    /// The chosen candidate's limit. It is a single limit for the horizon (the quantile enters
    /// through the pooled multiplier, see the type's notes), so `quantile` does not change it.
    public func limit(horizon: Int, quantile: Double) -> Double {
        sanitized(candidate(chosen))
    }

    public var stateBytes: Int {
        96 + windowMax.stateBytes + peak24h.stateBytes + yesterday.stateBytes + (losses.capacity + (pending?.capacity ?? 0)) * 8
    }
}

/// The peak of the coming window as it was one day earlier: per-bucket maxima over the last day
/// (buckets of max(horizon, 15 min), so at most 97 of them), queried for the buckets that cover
/// [t − 1 day, t − 1 day + horizon]. The step (and so the horizon in seconds) is learnt from the
/// timestamps.
struct DailyWindowPeaks: Codable, Sendable {
    let steps: Int
    private var bucketSeconds = 0.0
    private var maxima: [Double] = []
    private var ids: [Int] = []
    private var lastTime: Double?
    private var step = 0.0
    private var now = 0.0

    init(steps: Int) { self.steps = max(1, steps) }

    mutating func observe(_ v: Double, at time: Double) {
        if let last = lastTime, time > last {
            step = step == 0 ? time - last : step + (time - last - step) / 16
        }
        lastTime = time
        now = time
        guard step > 0 else { return }
        if bucketSeconds == 0 {
            bucketSeconds = max(Double(steps) * step, 900)
            let count = Int((86_400 / bucketSeconds).rounded(.up)) + 2
            maxima = Array(repeating: 0, count: count)
            ids = Array(repeating: Int.min, count: count)
        }
        let id = Int((time / bucketSeconds).rounded(.down))
        let slot = ((id % ids.count) + ids.count) % ids.count
        if ids[slot] != id {
            ids[slot] = id
            maxima[slot] = v
        } else {
            maxima[slot] = max(maxima[slot], v)
        }
    }

    /// Nil until a day of history covers the window.
    var peak: Double? {
        guard bucketSeconds > 0 else { return nil }
        let from = Int(((now - 86_400 + step) / bucketSeconds).rounded(.down))
        let to = Int(((now - 86_400 + Double(steps) * step) / bucketSeconds).rounded(.down))
        guard to >= from else { return nil }
        var best: Double?
        for id in from...to {
            let slot = ((id % ids.count) + ids.count) % ids.count
            if ids[slot] == id { best = max(best ?? 0, maxima[slot]) }
        }
        return best
    }

    var stateBytes: Int { 64 + maxima.capacity * 8 + ids.capacity * 8 }
}
