import BackplaneModel
import Foundation
import Testing
@testable import Forecasting

/// A seeded random series, hostile on request: gaps, zeros, NaN, ±infinity, negative values and
/// huge spikes among otherwise plausible usage.
func randomSeries(seed: UInt64, hostile: Bool) -> (times: [Double], values: [Double]) {
    var rng = SplitMix64(seed: seed)
    let n = Int.random(in: 1...1200, using: &rng)
    let level = Double.random(in: 0.01...10_000, using: &rng)
    var times: [Double] = [], values: [Double] = []
    var t = Double.random(in: 0...2e9, using: &rng).rounded()
    for i in 0..<n {
        let r = Double.random(in: 0...1, using: &rng)
        var v = level * (1 + 0.5 * sin(Double(i) / 288 * 2 * .pi)) * Double.random(in: 0.7...1.3, using: &rng)
        if hostile {
            v = r < 0.1 ? 0 : r < 0.12 ? level * 1e4 : r < 0.13 ? .nan : r < 0.14 ? -5 : r < 0.145 ? .infinity : r < 0.15 ? -.infinity : v
            t += r > 0.98 ? 86_400 * Double.random(in: 0.1...3, using: &rng) : 300
        } else {
            t += 300
        }
        times.append(t)
        values.append(v)
    }
    return (times, values)
}

@Suite("model properties over seeded random series")
struct ModelPropertyTests {
    static let seeds: [UInt64] = Array(1...25)

    @Test("limits are finite, non-negative and non-decreasing in q", arguments: [ModelKind.holtWinters, .quantileRegression, .ensemble])
    func monotoneInQuantile(kind: ModelKind) {
        for seed in Self.seeds {
            for hostile in [false, true] {
                let (times, values) = randomSeries(seed: seed, hostile: hostile)
                var m = kind.make(horizon: 12, quantile: 0.99)
                for i in values.indices {
                    m.observe(values[i], at: times[i])
                    guard i % 7 == 0 || i == values.count - 1 else { continue }
                    var previous = -1.0
                    for q in [0.5, 0.8, 0.9, 0.95, 0.99, 0.999] {
                        let l = m.limit(horizon: 12, quantile: q)
                        #expect(l.isFinite && l >= 0, "\(kind) seed \(seed) hostile \(hostile) row \(i) q \(q): \(l)")
                        #expect(l >= previous, "\(kind) seed \(seed) hostile \(hostile) row \(i): limit falls from \(previous) to \(l) at q \(q)")
                        previous = l
                    }
                }
            }
        }
    }

    @Test("decode ∘ encode gives identical limits, now and after more rows", arguments: ModelKind.allCases)
    func codecRoundTrip(kind: ModelKind) throws {
        for seed in Self.seeds {
            for hostile in [false, true] {
                let (times, values) = randomSeries(seed: seed, hostile: hostile)
                let cut = values.count / 2
                var original = kind.make(horizon: 12, quantile: 0.99)
                for i in 0..<cut { original.observe(values[i], at: times[i]) }
                var restored = try ModelCodec.decode(ModelCodec.encode(original))
                #expect(restored.name == original.name)
                #expect(restored.limit(horizon: 12, quantile: 0.99) == original.limit(horizon: 12, quantile: 0.99), "\(kind) seed \(seed)")
                for i in cut..<values.count {
                    original.observe(values[i], at: times[i])
                    restored.observe(values[i], at: times[i])
                    let a = original.limit(horizon: 12, quantile: 0.99), b = restored.limit(horizon: 12, quantile: 0.99)
                    if a != b {
                        Issue.record("\(kind) seed \(seed) hostile \(hostile): row \(i) limit \(a) vs restored \(b)")
                        break
                    }
                }
            }
        }
    }

    @Test("a state that is not a model state is rejected with a coded error")
    func codecRejects() {
        #expect(throws: ModelCodec.Error.self) { try ModelCodec.decode(Data("hello".utf8)) }
        #expect(throws: ModelCodec.Error.self) { try ModelCodec.decode(Data("BPFM".utf8) + [99] + Data("{}".utf8)) }
        #expect(throws: ModelCodec.Error.self) { try ModelCodec.decode(Data("BPFM".utf8) + [1] + Data("{\"nope\":{}}".utf8)) }
    }

    @Test("very short histories give a finite, non-negative limit from the first row", arguments: ModelKind.allCases)
    func shortHistory(kind: ModelKind) {
        var m = kind.make(horizon: 12, quantile: 0.99)
        #expect(m.limit(horizon: 12, quantile: 0.99) == 0)
        m.observe(5, at: 0)
        let l = m.limit(horizon: 12, quantile: 0.99)
        #expect(l.isFinite && l >= 0)
    }
}
