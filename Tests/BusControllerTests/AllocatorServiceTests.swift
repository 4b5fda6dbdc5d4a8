import BackplaneModel
import Foundation
import Testing
import WorkloadBalancer
@testable import BusController

@Suite("the BMC's allocator service")
struct AllocatorServiceTests {
    static let card = CardID(0x1_000000)

    func plan(request: Int? = nil, idle: [CardID] = []) -> Allocator.Plan {
        var p = Allocator.Plan()
        if let request { p.cardRequest = Allocator.CardRequest(count: request, shape: Resources(cpuMillis: 2000, memoryBytes: 4 << 30), reason: "test") }
        p.idleCards = idle.map { Allocator.IdleCard(card: $0, name: "card-\($0.rawValue & 0xff)", costPerHour: 1) }
        return p
    }

    @Test("the provisioner hook: a request when the count first appears or changes; a release once a card has been idle 60 s, once")
    func provisionerCalls() {
        let service = AllocatorService()
        #expect(service.provisionerCalls(plan(request: 2), now: 0) == [["request", "2", "2000", "\(4 << 30)"]])
        #expect(service.provisionerCalls(plan(request: 2), now: 10).isEmpty, "unchanged: not asked again")
        #expect(service.provisionerCalls(plan(request: 3), now: 20) == [["request", "3", "2000", "\(4 << 30)"]])
        #expect(service.provisionerCalls(plan(), now: 30).isEmpty)
        #expect(service.provisionerCalls(plan(request: 3), now: 40).count == 1, "asked again after it was met")
        #expect(service.provisionerCalls(plan(idle: [Self.card]), now: 100).isEmpty)
        #expect(service.provisionerCalls(plan(idle: [Self.card]), now: 150).isEmpty)
        #expect(service.provisionerCalls(plan(idle: [Self.card]), now: 160) == [["release", Self.card.description, "card-0"]])
        #expect(service.provisionerCalls(plan(idle: [Self.card]), now: 170).isEmpty, "released once")
        // Busy again, then idle: the 60 s start over.
        #expect(service.provisionerCalls(plan(), now: 180).isEmpty)
        #expect(service.provisionerCalls(plan(idle: [Self.card]), now: 190).isEmpty)
        #expect(service.provisionerCalls(plan(idle: [Self.card]), now: 250) == [["release", Self.card.description, "card-0"]])
    }

    @Test("the snapshot: forecasts split by usage share, instances without fresh usage only hold room, quota-held instances are not waiting for cards")
    func snapshot() throws {
        let spec = WorkloadSpec(name: "w", image: "busybox", command: ["x"], resources: Resources(cpuMillis: 1000, memoryBytes: 256 << 20), replicas: 3)
        var running = [InstanceRecord(spec: spec, ordinal: 0), InstanceRecord(spec: spec, ordinal: 1), InstanceRecord(spec: spec, ordinal: 2)]
        for i in 0..<2 {
            running[i].instance.state = .running
            running[i].instance.card = Self.card
        }
        running[2].instance.state = .pending
        running[2].instance.pendingReason = PendingReason(dimension: .cpu, requested: 1000, largestFree: 0, cardsShort: 1, cardsConsidered: 1, notReady: [:], detail: "tenant quota exceeded (…)")
        let bus = Reconciler.Snapshot(workloads: [spec], instances: running, cards: [Card(id: Self.card, name: "c", state: .ready, capacity: Resources(cpuMillis: 4000, memoryBytes: 8 << 30))])
        // Usage: w-0 uses 300m, w-1 100m; w-1's point is from another card (stale placement): not sized.
        let now = 10_000.0
        let usage = [
            Monitor.InstanceUsage(card: Self.card, point: UsagePoint(instance: "w-0", workload: "default/w", time: now, seconds: 10, cpuMillicores: 300, memoryBytes: 52_428_800, memoryMaxBytes: 62_914_560)),
            Monitor.InstanceUsage(card: CardID(0x1_000009), point: UsagePoint(instance: "w-1", workload: "default/w", time: now, seconds: 10, cpuMillicores: 100, memoryBytes: 52_428_800, memoryMaxBytes: 62_914_560)),
        ]
        var series = WorkloadSeries()
        for k in 0..<30 {
            for (id, cpu) in [("w-0", 300.0), ("w-1", 100.0)] {
                series.add(UsagePoint(instance: id, workload: "default/w", time: now - 300 + Double(k) * 10, seconds: 10, cpuMillicores: cpu, memoryBytes: 52_428_800, memoryMaxBytes: 62_914_560))
            }
        }
        series.advance(to: now)
        let (s, forecasts) = AllocatorService().snapshot(bus, usage: usage, series: { $0 == "default/w" ? series : nil }, now: now)
        let w0 = try #require(s.instances.first { $0.sizing.id == "w-0" })
        let w1 = try #require(s.instances.first { $0.sizing.id == "w-1" })
        #expect(w0.sizing.mode == .recommend && w1.sizing.mode == .off, "w-1's usage came from another card")
        #expect(s.instances.count == 2 && s.waiting.isEmpty, "the quota-held instance does not ask for cards")
        let f = try #require(forecasts.first)
        #expect(f.observedPoints >= 6 && (f.shortCPUMillicores ?? 0) > 0)
        // w-0 used 300m of the workload's 400m: three quarters of its forecast.
        #expect(abs(w0.sizing.forecastCPU - (f.shortCPUMillicores ?? 0) * 0.75) < 1e-6)
    }
}
