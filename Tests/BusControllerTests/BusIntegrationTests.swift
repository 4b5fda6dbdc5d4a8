import BackplaneModel
import BusSecurity
import CardOS
import ClusterStore
import DirectCardLink
import DirectCardLinkNIO
import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import BusController

/// A BMC and cards in this process, on loopback, with real containers when runc is usable.
struct LocalBus {
    let group: MultiThreadedEventLoopGroup
    let store: SQLiteClusterStore
    let bmc: BusManagementController
    var cards: [CardAgent] = []
    /// Each card's run, so a test can end one card (cancelling it stops its instances and its
    /// link; the BMC sees a card that went away).
    var cardRuns: [Task<Void, any Error>] = []
    let root: String
    /// Seconds per usage point (profilers and the BMC's buckets); 10 in production.
    var usageStep: Double = 10

    static let dataToken = "data-token"
    static let tenantBDataToken = "tenant-b-data-token"

    static var runtimeKind: String { RuncRuntime.unavailableReason() == nil ? "runc" : "process" }

    /// The bus CA (mutual TLS on every link, as `backplane up` runs it); nil for plain TCP.
    var ca: BusCA?

    static func start(cards count: Int, usageStep: Double = 10, secure: Bool = true, tasks: inout ThrowingTaskGroup<Void, any Error>, joinTokens: Set<String> = [], enrollmentWindow: Duration = .seconds(30)) async throws -> LocalBus {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bp-bus-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let store = try SQLiteClusterStore(path: root + "/bmc.sqlite")
        var config = BusManagementController.Configuration(listen: .tcp(host: "127.0.0.1", port: 0), token: "test-token")
        config.reconcileInterval = .milliseconds(100)
        config.stopGrace = .milliseconds(300)
        // Data clients (shard-routed requests): one token for every tenant, one for tenant b.
        config.authenticateClient = { token in [LocalBus.dataToken: "", LocalBus.tenantBDataToken: "b"][token] }
        let ca = secure ? try BusCA.create(now: Date()) : nil
        config.security = try ca.map { ca in
            var security = try BusLinkSecurity(ca: ca)
            security.verifyJoin = { joinTokens.contains($0) }
            security.enrollmentWindow = enrollmentWindow
            return security
        }
        var series = WorkloadSeries.Configuration()
        series.step = usageStep
        series.horizons = [.init(seconds: 60)]
        let bmc = BusManagementController(configuration: config, store: store, group: group, reconciler: Reconciler(baseBackoff: .milliseconds(50)), monitor: Monitor(configuration: series))
        tasks.addTask { try await bmc.run() }
        let address = await bmc.listening()
        var bus = LocalBus(group: group, store: store, bmc: bmc, root: root, usageStep: usageStep, ca: ca)
        for i in 0..<count { try bus.addCard(i, address: address, tasks: &tasks) }
        return bus
    }

    mutating func addCard(_ i: Int, address: DCLAddress, tasks: inout ThrowingTaskGroup<Void, any Error>) throws {
        let state = "\(root)/card-\(i)"
        let runtime: any ContainerRuntime = Self.runtimeKind == "runc"
            ? try RuncRuntime(stateDirectory: state + "/runtime", cacheDirectory: root + "/cache", cgroupParent: "backplane-itest/\(UUID().uuidString.prefix(6))-\(i)")
            : try ProcessRuntime(stateDirectory: state + "/runtime")
        var config = CardAgent.Configuration(name: "card-\(i)", stateDirectory: state, bmc: address, token: "test-token", capacity: Resources(cpuMillis: 1000, memoryBytes: 512 << 20))
        config.deadAfter = .seconds(2)
        config.shardReportInterval = .milliseconds(Int64(usageStep * 100))
        config.security = ca.map { CardLinkSecurity(caFingerprint: $0.fingerprint, credentialsDirectory: state + "/tls") }
        var profiling = Profiler.Configuration()
        profiling.pointInterval = usageStep
        profiling.sampleInterval = .milliseconds(Int64(usageStep * 100))
        let agent = try CardAgent(configuration: config, runtime: runtime, group: group, profiler: Profiler(configuration: profiling))
        cards.append(agent)
        let run = Task { try await agent.run() }
        cardRuns.append(run)
        // Cancelling the test's task group (a test that throws) ends the card too.
        tasks.addTask { await withTaskCancellationHandler { _ = try? await run.value } onCancel: { run.cancel() } }
    }

    /// Waits (on store changes, no polling) until `condition` holds for the bus's state.
    func waitFor(_ what: String, within limit: Duration = .seconds(30), _ condition: @escaping @Sendable (Reconciler.Snapshot) -> Bool) async throws -> Reconciler.Snapshot {
        let registry = bmc.registry
        let store = self.store
        return try await withThrowingTaskGroup(of: Reconciler.Snapshot?.self) { group in
            group.addTask {
                // From the revision read on: a workload's delete compacts the history before it.
                var state = try await registry.read()
                var changes = store.watch(prefix: "/", fromRevision: state.revision + 1).makeAsyncIterator()
                while true {
                    if condition(state.snapshot) { return state.snapshot }
                    _ = try await changes.next()
                    state = try await registry.read()
                }
            }
            group.addTask {
                try await Task.sleep(for: limit)  // a safety net against hanging, not synchronisation
                return nil
            }
            let first = try await group.next()!
            group.cancelAll()
            guard let snapshot = first else {
                throw RuntimeError("timed out after \(limit) waiting for: \(what)")
            }
            return snapshot
        }
    }

    func stop() async throws {
        for run in cardRuns { run.cancel() }
        for run in cardRuns { _ = try? await run.value }
        await bmc.shutdown()
        try store.close()
        try await group.shutdownGracefully()
    }
}

func running(_ s: Reconciler.Snapshot, _ workload: String) -> [InstanceRecord] {
    s.instances.filter { $0.instance.workload == workload && $0.instance.state == .running }
}

@Suite("a bus in one process", .serialized)
struct BusIntegrationTests {
    @Test("deploy, restart a killed container, lose a card, delete: containers follow, nothing is left")
    func lifecycle() async throws {
        print("bus integration test runtime: \(LocalBus.runtimeKind)" + (RuncRuntime.unavailableReason().map { " (runc unavailable: \($0))" } ?? ""))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            let bus = try await LocalBus.start(cards: 3, tasks: &tasks)
            let all = try await bus.waitFor("3 ready cards") { $0.cards.filter { $0.state == .ready }.count == 3 }
            #expect(Set(all.cards.map(\.id)).count == 3)

            try await bus.bmc.registry.putWorkload(WorkloadSpec(name: "web", image: "busybox", command: ["sleep", "1000"], resources: Resources(cpuMillis: 200, memoryBytes: 64 << 20), replicas: 3))
            bus.bmc.poke()
            var s = try await bus.waitFor("3 running web instances") { running($0, "web").count == 3 }
            for r in running(s, "web") {
                #expect(r.instance.pid != nil && r.instance.runtime == LocalBus.runtimeKind)
                if LocalBus.runtimeKind == "runc", let pid = r.instance.pid {
                    let cgroups = try String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)
                    let memoryLine = cgroups.split(separator: "\n").first { $0.contains(":memory:") || $0.hasPrefix("0::") }
                    let path = String(memoryLine!.split(separator: ":", maxSplits: 2)[2])
                    #expect(CgroupPaths.memoryLimit(of: path) == 64 << 20, "\(r.instance.id) runs under its 64Mi limit")
                }
            }

            // Kill one container: the card reports the exit, the BMC restarts it.
            let victim = running(s, "web")[0]
            kill(victim.instance.pid!, SIGKILL)
            s = try await bus.waitFor("\(victim.instance.id) restarted") { snap in
                snap.instances.contains { $0.instance.id == victim.instance.id && $0.instance.restarts >= 1 && $0.instance.state == .running }
            }

            // A card dies: its instances move to the others.
            let dead = bus.cards[0]
            let deadID = try #require(dead.cardID)
            bus.cardRuns[0].cancel()
            _ = try? await bus.cardRuns[0].value
            s = try await bus.waitFor("card lost and web re-placed") { snap in
                snap.cards.first { $0.id == deadID }?.state == .lost
                    && running(snap, "web").count == 3 && running(snap, "web").allSatisfy { $0.instance.card != deadID }
            }

            // Delete: every instance stops and goes; no container is left on the live cards.
            #expect(try await bus.bmc.registry.deleteWorkload(tenant: "default", name: "web"))
            bus.bmc.poke()
            _ = try await bus.waitFor("web gone") { $0.instances.isEmpty }
            for card in bus.cards.dropFirst() { #expect(try await card.runtime.list().isEmpty) }

            tasks.cancelAll()
            try await bus.stop()
            _ = bus
        }
    }

    // The security issue: a card had another card run a container the BMC never asked for.
    // Forwarding a `command` is refused at the BMC; a request (data) naming a card's command
    // endpoint is refused by the card itself.
    @Test("a card with the join token cannot make another card start, stop or show anything")
    func cardsObeyOnlyTheBMC() async throws {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            let bus = try await LocalBus.start(cards: 1, tasks: &tasks)
            let s = try await bus.waitFor("a ready card") { $0.cards.contains { $0.state == .ready } }
            let victim = try #require(s.cards.first?.id)
            var config = DCLNode.Configuration(cardID: .unassigned, role: .card)
            config.token = "test-token"
            config.metadata = [CardProtocol.nameKey: "rogue", CardProtocol.capacityKey: String(decoding: try JSONEncoder().encode(Resources(cpuMillis: 64000, memoryBytes: 256 << 30)), as: UTF8.self)]
            // It enrolled with the join token: its certificate is valid, for its own CardID.
            let credentials = try await LinkSecurityTests.enroll(bus)
            let rogue = DCLNode(configuration: config, group: bus.group)
            _ = try await rogue.connect(to: await bus.bmc.listening(), tls: try BusTLS.cardClient(credentials), serverHostname: BusCA.bmcServerName)
            rogue.setDefaultRoute(.bmc)
            let start = CardProtocol.StartInstance(id: "evil-0", incarnation: 1, image: "busybox", command: ["sleep", "1000"], env: [:], resources: Resources(cpuMillis: 100, memoryBytes: 16 << 20), workload: "default/evil")
            for endpoint in [CardProtocol.startInstance, CardProtocol.stopInstance, CardProtocol.instanceLogs] {
                do {
                    _ = try await rogue.request(to: victim, endpoint: endpoint, body: ByteBuffer(bytes: try JSONEncoder().encode(start)), timeout: .seconds(10))
                    Issue.record("\(endpoint) from another card was served")
                } catch let error as DCLError {
                    #expect(error.status == .unauthorized, "\(endpoint): \(error)")
                }
            }
            #expect(bus.cards[0].runtime.running().isEmpty, "nothing started")
            #expect(try await bus.cards[0].runtime.list().isEmpty)
            await rogue.shutdown()
            tasks.cancelAll()
            try await bus.stop()
        }
    }

    @Test("probes on a real bus: a failing liveness probe restarts the instance with the reason; readiness is reported")
    func probes() async throws {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            let bus = try await LocalBus.start(cards: 1, tasks: &tasks)
            _ = try await bus.waitFor("a ready card") { $0.cards.contains { $0.state == .ready } }
            // Healthy for about a second, then its liveness file disappears; ready from the start.
            var spec = WorkloadSpec(name: "flaky", image: "busybox", command: ["sh", "-c", "touch /tmp/alive; sleep 1; rm /tmp/alive; sleep 1000"],
                                    resources: Resources(cpuMillis: 100, memoryBytes: 32 << 20))
            spec.liveness = Probe(check: .exec(["test", "-f", "/tmp/alive"]), periodSeconds: 1, timeoutSeconds: 2, failureThreshold: 2)
            spec.readiness = Probe(check: .exec(["true"]), periodSeconds: 1, timeoutSeconds: 2, failureThreshold: 1)
            try await bus.bmc.registry.putWorkload(spec)
            bus.bmc.poke()
            _ = try await bus.waitFor("flaky ready") { s in s.instances.contains { $0.instance.ready == true && $0.instance.state == .running } }
            let s = try await bus.waitFor("flaky restarted by its liveness probe") { s in
                s.instances.contains { $0.instance.restarts >= 1 && ($0.instance.exitReason ?? "").contains("liveness probe") }
            }
            let reason = s.instances.first?.instance.exitReason ?? ""
            print("probe restart reason: \(reason)")
            #expect(reason.contains("exec test -f /tmp/alive"))
            tasks.cancelAll()
            try await bus.stop()
        }
    }

    @Test("a running workload's usage reaches the BMC over DCL telemetry: metrics and a forecast")
    func usageAndForecast() async throws {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            let bus = try await LocalBus.start(cards: 2, usageStep: 1, tasks: &tasks)
            _ = try await bus.waitFor("2 ready cards") { $0.cards.filter { $0.state == .ready }.count == 2 }
            let spin = ["sh", "-c", "while :; do :; done"]
            try await bus.bmc.registry.putWorkload(WorkloadSpec(name: "spin", image: "busybox", command: spin, resources: Resources(cpuMillis: 200, memoryBytes: 32 << 20), replicas: 2))
            bus.bmc.poke()
            _ = try await bus.waitFor("2 running spin instances") { running($0, "spin").count == 2 }
            // Points arrive every second; wait (bounded) until the BMC has closed a few buckets.
            var series: WorkloadSeries?
            for _ in 0..<200 {
                bus.bmc.monitor.advance(to: BusManagementController.wallSeconds())
                series = bus.bmc.monitor.series("default/spin")
                if let s = series, s.points.count >= 3, s.points.last!.instances == 2 { break }
                try await Task.sleep(for: .milliseconds(100))  // usage accrues in real time
            }
            let s = try #require(series, "no usage reached the BMC")
            let last = try #require(s.points.last)
            print("bus usage: \(s.points.count) points; last: \(last.instances) instance(s), cpu \(Int(last.cpuMillicores))m, memory \(Int(last.memoryBytes)) B")
            #expect(last.instances == 2)
            if LocalBus.runtimeKind == "runc" {
                #expect(last.cpuMillicores > 150 && last.cpuMillicores < 2 * 200 * 1.3, "two spinners held to 200m each")
            }
            let latest = bus.bmc.monitor.latest(now: BusManagementController.wallSeconds())
            #expect(Set(latest.map(\.point.instance)) == ["spin-0", "spin-1"])
            let f = try #require(s.forecast(horizon: .init(seconds: 60), quantiles: [0.9]))
            #expect(f[0].cpuMillicores > 0 && f[0].memoryBytes > 0)

            tasks.cancelAll()
            try await bus.stop()
        }
    }
}
