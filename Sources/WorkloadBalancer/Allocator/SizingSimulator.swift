import Forecasting

/// The allocator's vertical sizing, replayed on recorded demand (pure; issue 13's simulator,
/// `backplane sim allocate`). Each series is one workload's demand for one resource, in the
/// series' own unit. A policy sees the demand up to step t only and sets the allocation; a
/// resize decided after step t applies from step t + 1 + `delay` on (actuation delay). Every
/// policy is scored on the same steps (after `warmup`):
///
/// - **unserved** = Σ max(demand − allocation, 0) / Σ demand — CPU demand that had to wait
///   (throttled);
/// - **breaches** = steps whose demand exceeded the allocation — for memory, an OOM kill;
/// - **provisioned** = Σ allocation × step length — what the allocation costs;
/// - **resizes** = allocation changes of more than 1 %;
/// - **cards** (``CardModel``): the cards the allocations of every series need, step by step.
///
/// Every policy has one headroom knob (its allocation × `headroom`), so policies can be
/// compared at equal provisioned cost by sweeping it.
public enum SizingSimulator {
    public enum Policy: String, CaseIterable, Sendable, Codable {
        /// The Predictive Model Engine's limit model (`Ensemble`, the one the BMC forecasts with)
        /// for the horizon the actuation delay needs, with downsizing held back by a 10 % band.
        case backplane
        /// A fixed allocation: the peak of the warm-up steps.
        case staticPeak = "static-peak"
        /// Kubernetes VPA: recommender = decayed-histogram p90 (24 h half-life, 8-day window)
        /// + 15 % margin; updater = applies it only when the allocation is outside
        /// [p50, p95] (+ 15 %), the recommender's lower and upper bounds.
        case vpa
        /// Autopilot's moving window: decayed p95 with a 12 h half-life for CPU; the 24 h peak
        /// for memory; applied every step.
        case autopilotMW = "autopilot-mw"
        /// Knows the future: the allocation of each step is that step's demand (the floor).
        case oracle
    }

    public enum Resource: String, Sendable, Codable {
        case cpu, memory
    }

    public struct Settings: Hashable, Sendable {
        /// Steps between a decision and its effect (a resize applies at the next step: 0).
        public var delay = 0
        /// Steps every policy observes before scoring starts.
        public var warmup = 288
        /// Downsizing band of the `backplane` policy (hysteresis).
        public var band = 0.10
        /// Scale-down stabilisation of the `backplane` policy, seconds: it sizes down only to the
        /// highest recommendation of this window (as HPA's scale-down window), so a dip between
        /// two peaks is not given away. 0: off.
        public var stabilisation = 3600.0
        public init() {}
    }

    /// One policy's outcome on one series at one headroom.
    public struct Outcome: Hashable, Sendable, Codable {
        public var demand = 0.0
        public var unserved = 0.0
        public var breaches = 0
        public var provisioned = 0.0
        public var resizes = 0
        public var steps = 0
        public init() {}

        public mutating func add(_ o: Outcome) {
            demand += o.demand
            unserved += o.unserved
            breaches += o.breaches
            provisioned += o.provisioned
            resizes += o.resizes
            steps += o.steps
        }

        public var unservedFraction: Double { demand > 0 ? unserved / demand : 0 }
    }

    /// What a policy recommends after each step (index t: seen rows 0...t), and for VPA the
    /// updater's bounds. Independent of the headroom, so one pass serves the whole sweep.
    struct Recommendations {
        var value: [Double]
        var lower: [Double]?
        var upper: [Double]?
        /// The highest recommendation over the stabilisation window (backplane only).
        var stabilised: [Double]?
    }

    static func recommendations(_ policy: Policy, resource: Resource, times: [Double], values: [Double], settings: Settings) -> Recommendations {
        let n = values.count
        var out = [Double](repeating: 0, count: n)
        switch policy {
        case .oracle:
            // Shifted by the caller: step t's allocation is step t's demand.
            return Recommendations(value: values.map(clean))
        case .staticPeak:
            var peak = 0.0
            for t in 0..<n {
                if t < max(1, settings.warmup) { peak = max(peak, clean(values[t])) }
                out[t] = peak
            }
            return Recommendations(value: out)
        case .vpa:
            var p50 = DecayedPercentile(name: "vpa-p50", percentile: 0.50, halfLife: 24 * 3600, window: 8 * 24 * 3600)
            var p90 = ModelKind.vpaP90.make(horizon: 1)
            var p95 = DecayedPercentile(name: "vpa-p95", percentile: 0.95, halfLife: 24 * 3600, window: 8 * 24 * 3600)
            var lower = out, upper = out
            for t in 0..<n {
                let v = clean(values[t])
                p50.observe(v, at: times[t]); p90.observe(v, at: times[t]); p95.observe(v, at: times[t])
                out[t] = p90.limit(horizon: 1, quantile: 0.9) * 1.15
                lower[t] = p50.limit(horizon: 1, quantile: 0.5) * 1.15
                upper[t] = p95.limit(horizon: 1, quantile: 0.95) * 1.15
            }
            return Recommendations(value: out, lower: lower, upper: upper)
        case .autopilotMW:
            var model = resource == .cpu ? ModelKind.autopilotP95.make(horizon: 1) : ModelKind.peak24h.make(horizon: 1)
            for t in 0..<n {
                model.observe(clean(values[t]), at: times[t])
                out[t] = model.limit(horizon: 1, quantile: 0.95)
            }
            return Recommendations(value: out)
        case .backplane:
            // The limit must hold from the step the resize lands until the next decision lands.
            var model = ModelKind.ensemble.make(horizon: settings.delay + 1, quantile: 0.99)
            var window = TimeWindowMax(seconds: max(0, settings.stabilisation))
            var stabilised = out
            for t in 0..<n {
                model.observe(clean(values[t]), at: times[t])
                out[t] = model.limit(horizon: settings.delay + 1, quantile: 0.99)
                window.observe(out[t], at: times[t])
                stabilised[t] = settings.stabilisation > 0 ? max(out[t], window.current) : out[t]
            }
            return Recommendations(value: out, stabilised: stabilised)
        }
    }

    /// Scores one policy on one series for each headroom.
    public static func run(_ policy: Policy, resource: Resource, times: [Double], values: [Double], headrooms: [Double], settings: Settings = Settings()) -> [Outcome] {
        runRecording(policy, resource: resource, times: times, values: values, headrooms: headrooms, settings: settings, record: false).map(\.outcome)
    }

    /// As ``run(_:resource:times:values:headrooms:settings:)``, and with `record` the allocation
    /// in force at every step (0 before scoring starts), per headroom.
    public static func runRecording(_ policy: Policy, resource: Resource, times: [Double], values: [Double], headrooms: [Double], settings: Settings = Settings(), record: Bool) -> [(outcome: Outcome, allocations: [Double]?)] {
        let n = min(times.count, values.count)
        guard n > 1 else { return headrooms.map { _ in (Outcome(), record ? [Double](repeating: 0, count: n) : nil) } }
        let r = recommendations(policy, resource: resource, times: Array(times.prefix(n)), values: Array(values.prefix(n)), settings: settings)
        return headrooms.map { h in
            var allocations: [Double]? = record ? [Double](repeating: 0, count: n) : nil
            let o = score(policy, r, times: times, values: values, n: n, headroom: h, settings: settings) { t, a in allocations?[t] = a }
            return (o, allocations)
        }
    }

    static func score(_ policy: Policy, _ r: Recommendations, times: [Double], values: [Double], n: Int, headroom h: Double, settings: Settings, step: (Int, Double) -> Void = { _, _ in }) -> Outcome {
        var o = Outcome()
        let start = min(max(1, settings.warmup), n - 1)
        // The allocation in force at step t was decided after step t − 1 − delay.
        var allocation = r.value[max(0, start - 1 - settings.delay)] * h
        if policy == .oracle { allocation = clean(values[start]) * h }
        for t in start..<n {
            if t > start {
                let decidedAt = t - 1 - settings.delay
                var next = allocation
                switch policy {
                case .oracle:
                    next = clean(values[t]) * h
                case .staticPeak, .autopilotMW:
                    if decidedAt >= 0 { next = r.value[decidedAt] * h }
                case .vpa:
                    if decidedAt >= 0, let lower = r.lower, let upper = r.upper,
                       allocation < lower[decidedAt] * h || allocation > upper[decidedAt] * h {
                        next = r.value[decidedAt] * h
                    }
                case .backplane:
                    if decidedAt >= 0 {
                        let wanted = r.value[decidedAt] * h
                        let floor = (r.stabilised?[decidedAt] ?? r.value[decidedAt]) * h
                        // Up at once; down only to the window's highest recommendation, and only
                        // past the band (no flapping on noise).
                        if wanted > allocation {
                            next = wanted
                        } else if floor < allocation * (1 - settings.band) {
                            next = floor
                        }
                    }
                }
                if abs(next - allocation) > 0.01 * max(allocation, 1e-9) { o.resizes += 1 }
                allocation = next
            }
            let demand = clean(values[t])
            let seconds = t + 1 < n ? max(0, times[t + 1] - times[t]) : (t > 0 ? max(0, times[t] - times[t - 1]) : 0)
            o.demand += demand
            o.unserved += max(demand - allocation, 0)
            if demand > allocation * (1 + 1e-9) { o.breaches += 1 }
            o.provisioned += allocation * seconds
            step(t, allocation)
            o.steps += 1
        }
        return o
    }

    @inline(__always)
    static func clean(_ x: Double) -> Double { x.isFinite && x > 0 ? x : 0 }
}

/// Cards for the simulator: `count` identical cards whose capacity, per resource, is the sum of
/// every series' peak demand divided by `count` (so the bus holds every workload at its peak at
/// once). At each step (the series aligned by row), the cards needed are the fluid lower bound
/// ceil(max over resources of Σ allocations / capacity), as many as a perfect packer would use;
/// steps needing more than `count` are card requests. Pure.
public struct CardModel: Hashable, Sendable {
    public var count: Int
    public var capacity: [SizingSimulator.Resource: Double]
    public var costPerCardHour: Double

    public init(count: Int, peaks: [SizingSimulator.Resource: Double], costPerCardHour: Double = 1) {
        self.count = max(1, count)
        self.capacity = peaks.mapValues { $0 / Double(max(1, count)) }
        self.costPerCardHour = costPerCardHour
    }

    public struct Usage: Hashable, Sendable, Codable {
        public var cardHours = 0.0
        public var cost = 0.0
        /// Steps that needed more cards than the bus has.
        public var stepsShort = 0
        /// The most cards any step needed.
        public var peakCards = 0
    }

    /// `allocations[resource][t]`: Σ over series of the allocation at row t; `stepSeconds`: the
    /// length of a row.
    public func usage(_ allocations: [SizingSimulator.Resource: [Double]], stepSeconds: Double) -> Usage {
        var u = Usage()
        let steps = allocations.values.map(\.count).max() ?? 0
        for t in 0..<steps {
            var need = 0.0
            for (resource, sums) in allocations where t < sums.count {
                guard let c = capacity[resource], c > 0 else { continue }
                need = max(need, sums[t] / c)
            }
            guard need > 0 else { continue }
            let cards = Int(min(need.rounded(.up), 1e9))
            u.peakCards = max(u.peakCards, cards)
            if cards > count { u.stepsShort += 1 }
            u.cardHours += Double(cards) * stepSeconds / 3600
        }
        u.cost = u.cardHours * costPerCardHour
        return u
    }
}
