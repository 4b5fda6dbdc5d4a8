import Foundation

/// A percentile of a histogram whose samples decay exponentially with age (the shape of the
/// Kubernetes VPA recommender and of Autopilot's moving windows).
///
/// Buckets grow geometrically by 5 % from a first bucket of `minimumValue`; a sample's weight is
/// `2^(t / halfLife)` (newer samples weigh more; all weights are rescaled when they grow large,
/// which keeps the ratios). With a `window`, samples older than it are dropped in whole buckets
/// of time (a ring of per-day histograms), as VPA's 8-day window does. Memory: one histogram per
/// window day (about 400 buckets each); update O(1), query O(buckets).
public struct DecayedPercentile: LimitModel {
    public let name: String
    public let percentile: Double
    public let halfLife: Double
    public let window: Double?
    static let growth = 1.05
    static let minimumValue = 1e-3
    static let bucketCount = 560  // up to about 1e-3 * 1.05^560 ≈ 7e8

    private var slices: [(start: Double, weights: [Double])] = []
    private var referenceTime: Double?
    private let sliceSeconds: Double

    public init(name: String, percentile: Double, halfLife: Double, window: Double?) {
        self.name = name
        self.percentile = percentile
        self.halfLife = halfLife
        self.window = window
        self.sliceSeconds = window.map { $0 / 8 } ?? .infinity
    }

    static func bucket(_ v: Double) -> Int {
        guard v > minimumValue else { return 0 }
        return min(bucketCount - 1, Int(log(v / minimumValue) / log(growth)) + 1)
    }

    static func upperBound(_ b: Int) -> Double {
        b == 0 ? minimumValue : minimumValue * pow(growth, Double(b))
    }

    public mutating func observe(_ value: Double, at time: Double) {
        let v = sanitized(value)
        if referenceTime == nil { referenceTime = time }
        var exponent = (time - referenceTime!) / halfLife
        if exponent > 60 {  // rescale: divide every weight by 2^exponent, move the reference
            let factor = pow(2, -exponent)
            for i in slices.indices { for b in slices[i].weights.indices { slices[i].weights[b] *= factor } }
            referenceTime = time
            exponent = 0
        }
        if slices.isEmpty || (window != nil && time >= slices[slices.count - 1].start + sliceSeconds) {
            slices.append((time, Array(repeating: 0, count: Self.bucketCount)))
        }
        if let window {
            while let first = slices.first, first.start + sliceSeconds <= time - window { slices.removeFirst() }
        }
        slices[slices.count - 1].weights[Self.bucket(v)] += pow(2, exponent)
    }

    public func limit(horizon: Int, quantile: Double) -> Double {
        var total = 0.0
        for s in slices { for w in s.weights { total += w } }
        guard total > 0 else { return 0 }
        let target = total * percentile
        var running = 0.0
        for b in 0..<Self.bucketCount {
            for s in slices { running += s.weights[b] }
            if running >= target { return Self.upperBound(b) }
        }
        return Self.upperBound(Self.bucketCount - 1)
    }
}
