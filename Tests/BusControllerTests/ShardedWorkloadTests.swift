import BackplaneModel
import BusSecurity
import CardOS
import DirectCardLink
import DirectCardLinkNIO
import Foundation
import KeyValueApp
import NIOCore
import ShardSDK
import Sharding
import Synchronization
import Testing
@testable import BusController

/// A sharded workload on a bus in this process: its instances run (containers or processes)
/// and their apps are the reference key-value store, linked to each card's shard host over its
/// real Unix socket with the instance's token. A data client drives it over mutual-TLS DCL.
@Suite("sharded workloads on a bus in one process", .serialized)
struct ShardedWorkloadTests {
    static func spec(shards: Int = 16) -> WorkloadSpec {
        var spec = WorkloadSpec(name: "kv", image: "busybox", command: ["sleep", "100000"], resources: Resources(cpuMillis: 100, memoryBytes: 32 << 20), replicas: 3)
        spec.shards = ShardSpec(count: shards)
        return spec
    }

    /// Links an app to the shard host of every card for each instance it runs. The apps MUST be
    /// stopped (``stopApps(_:)``) before the bus's event loops shut down.
    static func startApps(_ bus: LocalBus, _ s: Reconciler.Snapshot, app: @escaping @Sendable (String) -> any ShardApp) -> [Task<Void, any Error>] {
        var apps: [Task<Void, any Error>] = []
        for r in running(s, "kv") {
            guard let card = bus.cards.first(where: { $0.cardID == r.instance.card }) else { continue }
            let env = card.shardHost.register(instance: r.instance.id, inContainer: false)
            let settings = ShardAppConnection.Settings(socket: env[ShardAppWire.socketVariable]!, token: env[ShardAppWire.tokenVariable]!, instance: r.instance.id)
            let store = app(r.instance.id)
            apps.append(Task { try await ShardAppConnection.serve(store, settings: settings, group: bus.group) })
        }
        return apps
    }

    static func stopApps(_ apps: [Task<Void, any Error>]) async {
        for app in apps { app.cancel() }
        for app in apps { _ = try? await app.value }
    }

    /// A data client of the bus (mutual TLS's server half, an API token).
    static func client(_ bus: LocalBus, token: String = LocalBus.dataToken) async throws -> DCLNode {
        var config = DCLNode.Configuration(cardID: .unassigned, role: .client)
        config.token = token
        config.metadata = [CardProtocol.purposeKey: CardProtocol.dataPurpose]
        let node = DCLNode(configuration: config, group: bus.group)
        let ca = try #require(bus.ca)
        try await node.connect(to: await bus.bmc.listening(), tls: try BusTLS.client(trusting: ca.certificate), serverHostname: BusCA.bmcServerName)
        return node
    }

    static func call(_ node: DCLNode, _ key: String, _ body: ByteBuffer) async throws -> KeyValueWire.Answer {
        let reply = try await node.request(workload: "default/kv", shardKey: ByteBuffer(string: key), endpoint: ShardProtocol.request, body: body, via: .bmc, timeout: .seconds(15))
        return try KeyValueWire.decodeAnswer(reply)
    }

    /// Waits until every shard of default/kv has a running owner the BMC routes to.
    static func waitForRoutes(_ bus: LocalBus, _ node: DCLNode) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let view = try await bus.bmc.shards.view("default/kv", limit: nil), view.shards.allSatisfy({ $0.card != nil }) {
                if (try? await call(node, "probe", KeyValueWire.request(.get))) != nil { return }
            }
            await Task.yield()
            bus.bmc.poke()  // the next reconciliation pushes maps and builds the routing table
            try await Task.sleep(for: .milliseconds(20))  // polling the BMC's view for routes, not synchronising work
        }
        throw RuntimeError("no route to every shard of default/kv within 30 s")
    }

    /// Writers that each own some keys, write them with increasing versions and check that every
    /// read of them returns the last acknowledged version. Returns (acknowledged, failed, wrong).
    static func load(_ node: DCLNode, writers: Int, keysEach: Int, until stop: StopFlag) async -> (ok: Int, failed: [String], wrong: [String], last: [String: Int]) {
        await withTaskGroup(of: (Int, [String], [String], [String: Int]).self) { group in
            for w in 0..<writers {
                group.addTask {
                    var ok = 0, failed: [String] = [], wrong: [String] = [], last: [String: Int] = [:]
                    var round = 0
                    while !stop.isSet || round < 2 {
                        round += 1
                        // Paced (a load, not a busy loop that starves the rest of the test run).
                        if round > 1 { try? await Task.sleep(for: .milliseconds(50)) }
                        for k in 0..<keysEach {
                            let key = "w\(w)-k\(k)"
                            do {
                                let answer = try await call(node, key, KeyValueWire.request(.set, value: ByteBuffer(string: "\(key)#\(round)")))
                                if answer == .stored { ok += 1; last[key] = round } else { wrong.append("\(key): set answered \(answer)") }
                                let read = try await call(node, key, KeyValueWire.request(.get))
                                if read == .value(ByteBuffer(string: "\(key)#\(round)")) { ok += 1 } else { wrong.append("\(key): read \(read), wrote #\(round)") }
                            } catch {
                                failed.append("\(key): \(error)")
                            }
                        }
                    }
                    return (ok, failed, wrong, last)
                }
            }
            var total = (ok: 0, failed: [String](), wrong: [String](), last: [String: Int]())
            for await (ok, failed, wrong, last) in group {
                total.ok += ok
                total.failed += failed
                total.wrong += wrong
                total.last.merge(last) { a, _ in a }
            }
            return total
        }
    }

    @Test("half the shards move while clients write and read: no request fails, every read is the last write, the map and epochs follow")
    func migrateUnderLoad() async throws {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            let bus = try await LocalBus.start(cards: 3, tasks: &tasks)
            _ = try await bus.waitFor("3 ready cards") { $0.cards.filter { $0.state == .ready }.count == 3 }
            try await bus.bmc.registry.putWorkload(Self.spec())
            bus.bmc.poke()
            let s = try await bus.waitFor("3 running kv instances") { running($0, "kv").count == 3 }
            let apps = Self.startApps(bus, s, app: { _ in KeyValueStore() })
            let node = try await Self.client(bus)
            try await Self.waitForRoutes(bus, node)

            let before = try #require(try await bus.bmc.shards.view("default/kv", limit: nil))
            #expect(before.shards.count == 16)
            #expect(Set(before.shards.map(\.owner)) == ["kv-0", "kv-1", "kv-2"], "16 shards dealt to 3 instances")
            let stop = StopFlag()
            async let traffic = Self.load(node, writers: 4, keysEach: 25, until: stop)
            var moved: [ShardService.MigrationReport] = []
            for shard in before.shards.prefix(8) {
                moved.append(try await bus.bmc.shards.migrate(workload: "default/kv", shard: shard.id))
            }
            stop.set()
            let result = await traffic
            #expect(result.failed.isEmpty, "failed requests: \(result.failed.prefix(5))")
            #expect(result.wrong.isEmpty, "wrong answers: \(result.wrong.prefix(5))")
            #expect(result.ok >= 400, "4 writers × 25 keys × 2 rounds × (write + read)")
            #expect(moved.allSatisfy { $0.outcome == "done" }, "\(moved.filter { $0.outcome != "done" }.map { "\($0.shard): \($0.reason ?? "")" })")
            #expect(moved.allSatisfy { $0.choice?.contains("fewest") == true }, "the engine says why it chose each target")
            // Each card's link to the BMC counted what it carried (the links' current use).
            let carried = bus.bmc.node.linkBytes
            #expect(bus.cards.allSatisfy { (carried[$0.cardID ?? .unassigned]?.received ?? 0) > 0 && (carried[$0.cardID ?? .unassigned]?.sent ?? 0) > 0 }, "\(carried)")
            let after = try #require(try await bus.bmc.shards.view("default/kv", limit: nil))
            #expect(after.epoch == before.epoch + 8, "one epoch per migration")
            for (report, old) in zip(moved, before.shards) {
                #expect(after.shards.first { $0.id == old.id }?.owner == report.to && report.from == old.owner)
            }
            // Every acknowledged write reads back, after all the moves.
            for (key, round) in result.last {
                #expect(try await Self.call(node, key, KeyValueWire.request(.get)) == .value(ByteBuffer(string: "\(key)#\(round)")))
            }
            let events = bus.bmc.recentEvents.withLock { $0 }.filter { $0.kind.hasPrefix("shard") }
            #expect(events.filter { $0.kind == "shard.migrated" }.count == 8)
            // The cards report their shards' counts (every second here): the BMC measures rates.
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline, !bus.bmc.shards.state.withLock({ $0.load.series.values.contains { $0.requestsPerSecond ?? 0 > 0 } }) {
                _ = try? await Self.call(node, "w0-k0", KeyValueWire.request(.get))  // keeps counts moving
                try await Task.sleep(for: .milliseconds(50))  // polling for a report, not synchronising work
            }
            #expect(bus.bmc.shards.state.withLock { $0.load.series.values.contains { $0.requestsPerSecond ?? 0 > 0 } }, "a shard rate from the cards' reports")
            await node.shutdown()
            await Self.stopApps(apps)
            try await bus.stop()
            tasks.cancelAll()
        }
    }

    @Test("splits and merges change only the map: under load no request fails or reads wrong; a split's new half moves and back; merging needs one owner; another shard's migration commits across a split")
    func splitAndMergeUnderLoad() async throws {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            let bus = try await LocalBus.start(cards: 3, tasks: &tasks)
            _ = try await bus.waitFor("3 ready cards") { $0.cards.filter { $0.state == .ready }.count == 3 }
            try await bus.bmc.registry.putWorkload(Self.spec(shards: 4))
            bus.bmc.poke()
            let s = try await bus.waitFor("3 running kv instances") { running($0, "kv").count == 3 }
            let apps = Self.startApps(bus, s, app: { _ in KeyValueStore() })
            let node = try await Self.client(bus)
            try await Self.waitForRoutes(bus, node)
            let shards = bus.bmc.shards
            let before = try #require(try await shards.view("default/kv", limit: nil))
            let zero = try #require(before.shards.first { $0.id == 0 })

            let stop = StopFlag()
            async let traffic = Self.load(node, writers: 4, keysEach: 25, until: stop)
            // Shard 1 moves while shard 0 splits: the migration's commit lands on the split map.
            async let moving = shards.migrate(workload: "default/kv", shard: 1)
            let split = try await shards.split(workload: "default/kv", shard: 0)
            #expect(split.kind == "split" && split.shards.map(\.id) == [0, split.other] && split.other == 4)
            #expect(split.shards[0].lower == zero.lower && split.shards[1].upper == zero.upper && split.shards.allSatisfy { $0.owner == zero.owner })
            let movedOne = try await moving
            #expect(movedOne.outcome == "done", "\(movedOne.reason ?? "")")
            // The new half moves away; now the halves have different owners and cannot merge.
            let away = try await shards.migrate(workload: "default/kv", shard: split.other)
            #expect(away.outcome == "done" && away.to != zero.owner, "\(away.reason ?? "")")
            await #expect(throws: ShardService.MigrationRefused.self) { _ = try await shards.merge(workload: "default/kv", shard: 0) }
            let back = try await shards.migrate(workload: "default/kv", shard: split.other, toInstance: zero.owner)
            #expect(back.outcome == "done", "\(back.reason ?? "")")
            let merged = try await shards.merge(workload: "default/kv", shard: 0)
            #expect(merged.shards.count == 1 && merged.shards[0].lower == zero.lower && merged.shards[0].upper == zero.upper && merged.other == split.other)
            // Refusals name what is wrong and change nothing.
            let epoch = try #require(try await shards.view("default/kv", limit: nil)).epoch
            await #expect(throws: ShardService.MigrationRefused.self) { _ = try await shards.split(workload: "default/kv", shard: 99) }
            await #expect(throws: ShardService.MigrationRefused.self) { _ = try await shards.split(workload: "default/kv", shard: 0, at: 0) }
            await #expect(throws: ShardService.MigrationRefused.self) { _ = try await shards.split(workload: "default/kv", shard: 0, at: UInt64(zero.upper, radix: 16)! &+ 1) }
            let last = try #require(try await shards.view("default/kv", limit: nil)?.shards.last)
            await #expect(throws: ShardService.MigrationRefused.self) { _ = try await shards.merge(workload: "default/kv", shard: last.id) }
            #expect(try #require(try await shards.view("default/kv", limit: nil)).epoch == epoch)

            stop.set()
            let result = await traffic
            #expect(result.failed.isEmpty, "failed requests: \(result.failed.prefix(5))")
            #expect(result.wrong.isEmpty, "wrong answers: \(result.wrong.prefix(5))")
            for (key, round) in result.last {
                #expect(try await Self.call(node, key, KeyValueWire.request(.get)) == .value(ByteBuffer(string: "\(key)#\(round)")))
            }
            let kinds = bus.bmc.recentEvents.withLock { $0 }.map(\.kind)
            #expect(kinds.contains("shard.split") && kinds.contains("shard.merge"))
            #expect(kinds.filter { $0 == "shard.migration.step" }.count >= 3 * 7, "each migration's steps are events")
            await node.shutdown()
            await Self.stopApps(apps)
            try await bus.stop()
            tasks.cancelAll()
        }
    }

    /// A key-value store whose restore fails: a migration to it must abort.
    final class FailingRestore: ShardApp {
        let inner = KeyValueStore()
        func serve(_ shard: ShardRange, key: ByteBuffer, request: ByteBuffer) async throws -> ByteBuffer { try await inner.serve(shard, key: key, request: request) }
        func prepare(_ shard: ShardRange) async throws { try await inner.prepare(shard) }
        func snapshot(_ shard: ShardRange) async throws -> (sequence: UInt64, data: ByteBuffer) { try await inner.snapshot(shard) }
        func changes(_ shard: ShardRange, since: UInt64) async throws -> (sequence: UInt64, data: ByteBuffer) { try await inner.changes(shard, since: since) }
        func sequence(_ shard: ShardRange) async throws -> UInt64 { try await inner.sequence(shard) }
        func restore(_ shard: ShardRange, snapshot: ByteBuffer) async throws { throw KeyValueError("disk full (a test's failure)") }
        func apply(_ shard: ShardRange, changes: ByteBuffer) async throws { try await inner.apply(shard, changes: changes) }
        func release(_ shard: ShardRange) async throws { try await inner.release(shard) }
        func drop(_ shard: ShardRange) async throws { try await inner.drop(shard) }
        func sizes(_ shards: [ShardRange]) async -> [UInt64] { await inner.sizes(shards) }
    }

    @Test("a migration whose target fails aborts: the shard stays, keeps its data and serves; the epoch does not move")
    func abortKeepsTheShard() async throws {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            let bus = try await LocalBus.start(cards: 2, tasks: &tasks)
            _ = try await bus.waitFor("2 ready cards") { $0.cards.filter { $0.state == .ready }.count == 2 }
            var spec = Self.spec(shards: 4)
            spec.replicas = 2
            try await bus.bmc.registry.putWorkload(spec)
            bus.bmc.poke()
            let s = try await bus.waitFor("2 running kv instances") { running($0, "kv").count == 2 }
            let apps = Self.startApps(bus, s, app: { $0 == "kv-1" ? FailingRestore() as any ShardApp : KeyValueStore() })
            let node = try await Self.client(bus)
            try await Self.waitForRoutes(bus, node)
            let view = try #require(try await bus.bmc.shards.view("default/kv", limit: nil))
            let shard = try #require(view.shards.first { $0.owner == "kv-0" })
            // Keys of that shard, written before the move.
            let map = try #require(try await bus.bmc.shards.maps()["default/kv"]?.map)
            let keys = (0..<2000).map { "key-\($0)" }.filter { map.shard(forKey: Array($0.utf8)).id == shard.id }.prefix(20)
            for key in keys { #expect(try await Self.call(node, key, KeyValueWire.request(.set, value: ByteBuffer(string: key))) == .stored) }

            let report = try await bus.bmc.shards.migrate(workload: "default/kv", shard: shard.id, toInstance: "kv-1")
            #expect(report.outcome == "aborted")
            #expect(report.reason?.contains("disk full") == true, "\(report.reason ?? "")")
            let after = try #require(try await bus.bmc.shards.view("default/kv", limit: nil))
            #expect(after.epoch == view.epoch && after.shards.first { $0.id == shard.id }?.owner == "kv-0")
            for key in keys { #expect(try await Self.call(node, key, KeyValueWire.request(.get)) == .value(ByteBuffer(string: key)), "\(key) after the abort") }
            #expect(try await Self.call(node, keys.first!, KeyValueWire.request(.set, value: ByteBuffer(string: "again"))) == .stored, "the source serves writes again (unfenced)")
            #expect(bus.bmc.recentEvents.withLock { $0 }.contains { $0.kind == "shard.migration.aborted" })
            // A second migration of the same shard is not refused by leftovers of the first.
            do {
                _ = try await bus.bmc.shards.migrate(workload: "default/kv", shard: 99_999)
                Issue.record("a migration of a shard that does not exist started")
            } catch let refused as ShardService.MigrationRefused {
                #expect(refused.message.contains("no shard 99999"))
            }
            await node.shutdown()
            await Self.stopApps(apps)
            try await bus.stop()
            tasks.cancelAll()
        }
    }

    @Test("data clients: a token of another tenant is refused the workload, no token is refused the link, a client cannot reach a card")
    func dataClientsAreScoped() async throws {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            let bus = try await LocalBus.start(cards: 1, tasks: &tasks)
            let s = try await bus.waitFor("a ready card") { $0.cards.contains { $0.state == .ready } }
            var spec = Self.spec(shards: 2)
            spec.replicas = 1
            try await bus.bmc.registry.putWorkload(spec)
            bus.bmc.poke()
            let running1 = try await bus.waitFor("a running kv instance") { running($0, "kv").count == 1 }
            let apps = Self.startApps(bus, running1, app: { _ in KeyValueStore() })
            let admin = try await Self.client(bus)
            try await Self.waitForRoutes(bus, admin)

            let other = try await Self.client(bus, token: LocalBus.tenantBDataToken)
            do {
                _ = try await Self.call(other, "k", KeyValueWire.request(.get))
                Issue.record("tenant b's client read default/kv")
            } catch let error as DCLError {
                #expect(error.status == .unauthorized)
            }
            do {
                _ = try await Self.client(bus, token: "guess")
                Issue.record("a client without a valid token linked")
            } catch let error as DCLError {
                #expect(error.status == .unauthorized)
            }
            // Straight to the card: the BMC closes a client's link that asks it to forward.
            let card = try #require(s.cards.first?.id)
            do {
                _ = try await admin.request(to: card, endpoint: ShardProtocol.stats, body: ByteBuffer(), timeout: .seconds(5))
                Issue.record("a client reached a card through the BMC")
            } catch let error as DCLError {
                #expect([.unauthorized, .peerDead, .shuttingDown, .noRoute].contains(error.status), "\(error)")
            }
            await other.shutdown()
            await admin.shutdown()
            await Self.stopApps(apps)
            try await bus.stop()
            tasks.cancelAll()
        }
    }

    @Test("an app with another instance's token, or none, is refused by the shard host")
    func shardHostTokens() async throws {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            let bus = try await LocalBus.start(cards: 1, tasks: &tasks)
            _ = try await bus.waitFor("a ready card") { $0.cards.contains { $0.state == .ready } }
            let host = bus.cards[0].shardHost
            let real = host.register(instance: "kv-0", inContainer: false)
            let other = host.register(instance: "kv-1", inContainer: false)
            #expect(real[ShardAppWire.tokenVariable] != other[ShardAppWire.tokenVariable])
            #expect(host.register(instance: "kv-0", inContainer: true)[ShardAppWire.socketVariable] == ShardHost.containerDirectory + "/shard.sock")
            for (token, instance) in [(other[ShardAppWire.tokenVariable]!, "kv-0"), ("", "kv-0"), (real[ShardAppWire.tokenVariable]!, "../kv-0")] {
                let settings = ShardAppConnection.Settings(socket: real[ShardAppWire.socketVariable]!, token: token, instance: instance)
                do {
                    try await ShardAppConnection.serve(KeyValueStore(), settings: settings, group: bus.group)
                    Issue.record("an app linked as \(instance) with a wrong token")
                } catch let error as DCLError {
                    #expect(error.status == .unauthorized)
                }
            }
            try await bus.stop()
            tasks.cancelAll()
        }
    }
}

final class StopFlag: Sendable {
    private let value = Atomic(false)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func set() { value.store(true, ordering: .relaxed) }
}
