import ArgumentParser
import BackplaneModel
import BusController
import BusSecurity
import CardOS
import ClusterStore
import DirectCardLinkNIO
import Foundation
import KeyValueApp
import NIOCore
import NIOPosix
import ShardSDK
import Sharding
import Synchronization

struct MigrateBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Live shard migration under load: cut-over pause, failed and wrong requests, latency idle and during migration, copy rate.",
        discussion: """
        In this process, on loopback, with the real code: a BMC (SQLite store, mutual TLS on every \
        DCL link) and 3 cards (process runtime: each instance is a `sleep`; its app is the \
        reference key-value store in this process, linked to the card's shard host over the real \
        Unix socket with the instance's token, as the container's app would be). A sharded workload \
        of --shards shards over 3 instances is preloaded with --keys keys of --value-bytes (written \
        straight into the apps). A data client (DCL, mutual TLS, API token) sends --rate requests a \
        second, half reads and half writes, each read checked against the last acknowledged write: \
        first --idle seconds with nothing moving, then while --migrate shards move one after another.
        """)

    @Flag(help: "Print one JSON object.") var json = false
    @Option(help: "Shards of the workload.") var shards = 64
    @Option(help: "Keys preloaded.") var keys = 1_000_000
    @Option(help: "Bytes per value.") var valueBytes = 100
    @Option(help: "Requests per second (half reads, half writes).") var rate = 1000
    @Option(help: "Seconds of load before any migration.") var idle = 10.0
    @Option(help: "Shards moved, one after another.") var migrate = 32
    @Option(help: "Snapshot copy rate in MB/s (0: unpaced, the BMC's default).") var copyRate = 0.0

    func validate() throws {
        guard (3...4096).contains(shards), (1...shards).contains(migrate) else { throw ValidationError("--shards 3…4096 and --migrate 1…shards") }
        guard (1...20_000_000).contains(keys), (16...65_536).contains(valueBytes), (1...100_000).contains(rate), idle > 0 else { throw ValidationError("--keys, --value-bytes, --rate or --idle out of range") }
    }

    func run() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bp-migrate-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let store = try SQLiteClusterStore(path: root + "/bmc.sqlite")
        let token = "bench-data-token"
        var config = BusManagementController.Configuration(listen: .tcp(host: "127.0.0.1", port: 0), token: "bench-join")
        config.reconcileInterval = .milliseconds(200)
        config.authenticateClient = { $0 == token ? "" : nil }
        config.migrationCopyRate = copyRate > 0 ? UInt64(copyRate * 1e6) : nil
        let ca = try BusCA.create(now: Date())
        config.security = try BusLinkSecurity(ca: ca)
        let bmc = BusManagementController(configuration: config, store: store, group: group)
        let figures: [(String, Any)] = try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await bmc.run() }
            let address = await bmc.listening()
            var cards: [CardAgent] = []
            for i in 0..<3 {
                let state = "\(root)/card-\(i)"
                var c = CardAgent.Configuration(name: "card-\(i)", stateDirectory: state, bmc: address, token: "bench-join", capacity: Resources(cpuMillis: 4000, memoryBytes: 8 << 30))
                c.security = CardLinkSecurity(caFingerprint: ca.fingerprint, credentialsDirectory: state + "/tls")
                let agent = try CardAgent(configuration: c, runtime: try ProcessRuntime(stateDirectory: state + "/runtime"), group: group)
                cards.append(agent)
                tasks.addTask { try await agent.run() }
            }
            defer { tasks.cancelAll() }
            var spec = WorkloadSpec(name: "kv", image: "busybox", command: ["sleep", "100000"], resources: Resources(cpuMillis: 100, memoryBytes: 64 << 20), replicas: 3)
            spec.shards = ShardSpec(count: shards)
            try await Self.until("3 cards ready") { try await bmc.registry.read().snapshot.cards.filter { $0.state == .ready }.count == 3 }
            try await bmc.registry.putWorkload(spec)
            bmc.poke()
            try await Self.until("3 instances running") { try await bmc.registry.read().snapshot.instances.filter { $0.instance.state == .running }.count == 3 }
            let snapshot = try await bmc.registry.read().snapshot
            var apps: [String: KeyValueStore] = [:]
            for r in snapshot.instances {
                guard let card = cards.first(where: { $0.cardID == r.instance.card }) else { continue }
                let env = card.shardHost.register(instance: r.instance.id, inContainer: false)
                let settings = ShardAppConnection.Settings(socket: env[ShardAppWire.socketVariable]!, token: env[ShardAppWire.tokenVariable]!, instance: r.instance.id)
                let app = KeyValueStore()
                apps[r.instance.id] = app
                tasks.addTask { try await ShardAppConnection.serve(app, settings: settings, group: group) }
            }
            // Preload, straight into the owners.
            let map = try await Self.waitForMap(bmc)
            var padding = ByteBuffer(repeating: UInt8(ascii: "p"), count: valueBytes)
            padding.moveReaderIndex(to: 0)
            for i in 0..<keys {
                let key = ByteBuffer(string: "key:\(i)")
                let shard = map.shard(forKey: key.readableBytesView)
                _ = try await apps[shard.owner]!.serve(ShardRange(id: shard.id, lower: shard.lower, upper: shard.upper), key: key, request: KeyValueWire.request(.set, value: padding))
            }
            var client = DCLNode.Configuration(cardID: .unassigned, role: .client)
            client.token = token
            client.metadata = [CardProtocol.purposeKey: CardProtocol.dataPurpose]
            let node = DCLNode(configuration: client, group: group)
            try await node.connect(to: address, tls: try BusTLS.client(trusting: ca.certificate), serverHostname: BusCA.bmcServerName)
            try await Self.until("every shard routed") {
                guard let view = try await bmc.shards.view("default/kv", limit: nil), view.shards.allSatisfy({ $0.card != nil }) else { return false }
                return (try? await node.request(workload: "default/kv", shardKey: ByteBuffer(string: "key:0"), endpoint: ShardProtocol.request, body: KeyValueWire.request(.get), via: .bmc)) != nil
            }
            let load = KeyValueLoad(keys: keys, valueBytes: valueBytes, writeShare: 0.5, seed: 42) { key, body in
                try await node.request(workload: "default/kv", shardKey: key, endpoint: ShardProtocol.request, body: body, via: .bmc, timeout: .seconds(10))
            }
            let idleReport = try await load.run(rate: rate, duration: .milliseconds(Int64(idle * 1000)), preload: false, progress: { _ in })
            // Migrations under the same load.
            let flag = DoneFlag()
            async let busy = load.run(rate: rate, duration: .seconds(3600), preload: false, stop: { flag.isDone }, progress: { _ in })
            let owners = map.owners
            var reports: [ShardService.MigrationReport] = []
            let clock = ContinuousClock()
            let began = clock.now
            for (i, shard) in map.shards.prefix(migrate).enumerated() {
                let others = owners.filter { $0 != shard.owner }
                reports.append(try await bmc.shards.migrate(workload: "default/kv", shard: shard.id, toInstance: others[i % others.count]))
            }
            let migrating = Self.seconds(clock.now - began)
            flag.set()
            let busyReport = try await busy
            await node.shutdown()
            let pauses = reports.compactMap(\.pauseMilliseconds)
            let bytes = reports.reduce(UInt64(0)) { $0 + $1.bytes }
            return [
                ("copy_rate_mb_per_s", copyRate), ("shards", shards), ("keys", keys), ("value_bytes", valueBytes), ("rate", rate), ("migrations", reports.count),
                ("aborted", reports.filter { $0.outcome != "done" }.count),
                ("cutover_pause_p50_ms", Stats.round2(Stats.percentile(pauses, 50))),
                ("cutover_pause_p99_ms", Stats.round2(Stats.percentile(pauses, 99))),
                ("cutover_pause_max_ms", Stats.round2(pauses.max() ?? .nan)),
                ("failed_requests", idleReport.failed + busyReport.failed + idleReport.verifyFailed + busyReport.verifyFailed),
                ("wrong_reads", idleReport.wrong + busyReport.wrong),
                ("requests_idle", idleReport.reads + idleReport.writes),
                ("requests_during_migration", busyReport.reads + busyReport.writes),
                ("request_p50_us_idle", Stats.round2(idleReport.p50Micros)),
                ("request_p99_us_idle", Stats.round2(idleReport.p99Micros)),
                ("request_p50_us_during_migration", Stats.round2(busyReport.p50Micros)),
                ("request_p99_us_during_migration", Stats.round2(busyReport.p99Micros)),
                ("migrated_bytes", Int(bytes)),
                ("migration_seconds", Stats.round2(migrating)),
                ("migrated_mb_per_s", Stats.round2(Double(bytes) / 1e6 / max(migrating, 1e-9))),
            ]
        }
        await bmc.shutdown()
        try store.close()
        try await group.shutdownGracefully()
        var report = Report()
        report.add("benchmark", "migrate")
        report.add("build", Stats.buildMode)
        report.add("cores", ProcessInfo.processInfo.activeProcessorCount)
        report.add("machine", Stats.machine())
        for (k, v) in figures { report.add(k, v) }
        print(json ? report.json() : report.text())
    }

    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

    static func waitForMap(_ bmc: BusManagementController) async throws -> ShardMap {
        var found: ShardMap?
        try await until("the shard map") {
            bmc.poke()
            found = try await bmc.shards.maps()["default/kv"]?.map
            return found != nil
        }
        return found!
    }

    /// Polls `condition` every 50 ms for up to 60 s (setting up the bus, not measuring).
    static func until(_ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ValidationError("the bench's bus did not reach: \(what) within 60 s")
    }
}

final class DoneFlag: Sendable {
    private let value = Atomic(false)
    var isDone: Bool { value.load(ordering: .relaxed) }
    func set() { value.store(true, ordering: .relaxed) }
}

