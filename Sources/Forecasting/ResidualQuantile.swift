import Foundation

/// Quantiles of recent forecast residuals, in units of the series' scale (so one layout fits
/// every series): a histogram of `asinh(residual / 0.02)` in fixed bins whose samples decay
/// exponentially with age (half-life `halfLife` samples). Fine near zero (2 % steps), coarse far
/// out (about 12 % relative steps beyond ±1).
///
/// O(1) update; a query scans from the top bin down (O(bins), usually a few bins for high q).
struct ResidualQuantile: Codable, Sendable {
    static let bins = 96
    static let range: Float = 8  // asinh domain covered: ±8 ⇔ residual ±≈30 scales
    static let unit = 0.02
    private var weights: [Float]
    private var total: Float = 0
    private var growth: Float
    private var nextWeight: Float = 1

    init(halfLife: Double) {
        weights = Array(repeating: 0, count: Self.bins)
        growth = Float(exp2(1 / max(1, halfLife)))
    }

    var isEmpty: Bool { total == 0 }

    static func bin(_ residual: Double) -> Int {
        let z = Float(asinh(residual / unit))
        guard z.isFinite else { return residual > 0 ? bins - 1 : 0 }
        let b = Int(((z + range) / (2 * range) * Float(bins)).rounded(.down))
        return min(bins - 1, max(0, b))
    }

    /// The residual at the upper edge of bin `b`.
    static func upperEdge(_ b: Int) -> Double {
        let z = Double(b + 1) / Double(bins) * Double(2 * range) - Double(range)
        return sinh(z) * unit
    }

    mutating func add(_ residual: Double) {
        guard residual.isFinite else { return }
        weights[Self.bin(residual)] += nextWeight
        total += nextWeight
        nextWeight *= growth
        if nextWeight > 1e12 {  // rescale: keeps ratios, avoids overflow
            let f = 1 / nextWeight
            for i in weights.indices { weights[i] *= f }
            total *= f
            nextWeight = 1
        }
    }

    /// The residual not exceeded by a share `q` of the (decayed) samples; 0 when empty.
    func quantile(_ q: Double) -> Double {
        guard total > 0 else { return 0 }
        let tail = Float(max(0, min(1, 1 - q))) * total
        var above: Float = 0
        var b = Self.bins - 1
        while b > 0 {
            above += weights[b]
            if above > tail { break }
            b -= 1
        }
        return Self.upperEdge(b)
    }

    var stateBytes: Int { 32 + weights.capacity * 4 }
}
