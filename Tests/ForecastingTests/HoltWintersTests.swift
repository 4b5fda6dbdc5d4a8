import BackplaneModel
import Foundation
import Testing
@testable import Forecasting

@Suite("Holt-Winters")
struct HoltWintersTests {
    @Test("a constant series gets that constant as its limit")
    func constant() {
        var m = HoltWinters(horizon: 12)
        feed(&m, Array(repeating: 40, count: 2000))
        let l = m.limit(horizon: 12, quantile: 0.99)
        #expect(abs(l - 40) < 0.4, "limit \(l)")
        #expect(m.period == nil, "a constant has no season")
    }

    @Test("after a step up the limit follows within a few hours")
    func step() {
        var m = HoltWinters(horizon: 12)
        feed(&m, Array(repeating: 10, count: 600))
        feed(&m, Array(repeating: 100, count: 36), start: 600 * 300)
        #expect(m.limit(horizon: 12, quantile: 0.99) >= 95)
    }

    @Test("a pure daily season is detected and the limit follows it")
    func season() {
        var m = HoltWinters(horizon: 12)
        var values: [Double] = []
        for i in 0..<(288 * 5) { values.append(50 + 40 * sin(Double(i % 288) / 288 * 2 * .pi)) }
        feed(&m, values)
        #expect(m.period == 86_400)
        // Continue into day 6 and compare the limit at the trough and at the peak with the truth.
        var atTrough = 0.0, atPeak = 0.0
        for i in (288 * 5)..<(288 * 6) {
            let phase = i % 288
            m.observe(50 + 40 * sin(Double(phase) / 288 * 2 * .pi), at: Double(i) * 300)
            if phase == 288 * 3 / 4 - 12 { atTrough = m.limit(horizon: 12, quantile: 0.99) }  // next hour: the minimum, 10
            if phase == 288 / 4 - 12 { atPeak = m.limit(horizon: 12, quantile: 0.99) }  // next hour: the maximum, 90
        }
        #expect(atPeak >= 89 && atPeak <= 110, "limit before the peak \(atPeak)")
        #expect(atTrough <= 30, "limit before the trough \(atTrough)")
        #expect(atPeak - atTrough >= 0.75 * 80, "the limit swings with the season: \(atTrough) … \(atPeak)")
    }

    @Test("a lone spike is forgotten once its residuals are under 1 % of the recent ones")
    func spike() {
        var m = HoltWinters(horizon: 12)
        var values = Array(repeating: 20.0, count: 3000)
        values[500] = 2_000
        feed(&m, values)
        let l = m.limit(horizon: 12, quantile: 0.99)
        #expect(l >= 19.9 && l < 25, "limit \(l)")
    }
}

@Suite("quantile regression")
struct QuantileRegressionTests {
    @Test("a constant series gets about that constant as its limit")
    func constant() {
        var m = QuantileRegression(horizon: 12, quantile: 0.99)
        feed(&m, Array(repeating: 40, count: 2000))
        let l = m.limit(horizon: 12, quantile: 0.99)
        #expect(l >= 39 && l <= 44, "limit \(l)")
    }

    @Test("after a step up the limit covers the new level within a few hours")
    func step() {
        var m = QuantileRegression(horizon: 12, quantile: 0.99)
        feed(&m, Array(repeating: 10, count: 600))
        feed(&m, Array(repeating: 100, count: 36), start: 600 * 300)
        #expect(m.limit(horizon: 12, quantile: 0.99) >= 95)
    }

    @Test("noisy usage: about 1 % of next-hour peaks exceed the 0.99 limit once trained")
    func coverage() {
        var rng = SplitMix64(seed: 7)
        var m = QuantileRegression(horizon: 12, quantile: 0.99)
        var values: [Double] = []
        for i in 0..<(288 * 30) { values.append(50 + 20 * sin(Double(i % 288) / 288 * 2 * .pi) + Double.random(in: 0...10, using: &rng)) }
        var limits: [Double] = []
        for (i, v) in values.enumerated() {
            m.observe(v, at: Double(i) * 300)
            limits.append(m.limit(horizon: 12, quantile: 0.99))
        }
        var missed = 0, total = 0
        for t in stride(from: 288 * 10, to: values.count - 12, by: 1) {
            total += 1
            if values[(t + 1)...(t + 12)].max()! > limits[t] { missed += 1 }
        }
        let rate = Double(missed) / Double(total)
        #expect(rate < 0.05, "peaks above the limit: \(rate)")
    }
}
