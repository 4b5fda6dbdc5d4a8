/// Finds a dominant period (1 day or 1 week by default) from hourly means, by autocorrelation.
///
/// A period P counts when the autocorrelation at lag P is at least `threshold` and exceeds the
/// one at lag P/2 by `threshold / 2` (a merely persistent or trending series correlates at every
/// lag; a seasonal one peaks at P). History is a ring of hourly means covering two of the longest
/// candidate periods; detection runs once per `every` new hours: O(1) amortised per observation.
struct SeasonDetector: Codable, Sendable {
    static let hour = 3600.0
    let candidates: [Int]  // in hours
    let threshold: Double
    static let every = 24
    private var ring: [Float]  // hourly means, NaN where an hour had no rows
    private var filled = 0  // hours pushed so far (saturates at ring.count)
    private var position = 0
    private var currentHour: Double?
    private var sum = 0.0
    private var count = 0
    private var sinceDetection = 0
    /// The period found at the last detection (seconds), nil for none.
    private(set) var period: Double?

    init(candidatePeriods: [Double], threshold: Double) {
        candidates = candidatePeriods.map { max(2, Int(($0 / Self.hour).rounded())) }.sorted()
        self.threshold = threshold
        ring = Array(repeating: .nan, count: 2 * (candidates.last ?? 24))
    }

    /// Feeds one row; returns true when the detected period changed.
    mutating func observe(_ v: Double, at time: Double) -> Bool {
        let h = (time / Self.hour).rounded(.down)
        guard let current = currentHour else {
            currentHour = h
            sum = v
            count = 1
            return false
        }
        if h <= current {
            sum += v
            count += 1
            return false
        }
        push(Float(sum / Double(count)))
        // Hours with no rows (gaps), at most one ring's worth.
        let missing = min(Double(ring.count), h - current - 1)
        if missing >= 1 { for _ in 0..<Int(missing) { push(.nan) } }
        currentHour = h
        sum = v
        count = 1
        guard sinceDetection >= Self.every else { return false }
        sinceDetection = 0
        let found = detect()
        if found != period {
            period = found
            return true
        }
        return false
    }

    private mutating func push(_ mean: Float) {
        ring[position] = mean
        position = (position + 1) % ring.count
        filled = min(ring.count, filled + 1)
        sinceDetection += 1
    }

    /// The hourly mean `age` hours ago (1 = the last complete hour), NaN if unknown.
    func mean(hoursAgo age: Int) -> Float {
        guard age >= 1, age <= filled else { return .nan }
        return ring[(position - age + ring.count * 2) % ring.count]
    }

    private func detect() -> Double? {
        var best: (period: Int, acf: Double)?
        for p in candidates where filled >= 2 * p {
            let n = 2 * p  // the last two periods
            let full = autocorrelation(lag: p, span: n)
            let half = autocorrelation(lag: p / 2, span: n)
            if full >= threshold && full - half >= threshold / 2 && full > (best?.acf ?? -1) { best = (p, full) }
        }
        return best.map { Double($0.period) * Self.hour }
    }

    private func autocorrelation(lag: Int, span: Int) -> Double {
        var s = 0.0, n = 0.0
        for a in 1...span { let x = mean(hoursAgo: a); if x.isFinite { s += Double(x); n += 1 } }
        guard n > 2 else { return 0 }
        let m = s / n
        var num = 0.0, den = 0.0, pairs = 0.0
        for a in 1...span {
            let x = Double(mean(hoursAgo: a))
            if x.isFinite { den += (x - m) * (x - m) }
            if a + lag <= span {
                let y = Double(mean(hoursAgo: a + lag))
                if x.isFinite && y.isFinite { num += (x - m) * (y - m); pairs += 1 }
            }
        }
        return den > 0 && pairs > 0 ? (num / pairs) / (den / n) : 0
    }

    var stateBytes: Int { 96 + ring.capacity * 4 + candidates.capacity * 8 }
}

extension SeasonDetector {
    /// Mean-centred hourly profile over one period of `hours` (index = absolute hour mod `hours`),
    /// from the history held; hours never seen are 0.
    func hourlyProfile(hours: Int) -> [Double] {
        var sums = [Double](repeating: 0, count: hours)
        var counts = [Double](repeating: 0, count: hours)
        guard let current = currentHour, filled > 0 else { return sums }
        let now = Int(current)
        for a in 1...filled {
            let x = mean(hoursAgo: a)
            guard x.isFinite else { continue }
            let i = ((now - a) % hours + hours) % hours
            sums[i] += Double(x)
            counts[i] += 1
        }
        var means = [Double](repeating: 0, count: hours)
        var total = 0.0, seen = 0.0
        for i in 0..<hours where counts[i] > 0 {
            means[i] = sums[i] / counts[i]
            total += means[i]
            seen += 1
        }
        let centre = seen > 0 ? total / seen : 0
        for i in 0..<hours where counts[i] > 0 { means[i] -= centre }
        return means
    }
}
