import BackplaneModel
import ClusterStore
import Foundation
import Testing
import WorkloadBalancer
@testable import BusController

func spec(_ name: String, replicas: Int = 1, cpu: Int64 = 250, memoryMi: Int64 = 64, priority: Int = 500, restart: WorkloadSpec.RestartPolicy = .always) -> WorkloadSpec {
    WorkloadSpec(name: name, priority: priority, image: "busybox", command: ["sleep", "1000"], resources: Resources(cpuMillis: cpu, memoryBytes: memoryMi << 20), replicas: replicas, restart: restart)
}

func card(_ n: UInt64, state: Card.State = .ready, cpu: Int64 = 2000, memoryMi: Int64 = 1024) -> Card {
    Card(id: CardID(0x1_000000 + n), name: "card-\(n)", state: state, capacity: Resources(cpuMillis: cpu, memoryBytes: memoryMi << 20))
}

let t0 = Instant(nanoseconds: 1_000_000_000_000)

/// Runs reconcile → apply until nothing changes, like the BMC's loop.
func settle(_ registry: Registry, _ reconciler: Reconciler = Reconciler(), now: Instant = t0) async throws -> Registry.State {
    for _ in 0..<10 {
        let state = try await registry.read()
        let changes = reconciler.reconcile(state.snapshot, now: now)
        if changes.isEmpty { return state }
        #expect(try await registry.apply(changes, readAt: state))
    }
    Issue.record("did not settle in 10 rounds")
    return try await registry.read()
}

@Suite("BMC reconciler and plan applier")
struct ReconcilerTests {
    @Test("a workload's replicas are placed across the ready cards")
    func placesReplicas() async throws {
        let registry = Registry(store: InMemoryClusterStore())
        for n: UInt64 in 1...3 { try await registry.putCard(card(n)) }
        try await registry.putWorkload(spec("web", replicas: 3))
        let state = try await settle(registry)
        let instances = state.snapshot.instances.sorted { $0.instance.id < $1.instance.id }
        #expect(instances.map(\.instance.id) == ["web-0", "web-1", "web-2"])
        #expect(instances.allSatisfy { $0.instance.state == .starting })
        #expect(Set(instances.compactMap(\.instance.card)).count == 3, "spread over three cards")
    }

    // The security issue: tenants A and B each deploying `shared` got one instance between them
    // (ids were `<name>-<ordinal>`), logs mixed.
    @Test("two tenants' workloads of one name run side by side, each with its own instances; an old id is replaced")
    func tenantsSideBySide() async throws {
        let registry = Registry(store: InMemoryClusterStore())
        for n: UInt64 in 1...2 { try await registry.putCard(card(n)) }
        var a = spec("shared", replicas: 2)
        a.tenant = "team-a"
        var b = spec("shared", replicas: 1)
        b.tenant = "team-b"
        for s in [spec("shared"), a, b] { try await registry.putWorkload(s) }
        var state = try await settle(registry)
        let ids = state.snapshot.instances.map(\.instance.id).sorted()
        #expect(ids == ["shared-0", "team-a_shared-0", "team-a_shared-1", "team-b_shared-0"])
        #expect(state.snapshot.instances.allSatisfy { $0.instance.state == .starting })
        for r in state.snapshot.instances { #expect(r.instance.id.hasPrefix(r.instance.tenant == "default" ? "shared" : r.instance.tenant + "_")) }
        // A record under the id an older BMC gave (`shared-1` for team-a's ordinal 1) is stopped,
        // and the ordinal is placed under its own id.
        var old = InstanceRecord(spec: a, ordinal: 1)
        old.instance.id = "shared-1"
        old.instance.state = .running
        old.instance.card = card(1).id
        #expect(try await registry.updateInstance(old))
        state = try await settle(registry)
        #expect(state.snapshot.instances.first { $0.instance.id == "shared-1" }?.instance.state == .stopping)
        #expect(state.snapshot.instances.contains { $0.instance.id == "team-a_shared-1" })
    }

    @Test("a tenant's quota holds: replicas past it stay pending with the quota in the reason; other tenants are not limited")
    func quotaHolds() async throws {
        let registry = Registry(store: InMemoryClusterStore())
        for n: UInt64 in 1...2 { try await registry.putCard(card(n)) }
        try await registry.putQuota(Quota(tenant: "team-a", cpuMillis: 600, memoryBytes: 1 << 30))
        var a = spec("web", replicas: 4, cpu: 250)
        a.tenant = "team-a"
        try await registry.putWorkload(a)
        try await registry.putWorkload(spec("web", replicas: 4, cpu: 250))
        var state = try await settle(registry)
        let teamA = state.snapshot.instances.filter { $0.instance.tenant == "team-a" }
        #expect(teamA.filter { $0.instance.state == .starting }.count == 2, "600m admits two of 250m")
        let pending = teamA.filter { $0.instance.state == .pending }
        #expect(pending.count == 2)
        #expect(pending.allSatisfy { ($0.instance.pendingReason?.description ?? "").contains("tenant team-a holds") }, "\(pending.map { $0.instance.pendingReason?.description ?? "" })")
        #expect(state.snapshot.instances.filter { $0.instance.tenant == "default" && $0.instance.state == .starting }.count == 4)
        // Raising the quota lets the rest in.
        try await registry.putQuota(Quota(tenant: "team-a", cpuMillis: 1000, memoryBytes: 1 << 30))
        state = try await settle(registry)
        #expect(state.snapshot.instances.filter { $0.instance.tenant == "team-a" && $0.instance.state == .starting }.count == 4)
    }

    @Test("a workload that fits nowhere stays pending with the structured reason")
    func pendingReason() async throws {
        let registry = Registry(store: InMemoryClusterStore())
        for n: UInt64 in 1...3 { try await registry.putCard(card(n, memoryMi: 256)) }
        try await registry.putWorkload(spec("db", memoryMi: 512))
        let state = try await settle(registry)
        let db = try #require(state.snapshot.instances.first)
        #expect(db.instance.state == .pending)
        #expect(db.instance.pendingReason?.description == "insufficient memory on 3 of 3 cards (requested 512Mi, largest free 256Mi)")
    }

    @Test("GPU requests go to cards with matching devices; the rest wait with a GPU reason; stale device records do not crash")
    func gpuPlacement() async throws {
        let registry = Registry(store: InMemoryClusterStore())
        var t4 = card(1)
        t4.gpus = ["T4", "T4"]
        try await registry.putCard(t4)
        try await registry.putCard(card(2))
        var train = spec("train", replicas: 3)
        train.gpu = GPUDemand(count: 1)
        try await registry.putWorkload(train)
        var infer = spec("infer")
        infer.gpu = GPUDemand(count: 1, milliPerDevice: 500, models: ["A100"])
        try await registry.putWorkload(infer)
        var state = try await settle(registry)
        let placed = state.snapshot.instances.filter { $0.instance.workload == "train" && $0.instance.state == .starting }
        #expect(placed.count == 2 && placed.allSatisfy { $0.instance.card == t4.id })
        #expect(Set(placed.compactMap(\.instance.gpuDevices)) == [[0], [1]], "one device each")
        let waiting = state.snapshot.instances.filter { $0.instance.state == .pending }
        #expect(waiting.count == 2)
        for w in waiting {
            #expect(w.instance.pendingReason?.description.contains("gpu") == true || w.instance.pendingReason?.description.contains("GPU") == true, "\(w.instance.id): \(w.instance.pendingReason?.description ?? "-")")
        }
        // The card comes back with one device: the record of device 1 is stale.
        t4.gpus = ["T4"]
        try await registry.putCard(t4)
        state = try await settle(registry)
        #expect(state.snapshot.instances.filter { $0.instance.state == .pending }.count == 2)
    }

    @Test("a stale plan is rejected; the re-plan succeeds")
    func stalePlan() async throws {
        let registry = Registry(store: InMemoryClusterStore())
        try await registry.putCard(card(1))
        try await registry.putWorkload(spec("web"))
        let state = try await registry.read()
        let changes = Reconciler().reconcile(state.snapshot, now: t0)
        try await registry.putCard(card(1, state: .draining))  // the world moved on
        #expect(try await registry.apply(changes, readAt: state) == false)
        let fresh = try await registry.read()
        let replanned = Reconciler().reconcile(fresh.snapshot, now: t0)
        #expect(try await registry.apply(replanned, readAt: fresh))
        #expect(try await registry.instance("web-0")?.instance.state == .pending, "the only card is draining now")
    }

    @Test("instances of a lost card are placed again elsewhere")
    func lostCard() async throws {
        let registry = Registry(store: InMemoryClusterStore())
        for n: UInt64 in 1...2 { try await registry.putCard(card(n)) }
        try await registry.putWorkload(spec("web", replicas: 2))
        let before = try await settle(registry)
        let victim = try #require(before.snapshot.instances.first { $0.instance.card == CardID(0x1_000001) })
        try await registry.putCard(card(1, state: .lost))
        let after = try await settle(registry)
        let moved = try #require(after.snapshot.instances.first { $0.instance.id == victim.instance.id })
        #expect(moved.instance.card == CardID(0x1_000002) && moved.instance.state == .starting)
    }

    @Test("exited instances restart per policy, after an exponential backoff")
    func restartBackoff() async throws {
        let registry = Registry(store: InMemoryClusterStore())
        try await registry.putCard(card(1))
        try await registry.putWorkload(spec("job", restart: .onFailure))
        _ = try await settle(registry)
        var r = try #require(try await registry.instance("job-0"))
        r.instance.state = .exited
        r.instance.exitCode = 1
        r.instance.restarts = 2
        r.exitedAt = t0
        #expect(try await registry.updateInstance(r))
        let reconciler = Reconciler(baseBackoff: .seconds(1))
        _ = try await settle(registry, reconciler, now: t0 + .seconds(3))
        #expect(try await registry.instance("job-0")?.instance.state == .exited, "backoff is 4 s after 2 restarts")
        _ = try await settle(registry, reconciler, now: t0 + .seconds(4))
        let restarted = try #require(try await registry.instance("job-0"))
        #expect(restarted.instance.state == .starting && restarted.instance.restarts == 3)

        var done = restarted
        done.instance.state = .exited
        done.instance.exitCode = 0
        done.exitedAt = t0 + .seconds(5)
        #expect(try await registry.updateInstance(done))
        _ = try await settle(registry, reconciler, now: t0 + .seconds(100))
        #expect(try await registry.instance("job-0")?.instance.state == .exited, "on-failure does not restart a clean exit")
    }

    @Test("scaling down and deleting stop instances; stopped ones are removed")
    func scaleDownAndDelete() async throws {
        let registry = Registry(store: InMemoryClusterStore())
        try await registry.putCard(card(1))
        try await registry.putWorkload(spec("web", replicas: 3))
        _ = try await settle(registry)
        try await registry.putWorkload(spec("web", replicas: 1))
        _ = try await settle(registry)
        #expect(try await registry.instance("web-2")?.instance.state == .stopping)
        #expect(try await registry.instance("web-0")?.instance.state == .starting)
        var stopped = try #require(try await registry.instance("web-2"))
        stopped.instance.state = .stopped
        #expect(try await registry.updateInstance(stopped))
        _ = try await settle(registry)
        #expect(try await registry.instance("web-2") == nil)
        #expect(try await registry.deleteWorkload(tenant: "default", name: "web"))
        _ = try await settle(registry)
        #expect(try await registry.instance("web-0")?.instance.state == .stopping)
    }

    @Test("CardIDs are handed out once, never reused")
    func cardIDs() async throws {
        let store = InMemoryClusterStore()
        let registry = Registry(store: store)
        let a = try await registry.assignCardID()
        let b = try await registry.assignCardID()
        #expect(a == .firstAssignable && b == CardID(CardID.firstAssignable.rawValue + 1))
        #expect(try await Registry(store: store).assignCardID() == CardID(CardID.firstAssignable.rawValue + 2))
    }
}

@Suite("card draining")
struct DrainTests {
    @Test("a draining card's instances stop and are placed on other cards; it takes nothing new")
    func drain() async throws {
        let registry = Registry(store: InMemoryClusterStore())
        try await registry.putCard(card(1))
        try await registry.putWorkload(spec("web", replicas: 2))
        _ = try await settle(registry)
        try await registry.putCard(card(2))
        try await registry.putCard(card(1, state: .draining))
        _ = try await settle(registry)
        for id in ["web-0", "web-1"] {
            var r = try #require(try await registry.instance(id))
            #expect(r.instance.state == .stopping && r.instance.card == CardID(0x1_000001))
            r.instance.state = .stopped  // what the card reports once it has stopped them
            #expect(try await registry.updateInstance(r))
        }
        let after = try await settle(registry)
        #expect(after.snapshot.instances.allSatisfy { $0.instance.state == .starting && $0.instance.card == CardID(0x1_000002) })
    }
}

@Suite("secrets at rest")
struct SecretsAtRestTests {
    // The security issue: the secrets of deleted workloads remained readable in the WAL.
    @Test("a deleted workload's env secret is in neither the store file nor its WAL")
    func deletedSecretsAreGone() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bp-secrets-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/bmc.sqlite"
        let store = try SQLiteClusterStore(path: path)
        let registry = Registry(store: store)
        let secret = "S3CR3T-\(UUID().uuidString)"
        var web = spec("web")
        web.env = ["DB_PASSWORD": secret]
        try await registry.putCard(card(1))
        try await registry.putWorkload(web)
        try await registry.putWorkload(spec("other"))
        // Instances placed and updated: their records must not carry the secret either.
        _ = try await settle(registry)
        #expect(try await registry.read().snapshot.instances.count == 2)
        func onDisk() throws -> Bool {
            let needle = Data(secret.utf8)
            for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
                if try Data(contentsOf: URL(fileURLWithPath: path + suffix)).range(of: needle) != nil { return true }
            }
            return false
        }
        #expect(try onDisk(), "the check sees the secret while the workload exists")
        #expect(try await registry.deleteWorkload(tenant: "default", name: "web"))
        #expect(try !onDisk(), "gone from the database file and the WAL after the delete")
        #expect(try await registry.read().snapshot.workloads.map(\.name) == ["other"], "the rest is intact")
        try store.close()
        let reopened = try SQLiteClusterStore(path: path)
        #expect(try await Registry(store: reopened).read().snapshot.workloads.map(\.name) == ["other"])
        try reopened.close()
    }
}

@Suite("audit log")
struct AuditLogTests {
    @Test("the log is bounded: every 100 writes it drops all but the newest `limit`; order is by time")
    func bounded() async throws {
        var log = AuditLog(store: InMemoryClusterStore())
        log.limit = 5
        for i in 0..<250 {
            try await log.append(AuditEntry(time: Instant(nanoseconds: 1_000 + UInt64(i)), who: "0123456789abcdef", method: "POST", route: "/v1/workloads", target: "/v1/workloads", status: 200 + i % 2))
        }
        let all = try await log.entries(count: 10_000)
        #expect(all.count == 55, "5 kept at the 200th write, 50 since")
        #expect(all.map(\.time.nanoseconds) == (195..<250).map { 1_000 + UInt64($0) })
        #expect(try await log.entries(since: 1_000 + 240, count: 3).map(\.time.nanoseconds) == [1_247, 1_248, 1_249])
    }

    /// The hostile test's finding: 10,100 requests with a bad token pushed every real entry out.
    @Test("a flood of requests without a valid token keeps its own window and never evicts real entries")
    func anonymousFloodKeepsRealEntries() async throws {
        var log = AuditLog(store: InMemoryClusterStore())
        log.limit = 10
        log.anonymousLimit = 5
        try await log.append(AuditEntry(time: Instant(nanoseconds: 1), who: "0123456789abcdef", role: "bus-admin", method: "DELETE", route: "/v1/cards/:id", target: "/v1/cards/c-0001-000000", status: 200))
        for i in 0..<500 {
            try await log.append(AuditEntry(time: Instant(nanoseconds: 10 + UInt64(i)), who: AuditEntry.anonymous, method: "DELETE", route: "/v1/workloads/:name", target: "/v1/workloads/x\(i)", status: 401))
        }
        let all = try await log.entries(count: 10_000)
        #expect(all.first?.who == "0123456789abcdef", "the card removal is still there")
        #expect(all.filter { $0.who == AuditEntry.anonymous }.count <= 5 + 100)
        #expect(all.map(\.time.nanoseconds) == all.map(\.time.nanoseconds).sorted())
        #expect(try await log.entries(count: 10_000, tenant: "team-a").isEmpty)
    }
}
