import Foundation

/// A percentile of a histogram whose samples decay exponentially with age (the shape of the
/// Kubernetes VPA recommender and of Autopilot's moving windows).
///
/// Buckets grow geometrically by 5 % from a first bucket of `minimumValue`; a sample's weight is
/// `2^(t / halfLife)` (newer samples weigh more; all weights are rescaled when they grow large,
/// which keeps the ratios). With a `window`, samples older than it are dropped in whole slices
/// of time (a ring of 8 per-window-eighth histograms), as VPA's 8-day window drops days.
/// The merged histogram is a Fenwick tree, so a query is O(log buckets); an update is
/// O(log buckets); dropping a slice is O(buckets log buckets), once per slice.
public struct DecayedPercentile: LimitModel, Codable {
    public let name: String
    public let percentile: Double
    public let halfLife: Double
    public let window: Double?
    static let growth = 1.05
    static let minimumValue = 1e-3
    static let bucketCount = 560  // up to about 1e-3 * 1.05^560 ≈ 7e8

    /// Per slice: start time and the sparse weights added in it (bucket → weight).
    private var slices: [Slice] = []
    private var tree = Fenwick(count: DecayedPercentile.bucketCount)
    private var referenceTime: Double?
    private let sliceSeconds: Double

    struct Slice: Codable, Sendable {
        var start: Double
        var weights: [Int: Double]
    }

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

    /// Bytes of state this model holds now (for the benchmark's per-series figure).
    public var stateBytes: Int {
        tree.values.count * 8 + slices.reduce(0) { $0 + 32 + $1.weights.count * 24 } + 64
    }

    public mutating func observe(_ value: Double, at time: Double) {
        let v = sanitized(value)
        if referenceTime == nil { referenceTime = time }
        var exponent = (time - referenceTime!) / halfLife
        if exponent > 60 {  // rescale: divide every weight by 2^exponent, move the reference
            let factor = pow(2, -exponent)
            tree.scale(by: factor)
            for i in slices.indices { for (b, w) in slices[i].weights { slices[i].weights[b] = w * factor } }
            referenceTime = time
            exponent = 0
        }
        if let window {
            while let first = slices.first, first.start + sliceSeconds <= time - window {
                for b in first.weights.keys.sorted() { tree.add(b, -first.weights[b]!) }  // fixed order: a decoded copy stays identical
                slices.removeFirst()
            }
            if slices.isEmpty || time >= slices[slices.count - 1].start + sliceSeconds { slices.append(Slice(start: time, weights: [:])) }
        }
        let b = Self.bucket(v)
        let w = exp2(exponent)
        tree.add(b, w)
        if window != nil { slices[slices.count - 1].weights[b, default: 0] += w }
    }

    public func limit(horizon: Int, quantile: Double) -> Double {
        let total = tree.total
        guard total > 0 else { return 0 }
        return Self.upperBound(tree.firstIndex(reaching: total * percentile))
    }
}

/// Prefix sums with O(log n) add and search.
struct Fenwick: Sendable, Codable {
    private(set) var values: [Double]
    private(set) var total = 0.0

    init(count: Int) { values = Array(repeating: 0, count: count + 1) }

    mutating func add(_ index: Int, _ delta: Double) {
        total += delta
        var i = index + 1
        while i < values.count {
            values[i] += delta
            i += i & -i
        }
    }

    mutating func scale(by factor: Double) {
        for i in values.indices { values[i] *= factor }
        total *= factor
    }

    /// The first index whose prefix sum reaches `target`.
    func firstIndex(reaching target: Double) -> Int {
        var position = 0
        var remaining = target
        var step = 1
        while step * 2 < values.count { step *= 2 }
        while step > 0 {
            let next = position + step
            if next < values.count && values[next] < remaining {
                position = next
                remaining -= values[next]
            }
            step /= 2
        }
        return min(position, values.count - 2)
    }
}
