import BackplaneModel
import Testing
@testable import BusController

@Suite("shard load: rates from the cards' counts, and forecasts")
struct ShardLoadTests {
    static let card = CardID(0x1_000000)
    static let other = CardID(0x2_000000)

    func report(_ rows: [(UInt32, String, UInt64, UInt64)]) -> ShardProtocol.Stats {
        ShardProtocol.Stats(shards: rows.map { ShardProtocol.ShardStats(workload: "default/kv", shard: $0.0, instance: $0.1, requests: $0.2, bytes: $0.3) })
    }

    @Test("a rate is the count's change over time; a forecast appears after three rates and follows a rising load")
    func ratesAndForecast() throws {
        var load = ShardLoad()
        let key = ShardLoad.Key(workload: "default/kv", shard: 3)
        var requests: UInt64 = 0
        for step in 0...30 {
            // 100 req/s, rising by 10 req/s every step.
            if step > 0 { requests += UInt64(100 + 10 * step) * 10 }
            load.ingest(report([(3, "kv-0", requests, 1_000)]), from: Self.card, at: Double(step) * 10)
            if step == 2 { #expect(load.forecast(key)?.requestsPerSecond == nil, "two rates: no forecast yet") }
        }
        let series = try #require(load.series[key])
        #expect(series.requestsPerSecond == 400)
        let forecast = try #require(load.forecast(key)?.requestsPerSecond)
        #expect(forecast >= 400 * 0.999, "a rising load's forecast is at least where it is: \(forecast)")
        #expect(load.forecast(key)?.bytes.map { $0 >= 1_000 * 0.999 && $0 < 1_000_000 } == true)
    }

    @Test("a new owner, another card or a count that went back starts the baseline again: no negative or huge rate")
    func baselines() throws {
        var load = ShardLoad()
        let key = ShardLoad.Key(workload: "default/kv", shard: 1)
        load.ingest(report([(1, "kv-0", 1_000, 0)]), from: Self.card, at: 0)
        load.ingest(report([(1, "kv-0", 2_000, 0)]), from: Self.card, at: 10)
        #expect(load.series[key]?.requestsPerSecond == 100)
        // Moved: kv-1's count on another card is its own.
        load.ingest(report([(1, "kv-1", 50, 0)]), from: Self.other, at: 20)
        #expect(load.series[key]?.requestsPerSecond == 100, "no rate across owners")
        load.ingest(report([(1, "kv-1", 250, 0)]), from: Self.other, at: 30)
        #expect(load.series[key]?.requestsPerSecond == 20)
        // The card agent restarted: its count starts at 0 again.
        load.ingest(report([(1, "kv-1", 5, 0)]), from: Self.other, at: 40)
        #expect(load.series[key]?.requestsPerSecond == 20)
        // Reports closer than a second apart, and non-finite times, change no rate.
        load.ingest(report([(1, "kv-1", 1_000_000, 0)]), from: Self.other, at: 40.5)
        load.ingest(report([(1, "kv-1", 9_000_000, 0)]), from: Self.other, at: .nan)
        #expect(load.series[key]?.requestsPerSecond == 20)
        load.keep(only: [])
        #expect(load.series.isEmpty)
    }
}
