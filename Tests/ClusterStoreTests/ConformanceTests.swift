import BackplaneModel
import Foundation
import Synchronization
import Testing
@testable import ClusterStore

/// A clock tests move by hand.
final class ManualClock: StoreClock {
    private let current = Mutex(Instant(nanoseconds: 1_000_000_000))
    func now() -> Instant { current.withLock { $0 } }
    func advance(_ d: Duration) { current.withLock { $0 = $0 + d } }
}

/// Every backend under test, made fresh for each test.
enum Backend: String, CaseIterable, CustomTestStringConvertible {
    case memory
    case sqlite

    var testDescription: String { rawValue }

    func make(_ clock: ManualClock, path: String? = nil) throws -> any ClusterStore {
        switch self {
        case .memory: return InMemoryClusterStore(clock: clock)
        case .sqlite: return try SQLiteClusterStore(path: path ?? Self.temporaryPath(), clock: clock)
        }
    }

    static func temporaryPath() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bp-store-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent("store.sqlite").path
    }
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite("ClusterStore conformance")
struct ConformanceTests {
    @Test("puts and deletes move one global revision; versions and create revisions follow etcd", arguments: Backend.allCases)
    func revisions(backend: Backend) async throws {
        let store = try backend.make(ManualClock())
        #expect(try await store.revision() == 0)
        #expect(try await store.put("/cards/a", bytes("1")) == 1)
        #expect(try await store.put("/cards/b", bytes("2")) == 2)
        #expect(try await store.put("/cards/a", bytes("3")) == 3)
        let a = try #require(try await store.get("/cards/a"))
        #expect(a.value == bytes("3") && a.createRevision == 1 && a.modRevision == 3 && a.version == 2)
        let (kvs, revision) = try await store.range(prefix: "/cards/")
        #expect(kvs.map(\.key) == ["/cards/a", "/cards/b"] && revision == 3)
        #expect(try await store.delete("/cards/a"))
        #expect(try await !store.delete("/cards/a"), "deleting a missing key is not an error and changes nothing")
        #expect(try await store.revision() == 4)
        #expect(try await store.put("/cards/a", bytes("4")) == 5)
        #expect(try await store.get("/cards/a")?.createRevision == 5, "a re-created key starts over")
        #expect(try await store.get("/cards/a")?.version == 1)
    }

    @Test("compare-and-swap: stale writers lose, nothing changes on failure", arguments: Backend.allCases)
    func compareAndSwap(backend: Backend) async throws {
        let store = try backend.make(ManualClock())
        let first = try #require(try await store.compareAndSwap("/plan", expecting: 0, bytes("v1")))
        #expect(try await store.compareAndSwap("/plan", expecting: 0, bytes("other")) == nil, "only if absent")
        let second = try #require(try await store.compareAndSwap("/plan", expecting: first, bytes("v2")))
        #expect(try await store.compareAndSwap("/plan", expecting: first, bytes("stale")) == nil)
        #expect(try await store.get("/plan")?.value == bytes("v2"))
        #expect(try await store.revision() == second)
        let result = try await store.transaction(
            compare: [Compare("/plan", .value(bytes("v2"))), Compare("/lock", .absent)],
            success: [.put(key: "/lock", value: bytes("me"), lease: nil), .get(key: "/plan")],
            failure: [.range(prefix: "/")]
        )
        #expect(result.succeeded && result.revision == second + 1)
        #expect(result.results.last == .kvs([try #require(try await store.get("/plan"))]))
        let failed = try await store.transaction(compare: [Compare("/lock", .absent)], success: [.delete(key: "/plan")], failure: [.get(key: "/lock")])
        #expect(!failed.succeeded && failed.revision == second + 1, "a failed, read-only transaction keeps the revision")
    }

    @Test("a transaction's changes share one revision; deletePrefix removes a whole subtree", arguments: Backend.allCases)
    func multiOperation(backend: Backend) async throws {
        let store = try backend.make(ManualClock())
        let r = try await store.transaction(compare: [], success: [
            .put(key: "/w/a", value: bytes("1"), lease: nil), .put(key: "/w/b", value: bytes("2"), lease: nil), .put(key: "/x", value: [], lease: nil),
        ], failure: [])
        #expect(r.revision == 1)
        #expect(try await store.range(prefix: "/w/").kvs.allSatisfy { $0.modRevision == 1 })
        let d = try await store.transaction(compare: [], success: [.deletePrefix("/w/")], failure: [])
        guard case .deleted(let removed)? = d.results.first else { Issue.record("expected deleted"); return }
        #expect(removed.map(\.key).sorted() == ["/w/a", "/w/b"] && d.revision == 2)
        #expect(try await store.range(prefix: "/").kvs.map(\.key) == ["/x"])
    }

    @Test("bad input is refused and changes nothing", arguments: Backend.allCases)
    func badInput(backend: Backend) async throws {
        let store = try backend.make(ManualClock())
        await #expect(throws: StoreError.self) { try await store.put("", bytes("x")) }
        await #expect(throws: StoreError.self) {
            try await store.transaction(compare: [], success: [.put(key: "/ok", value: [], lease: nil), .put(key: "/x", value: [], lease: LeaseID(rawValue: 99))], failure: [])
        }
        #expect(try await store.get("/ok") == nil, "a refused transaction applies none of its operations")
        #expect(try await store.revision() == 0)
    }

    @Test("watches replay history from a revision, then follow live changes, filtered by prefix", arguments: Backend.allCases)
    func watches(backend: Backend) async throws {
        let store = try backend.make(ManualClock())
        try await store.put("/a/1", bytes("x"))
        try await store.put("/b/1", bytes("y"))
        try await store.put("/a/2", bytes("z"))
        var events = store.watch(prefix: "/a/", fromRevision: 2).makeAsyncIterator()
        let first = try await events.next()
        #expect(first?.kv.key == "/a/2" && first?.revision == 3 && first?.kind == .put)
        try await store.delete("/a/1")
        try await store.put("/b/2", bytes("ignored"))
        try await store.put("/a/3", bytes("w"))
        let second = try await events.next()
        #expect(second?.kind == .delete && second?.kv.key == "/a/1" && second?.revision == 4)
        let third = try await events.next()
        #expect(third?.kv.key == "/a/3" && third?.revision == 6)
    }

    @Test("history below a compaction is gone: watching from there fails with compacted", arguments: Backend.allCases)
    func compaction(backend: Backend) async throws {
        let store = try backend.make(ManualClock())
        for i in 1...5 { try await store.put("/k", bytes("\(i)")) }
        try await store.compact(upTo: 3)
        var late = store.watch(prefix: "/", fromRevision: 4).makeAsyncIterator()
        #expect(try await late.next()?.revision == 4)
        var early = store.watch(prefix: "/", fromRevision: 2).makeAsyncIterator()
        do {
            _ = try await early.next()
            Issue.record("expected compacted")
        } catch let error as StoreError {
            #expect(error.code == .compacted)
        }
    }

    @Test("leases: keys go when the TTL runs out; keep-alive extends; revoke deletes at once", arguments: Backend.allCases)
    func leases(backend: Backend) async throws {
        let clock = ManualClock()
        let store = try backend.make(clock)
        let lease = try await store.grantLease(ttl: .seconds(10))
        try await store.put("/cards/c1/alive", bytes("1"), lease: lease)
        try await store.put("/cards/c1/spec", bytes("kept"))
        var watch = store.watch(prefix: "/cards/c1/alive", fromRevision: 3).makeAsyncIterator()
        clock.advance(.seconds(6))
        try await store.keepAlive(lease)
        clock.advance(.seconds(6))
        #expect(try await store.expireLeases().isEmpty, "kept alive at t=6 s, so alive until t=16 s")
        clock.advance(.seconds(5))
        #expect(try await store.expireLeases() == [lease])
        #expect(try await store.get("/cards/c1/alive") == nil)
        #expect(try await store.get("/cards/c1/spec") != nil, "keys without the lease stay")
        let event = try await watch.next()
        #expect(event?.kind == .delete && event?.kv.key == "/cards/c1/alive")
        await #expect(throws: StoreError.self) { try await store.keepAlive(lease) }
        let other = try await store.grantLease(ttl: .seconds(10))
        try await store.put("/x", [], lease: other)
        try await store.revokeLease(other)
        #expect(try await store.get("/x") == nil)
        await #expect(throws: StoreError.self) { try await store.revokeLease(other) }
    }
}

@Suite("SQLite store")
struct SQLiteStoreTests {
    @Test("reopening the file restores keys, revision, history and leases; the file is in WAL mode")
    func reopen() async throws {
        let clock = ManualClock()
        let path = Backend.temporaryPath()
        var store: SQLiteClusterStore? = try SQLiteClusterStore(path: path, clock: clock)
        let lease = try await store!.grantLease(ttl: .seconds(30))
        try await store!.put("/cards/c1", bytes("ready"), lease: lease)
        try await store!.put("/workloads/web", bytes("spec"))
        try await store!.delete("/workloads/web")
        #expect(try store!.journalMode() == "wal")
        try store!.close()
        store = nil

        clock.advance(.seconds(100))
        let reopened = try SQLiteClusterStore(path: path, clock: clock)
        #expect(try await reopened.revision() == 3)
        #expect(try await reopened.get("/cards/c1")?.lease == lease)
        #expect(try await reopened.get("/workloads/web") == nil)
        var history = reopened.watch(prefix: "/", fromRevision: 1).makeAsyncIterator()
        #expect(try await history.next()?.kv.key == "/cards/c1")
        #expect(try await history.next()?.kv.key == "/workloads/web")
        #expect(try await history.next()?.kind == .delete)
        #expect(try await reopened.expireLeases().isEmpty, "a restored lease gets a full TTL from the reopening")
        clock.advance(.seconds(31))
        #expect(try await reopened.expireLeases() == [lease])
        #expect(try await reopened.grantLease(ttl: .seconds(1)) != lease, "lease ids are not reused")
        try reopened.close()
    }

    @Test("a change that cannot be written is not applied")
    func failedWriteChangesNothing() async throws {
        struct DiskFull: Error {}
        let core = StoreCore(state: StoreState(), clock: ManualClock(), persist: { _, _ in throw DiskFull() })
        #expect(throws: StoreError.self) {
            try core.mutate { state, _ throws(StoreError) in try state.transaction(compare: [], success: [.put(key: "/k", value: [1], lease: nil)], failure: []) }
        }
        #expect(try core.read { $0.revision } == 0)
        #expect(try core.read { $0.get("/k") } == nil)
    }

    @Test("an unreadable file is a clear error")
    func unreadable() throws {
        let path = Backend.temporaryPath()
        try Data("this is not a database".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: StoreError.self) { try SQLiteClusterStore(path: path) }
    }
}
