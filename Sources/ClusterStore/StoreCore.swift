import BackplaneModel
import Foundation
import Synchronization

/// The shared engine of the embedded backends: a ``StoreState`` behind a lock, watchers, and an
/// optional durable log. A mutation is computed on a copy of the state, handed to `persist`, and
/// adopted only when that succeeds; then watchers see its events.
final class StoreCore: Sendable {
    typealias Persist = @Sendable (StoreState.Changes, StoreState) throws -> Void

    private struct Locked {
        var state: StoreState
        var watchers: [Int: (prefix: String, continuation: AsyncThrowingStream<WatchEvent, any Error>.Continuation)] = [:]
        var nextWatcher = 0
        var closed = false
    }

    private let locked: Mutex<Locked>
    private let persist: Persist?
    let clock: any StoreClock

    init(state: StoreState, clock: any StoreClock, persist: Persist?) {
        self.locked = Mutex(Locked(state: state))
        self.clock = clock
        self.persist = persist
    }

    func read<R>(_ body: (StoreState) throws(StoreError) -> R) throws(StoreError) -> R {
        try locked.withLock { (l: inout Locked) throws(StoreError) -> R in
            if l.closed { throw StoreError(.closed, "the store is closed") }
            return try body(l.state)
        }
    }

    /// Runs a mutation: persists its changes, adopts the new state, notifies watchers.
    func mutate<R>(_ body: (inout StoreState, Instant) throws(StoreError) -> (R, StoreState.Changes)) throws(StoreError) -> R {
        let now = clock.now()
        return try locked.withLock { (l: inout Locked) throws(StoreError) -> R in
            if l.closed { throw StoreError(.closed, "the store is closed") }
            var next = l.state
            let (result, changes) = try body(&next, now)
            if !changes.isEmpty, let persist {
                do {
                    try persist(changes, next)
                } catch {
                    throw StoreError(.backend, "could not write the change: \(error)")
                }
            }
            l.state = next
            for event in changes.events {
                for watcher in l.watchers.values where event.kv.key.hasPrefix(watcher.prefix) {
                    watcher.continuation.yield(event)
                }
            }
            return result
        }
    }

    func watch(prefix: String, fromRevision: Revision) -> AsyncThrowingStream<WatchEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: WatchEvent.self, bufferingPolicy: .unbounded)
        let id: Int? = locked.withLock { l in
            if l.closed {
                continuation.finish(throwing: StoreError(.closed, "the store is closed"))
                return nil
            }
            do {
                // History and registration under one lock: no event is missed or repeated.
                for event in try l.state.events(prefix: prefix, from: fromRevision) { continuation.yield(event) }
            } catch {
                continuation.finish(throwing: error)
                return nil
            }
            let id = l.nextWatcher
            l.nextWatcher += 1
            l.watchers[id] = (prefix, continuation)
            return id
        }
        if let id {
            continuation.onTermination = { [weak self] _ in
                _ = self?.locked.withLock { $0.watchers.removeValue(forKey: id) }
            }
        }
        return stream
    }

    func close() {
        let watchers = locked.withLock { l in
            l.closed = true
            defer { l.watchers.removeAll() }
            return Array(l.watchers.values)
        }
        for w in watchers { w.continuation.finish() }
    }
}

/// The process's monotonic clock.
public struct SystemStoreClock: StoreClock {
    public init() {}
    public func now() -> Instant {
        Instant(nanoseconds: DispatchTime.now().uptimeNanoseconds)
    }
}

/// The operations both embedded backends share.
protocol EmbeddedClusterStore: ClusterStore {
    var core: StoreCore { get }
    /// Makes the forgotten history unrecoverable from the backend's files (SQLite: its WAL).
    func afterCompaction() throws
}

extension EmbeddedClusterStore {
    public func revision() async throws -> Revision {
        try core.read { $0.revision }
    }

    public func get(_ key: String) async throws -> KeyValue? {
        try core.read { $0.get(key) }
    }

    public func range(prefix: String) async throws -> (kvs: [KeyValue], revision: Revision) {
        try core.read { ($0.range(prefix: prefix), $0.revision) }
    }

    public func transaction(compare: [Compare], success: [StoreOperation], failure: [StoreOperation]) async throws -> TransactionResult {
        try core.mutate { state, _ throws(StoreError) in try state.transaction(compare: compare, success: success, failure: failure) }
    }

    public func watch(prefix: String, fromRevision: Revision) -> AsyncThrowingStream<WatchEvent, any Error> {
        core.watch(prefix: prefix, fromRevision: fromRevision)
    }

    public func grantLease(ttl: Duration) async throws -> LeaseID {
        guard ttl > .zero else { throw StoreError(.leaseNotFound, "a lease needs a positive TTL, got \(ttl)") }
        return try core.mutate { state, now in state.grantLease(ttl: ttl, now: now) }
    }

    public func keepAlive(_ lease: LeaseID) async throws {
        // Keep-alives are not persisted: after a restart every lease gets a full TTL anyway.
        try core.mutate { state, now throws(StoreError) in
            try state.keepAlive(lease, now: now)
            return ((), StoreState.Changes())
        }
    }

    public func revokeLease(_ lease: LeaseID) async throws {
        try core.mutate { state, _ throws(StoreError) in
            guard state.leases[lease] != nil else { throw StoreError(.leaseNotFound, "\(lease) does not exist (expired or revoked)") }
            return ((), state.revoke([lease]))
        }
    }

    @discardableResult
    public func expireLeases() async throws -> [LeaseID] {
        try core.mutate { state, now in
            let expired = state.expiredLeases(now: now)
            return (expired, state.revoke(expired))
        }
    }

    public func compact(upTo revision: Revision) async throws {
        try core.mutate { state, _ in ((), state.compact(upTo: revision)) }
        try afterCompaction()
    }
}

/// The store in memory only: for tests and tools. Same semantics as ``SQLiteClusterStore``.
public final class InMemoryClusterStore: EmbeddedClusterStore {
    let core: StoreCore

    public init(clock: any StoreClock = SystemStoreClock()) {
        core = StoreCore(state: StoreState(), clock: clock, persist: nil)
    }

    /// Ends every watch.
    public func close() { core.close() }

    func afterCompaction() {}
}
