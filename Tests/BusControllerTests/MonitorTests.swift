import BackplaneModel
import ClusterStore
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import Testing
@testable import BusController

func usage(_ instance: String, _ workload: String = "default/web", at time: Double, cpu: Double, memory: Double) -> UsagePoint {
    UsagePoint(instance: instance, workload: workload, time: time, seconds: 10, cpuMillicores: cpu, memoryBytes: memory, memoryMaxBytes: memory * 1.5)
}

@Suite("BMC monitoring")
struct MonitorTests {
    @Test("instances' points are summed per 10-second bucket; a bucket closes when a later one is two steps on")
    func buckets() {
        var s = WorkloadSeries()
        s.add(usage("web-0", at: 1003, cpu: 100, memory: 1000))
        s.add(usage("web-1", at: 1007, cpu: 50, memory: 500))
        s.add(usage("web-0", at: 1013, cpu: 120, memory: 1100))
        #expect(s.points.isEmpty, "bucket 100 may still get points")
        s.add(usage("web-0", at: 1023, cpu: 90, memory: 900))
        #expect(s.points.map(\.cpuMillicores) == [150] && s.points[0].time == 1010 && s.points[0].instances == 2)
        #expect(s.points[0].memoryBytes == 1500 && s.points[0].memoryMaxBytes == 2250)
        s.add(usage("web-1", at: 1005, cpu: 999, memory: 999))
        #expect(s.points.count == 1 && s.points[0].cpuMillicores == 150, "a late point for a closed bucket is dropped")
        s.advance(to: 1040)
        #expect(s.points.map(\.cpuMillicores) == [150, 120, 90], "the clock closes buckets when no more points come")
        #expect(s.observed == 3)
    }

    @Test("1-minute means are kept, the full-resolution ring is bounded, forecasts are finite and ordered")
    func minutesAndForecast() throws {
        var config = WorkloadSeries.Configuration()
        config.ringPoints = 30
        var s = WorkloadSeries(configuration: config)
        for i in 0..<120 { s.add(usage("w-0", at: 6000 + Double(i) * 10 + 1, cpu: i % 6 == 0 ? 300 : 100, memory: 1e6)) }
        s.advance(to: 6000 + 1300)
        #expect(s.points.count == 30, "the ring keeps its last 30 points")
        #expect(s.minutes.count == 19 && s.minutes.allSatisfy { abs($0.cpuMillicores - 400.0 / 3) < 1e-9 }, "\(s.minutes.map(\.cpuMillicores))")
        let f = try #require(s.forecast(horizon: .init(seconds: 300), quantiles: [0.5, 0.9, 0.99]))
        #expect(f.allSatisfy { $0.cpuMillicores.isFinite && $0.cpuMillicores >= 100 && $0.memoryBytes >= 1e6 * 0.99 })
        #expect(s.forecast(horizon: .init(seconds: 7), quantiles: [0.5]) == nil, "no models for that horizon")
    }

    @Test("forecast quantiles come from the workload's own peak-to-limit ratios, ordered in q")
    func calibratedQuantiles() throws {
        var config = WorkloadSeries.Configuration()
        config.horizons = [.init(seconds: 60)]
        var s = WorkloadSeries(configuration: config)
        var rng = SplitMix64(seed: 7)
        for i in 0..<600 { s.add(usage("w-0", at: 10_000 + Double(i) * 10 + 1, cpu: Double.random(in: 100...400, using: &rng), memory: 1e6)) }
        s.advance(to: 10_000 + 6100)
        let limit = try #require(s.limit(horizon: .init(seconds: 60)))
        let f = try #require(s.forecast(horizon: .init(seconds: 60), quantiles: [0.1, 0.5, 0.9, 0.99]))
        #expect(zip(f, f.dropFirst()).allSatisfy { $0.cpuMillicores <= $1.cpuMillicores }, "\(f.map(\.cpuMillicores))")
        #expect(f[0].cpuMillicores < limit.cpuMillicores, "a low quantile is below the limit: \(f[0].cpuMillicores) vs \(limit.cpuMillicores)")
        #expect(f.allSatisfy { $0.cpuMillicores <= 400 * 1.1 + 1 && abs($0.memoryBytes - 1e6) < 1e6 * 0.11 })
    }

    @Test("metrics and forecast endpoints; unknown workloads, horizons and quantiles are named errors")
    func api() async throws {
        // The API reads the wall clock; a day of freshness keeps the points "latest" however
        // long a loaded machine takes to get from here to the request (a 60 s default once
        // failed this under a parallel schemathesis run).
        let bmc = BusManagementController(configuration: .init(listen: .tcp(host: "127.0.0.1", port: 0), token: "t"), store: InMemoryClusterStore(), group: MultiThreadedEventLoopGroup.singleton,
                                          monitor: Monitor(freshness: 86_400))
        try await bmc.registry.putWorkload(WorkloadSpec(name: "web", image: "busybox", command: ["httpd"], resources: Resources(cpuMillis: 250, memoryBytes: 64 << 20)))
        let now = BusManagementController.wallSeconds()
        let card = CardID(0x1_000001)
        for i in 0..<40 { bmc.monitor.ingest([usage("web-0", at: now - 400 + Double(i) * 10, cpu: 200, memory: 5e6)], from: card) }
        try await APIServer(bmc: bmc).testAsBusAdmin { client in
            try await client.execute(uri: "/v1/metrics", method: .get) { response in
                let latest = try JSONDecoder().decode([Monitor.InstanceUsage].self, from: Data(response.body.readableBytesView))
                #expect(latest.map(\.point.instance) == ["web-0"] && latest[0].card == card)
            }
            try await client.execute(uri: "/v1/workloads/web/metrics", method: .get) { response in
                let m = try JSONDecoder().decode(APIServer.WorkloadMetrics.self, from: Data(response.body.readableBytesView))
                #expect(m.workload == "default/web" && m.points.count == 38 && m.points.allSatisfy { $0.cpuMillicores == 200 })
            }
            try await client.execute(uri: "/v1/workloads/web/forecast?horizon=1m&quantiles=0.5,0.99", method: .get) { response in
                #expect(response.status == .ok)
                let f = try JSONDecoder().decode(APIServer.WorkloadForecast.self, from: Data(response.body.readableBytesView))
                #expect(f.horizonSeconds == 60 && f.observedPoints == 38 && f.quantiles.map(\.quantile) == [0.5, 0.99])
                #expect(f.quantiles.allSatisfy { $0.cpuMillicores >= 199 && $0.cpuMillicores <= 260 && $0.memoryBytes >= 4.9e6 }, "\(f.quantiles)")
            }
            for (uri, field) in [("/v1/workloads/web/forecast?horizon=2m", "horizon"), ("/v1/workloads/web/forecast?quantiles=0.5,1.5", "quantiles"), ("/v1/workloads/web/metrics?since=soon", "since")] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .badRequest, "\(uri)")
                    #expect(String(buffer: response.body).contains("\"\(field)\""), "\(uri): \(String(buffer: response.body))")
                }
            }
            try await client.execute(uri: "/v1/workloads/nope/forecast", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test("history is persisted, restored after a restart, and dropped with its workload")
    func persistence() async throws {
        let store = InMemoryClusterStore()
        let bmc = BusManagementController(configuration: .init(listen: .tcp(host: "127.0.0.1", port: 0), token: "t"), store: store, group: MultiThreadedEventLoopGroup.singleton)
        try await bmc.registry.putWorkload(WorkloadSpec(name: "web", image: "busybox", command: ["httpd"], resources: Resources(cpuMillis: 250, memoryBytes: 64 << 20)))
        for i in 0..<30 { bmc.monitor.ingest([usage("web-0", at: 60_000 + Double(i) * 10 + 1, cpu: 100, memory: 1e6)], from: CardID(0x1_000001)) }
        bmc.monitor.ingest([usage("ghost-0", "default/ghost", at: 60_001, cpu: 1, memory: 1)], from: CardID(0x1_000001))
        try await bmc.persistMetrics()
        #expect(bmc.monitor.workloads == ["default/web"], "the deleted workload's series is dropped")
        let saved = try #require(try await store.get("/metrics/default/web"))
        let record = try JSONDecoder().decode(Monitor.Persisted.self, from: Data(saved.value))
        #expect(record.minutes.count == 4)

        let restarted = BusManagementController(configuration: .init(listen: .tcp(host: "127.0.0.1", port: 0), token: "t"), store: store, group: MultiThreadedEventLoopGroup.singleton)
        try await restarted.restoreMetrics()
        let before = try #require(bmc.monitor.series("default/web"))
        let after = try #require(restarted.monitor.series("default/web"))
        #expect(after.minutes == record.minutes && after.observed == before.observed)
        for h in WorkloadSeries.Horizon.standard {
            let a = before.forecast(horizon: h, quantiles: [0.5, 0.99])!, b = after.forecast(horizon: h, quantiles: [0.5, 0.99])!
            #expect(a.map(\.cpuMillicores) == b.map(\.cpuMillicores) && a.map(\.memoryBytes) == b.map(\.memoryBytes), "restored models forecast the same (\(h))")
        }
    }
}
