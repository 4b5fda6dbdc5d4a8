import BackplaneModel
import Foundation
import Testing
@testable import Forecasting

func feed(_ model: inout some LimitModel, _ values: [Double], step: Double = 300, start: Double = 0) {
    for (i, v) in values.enumerated() { model.observe(v, at: start + Double(i) * step) }
}

@Suite("forecasting models")
struct ModelTests {
    @Test("window max covers the last h rows and forgets older spikes")
    func windowMax() {
        var m = WindowMax(steps: 3)
        feed(&m, [1, 9, 2, 3])
        #expect(m.limit(horizon: 3, quantile: 0.99) == 9)
        m.observe(1, at: 5000)
        #expect(m.limit(horizon: 3, quantile: 0.99) == 3, "9 is four rows old")
    }

    @Test("the 24 h peak forgets what is older than a day")
    func peak() {
        var m = TimeWindowMax(seconds: 86_400)
        m.observe(50, at: 0)
        m.observe(10, at: 3600)
        #expect(m.limit(horizon: 12, quantile: 0.99) == 50)
        m.observe(20, at: 86_400 + 1)
        #expect(m.limit(horizon: 12, quantile: 0.99) == 20)
    }

    @Test("a decayed percentile of a constant series is that constant, to one 5 % bucket")
    func constant() {
        var m = DecayedPercentile(name: "p90", percentile: 0.9, halfLife: 86_400, window: 8 * 86_400)
        feed(&m, Array(repeating: 100, count: 500))
        let l = m.limit(horizon: 12, quantile: 0.9)
        #expect(l >= 100 && l <= 105.1)
    }

    @Test("newer samples weigh more: after a step up, the percentile follows within a few half-lives")
    func step() {
        var m = DecayedPercentile(name: "p95", percentile: 0.95, halfLife: 3600, window: nil)
        feed(&m, Array(repeating: 10, count: 288))
        feed(&m, Array(repeating: 200, count: 60), start: 288 * 300)  // 5 hours of the new level
        #expect(m.limit(horizon: 12, quantile: 0.95) >= 200)
    }

    @Test("the ensemble follows the safe candidate on a bursty series and a tight one on a smooth series")
    func ensembleChooses() {
        // A one-row burst every 2 hours: the last hour's max misses half the bursts.
        var bursty = Ensemble(horizon: 12, quantile: 0.99)
        let bursts: [Double] = (0..<(288 * 4)).map { (i: Int) -> Double in i % 24 == 0 ? 90 : 10 }
        feed(&bursty, bursts)
        #expect(["peak-24h", "w^0.25·p^0.75"].contains(bursty.choice), "chose \(bursty.choice)")
        #expect(bursty.limit(horizon: 12, quantile: 0.99) >= 60)
        // Slowly creeping memory: the window max with a little headroom.
        var smooth = Ensemble(horizon: 12, quantile: 0.99)
        let creeping: [Double] = (0..<(288 * 4)).map { (i: Int) -> Double in 1000 + Double(i) * 0.5 + Double(i % 7) }
        feed(&smooth, creeping)
        #expect(smooth.choice.hasPrefix("window-max"), "chose \(smooth.choice)")
        let l = smooth.limit(horizon: 12, quantile: 0.99)
        #expect(l >= 1000 + 1151 * 0.5 && l <= (1000 + 1151 * 0.5 + 7) * 1.1)
    }

    @Test("a daily spike is foreseen: the ensemble follows the same window one day earlier")
    func dailySpike() {
        // 5-minute rows; every day rows 100…105 jump from 10 to 90.
        let day: [Double] = (0..<288).map { (i: Int) -> Double in (100..<106).contains(i) ? 90 : 10 }
        var peaks = DailyWindowPeaks(steps: 12)
        for (i, v) in (day + day + Array(day.prefix(96))).enumerated() { peaks.observe(v, at: Double(i) * 300) }  // stop 4 rows before the spike, day 3
        #expect(peaks.peak == 90, "the coming hour held 90 yesterday")
        var e = Ensemble(horizon: 12, quantile: 0.99)
        feed(&e, Array(repeating: day, count: 5).flatMap { $0 } + Array(day.prefix(96)))
        #expect(e.limit(horizon: 12, quantile: 0.99) >= 90, "chose \(e.choice)")
        var quiet = Ensemble(horizon: 12, quantile: 0.99)
        feed(&quiet, Array(repeating: day, count: 5).flatMap { $0 } + Array(day.prefix(200)))
        #expect(quiet.limit(horizon: 12, quantile: 0.99) < 90, "after the spike the limit comes down (chose \(quiet.choice))")
    }

    @Test("no model emits NaN, infinity or a negative limit, on hostile series (seeded)", arguments: ModelKind.allCases)
    func robust(kind: ModelKind) {
        for seed in UInt64(1)...30 {
            var rng = SplitMix64(seed: seed)
            var m = kind.make(horizon: 12)
            #expect(m.limit(horizon: 12, quantile: 0.99) == 0, "no history, seed \(seed)")
            var t = 0.0
            for _ in 0..<Int.random(in: 1...1500, using: &rng) {
                let r = Double.random(in: 0...1, using: &rng)
                let v: Double = r < 0.1 ? 0 : r < 0.12 ? 1e7 : r < 0.13 ? .nan : r < 0.14 ? -5 : r < 0.145 ? .infinity : Double.random(in: 0...100, using: &rng)
                t += r < 0.02 ? 86_400 * 2 : 300  // gaps
                m.observe(v, at: t)
                let l = m.limit(horizon: 12, quantile: 0.99)
                #expect(l.isFinite && l >= 0, "\(kind) seed \(seed)")
            }
        }
    }
}

@Suite("backtest")
struct BacktestTests {
    @Test("evaluation rows follow the rule t = W, W+S, … while t + H < rows")
    func rows() {
        #expect(Array(Backtest.evaluationRows(rows: 300, horizon: 12, stride: 12, warmup: 288)).isEmpty)
        #expect(Array(Backtest.evaluationRows(rows: 301, horizon: 12, stride: 12, warmup: 288)) == [288])
        #expect(Array(Backtest.evaluationRows(rows: 325, horizon: 12, stride: 12, warmup: 288)) == [288, 300, 312])
        #expect(Array(Backtest.evaluationRows(rows: 10, horizon: 2, stride: 3, warmup: 0)) == [0, 3, 6])
    }

    @Test("a limit uses rows up to t only and covers rows t+1 … t+H")
    func noLookahead() {
        let values: [Double] = Array(repeating: 1, count: 13) + [100] + Array(repeating: 1, count: 20)
        let times = values.indices.map { Double($0) * 300 }
        let r = Backtest.run(.windowMax, times: times, values: values, horizon: 4, stride: 4, warmup: 12, quantile: 0.99)
        #expect(r.limits.map(\.row) == [12, 16, 20, 24, 28])
        #expect(r.limits[0].limit == 1, "the spike at row 13 is not visible at row 12")
        #expect(r.limits[1].limit == 100, "window of 4 rows at t=16 includes row 13")
        #expect(r.covered.count == 20)
        #expect(r.covered.violationRate() == 1.0 / 20)
    }

    @Test("slack@1%: the smallest multiplier that brings violations to 1 %, and the slack there")
    func slackAtOnePercent() {
        var c = CoveredSteps()
        for i in 0..<1000 { c.add(limit: 10, usage: i < 50 ? 15 : 5) }  // 5 % exceed 10; none exceed 15
        #expect(c.violationRate() == 0.05)
        let (m, slack, rate) = c.slackAt(violationRate: 0.01)
        #expect(abs(m - 1.5) < 1e-6 && rate == 0)
        #expect(abs(slack - (950.0 * 10 + 0) / 15000) < 1e-6)
    }
}

@Suite("backtest over a whole series")
struct WholeSeriesTests {
    @Test("every model's limits cover rows past warm-up with the documented row count")
    func rowCount() {
        var rng = SplitMix64(seed: 11)
        var values: [Double] = []
        for i in 0..<1000 {
            let daily: Double = 40 * sin(Double(i) / 288 * 2 * Double.pi)
            values.append(50 + daily + Double.random(in: 0...5, using: &rng))
        }
        let times = values.indices.map { Double($0) * 300 }
        for kind in ModelKind.allCases {
            let r = Backtest.run(kind, times: times, values: values, horizon: 12, stride: 12, warmup: 288, quantile: 0.99)
            #expect(r.limits.count == (1000 - 12 - 1 - 288) / 12 + 1, "\(kind)")
            #expect(r.covered.count == r.limits.count * 12)
            #expect(r.limits.allSatisfy { $0.limit.isFinite && $0.limit >= 0 })
        }
    }
}
