import BackplaneModel

/// The store's semantics as a value: keys, revision, history and leases. Both backends keep
/// one of these; the SQLite backend also writes each ``Changes`` to disk before adopting the
/// new state, so a failed write leaves the store as it was.
struct StoreState: Sendable {
    struct Lease: Hashable, Sendable {
        var ttl: Duration
        var expiresAt: Instant
        var keys: Set<String>
    }

    /// What a mutation did, for persistence.
    struct Changes: Sendable {
        var events: [WatchEvent] = []
        var grantedLeases: [(LeaseID, Duration)] = []
        var removedLeases: [LeaseID] = []
        var compactedTo: Revision?
        var isEmpty: Bool { events.isEmpty && grantedLeases.isEmpty && removedLeases.isEmpty && compactedTo == nil }
    }

    private(set) var kvs: [String: KeyValue] = [:]
    private(set) var revision: Revision = 0
    /// History kept for watches: every event with revision > `compactedRevision`.
    private(set) var history: [WatchEvent] = []
    private(set) var compactedRevision: Revision = 0
    private(set) var leases: [LeaseID: Lease] = [:]
    private(set) var nextLeaseID: Int64 = 1

    init() {}

    /// Rebuilds a state from persisted parts. Leases get a fresh TTL from `now` (as etcd does
    /// after a restart: expiry instants do not survive a process).
    init(kvs: [KeyValue], revision: Revision, history: [WatchEvent], compactedRevision: Revision, leases: [(LeaseID, Duration)], nextLeaseID: Int64, now: Instant) {
        for kv in kvs { self.kvs[kv.key] = kv }
        self.revision = revision
        self.history = history
        self.compactedRevision = compactedRevision
        self.nextLeaseID = nextLeaseID
        for (id, ttl) in leases { self.leases[id] = Lease(ttl: ttl, expiresAt: now + ttl, keys: []) }
        for kv in kvs {
            if let lease = kv.lease { self.leases[lease]?.keys.insert(kv.key) }
        }
    }

    func get(_ key: String) -> KeyValue? { kvs[key] }

    func range(prefix: String) -> [KeyValue] {
        kvs.values.filter { $0.key.hasPrefix(prefix) }.sorted { $0.key < $1.key }
    }

    static func validate(_ key: String) throws(StoreError) {
        guard !key.isEmpty else { throw StoreError(.invalidKey, "keys must not be empty") }
        guard key.utf8.count <= 4096 else { throw StoreError(.invalidKey, "key of \(key.utf8.count) bytes exceeds 4096") }
    }

    mutating func transaction(compare: [Compare], success: [StoreOperation], failure: [StoreOperation]) throws(StoreError) -> (TransactionResult, Changes) {
        for op in success + failure {
            switch op {
            case .put(let key, _, let lease):
                try Self.validate(key)
                if let lease, leases[lease] == nil { throw StoreError(.leaseNotFound, "\(lease) does not exist (expired or revoked)") }
            case .delete(let key), .get(let key):
                try Self.validate(key)
            case .deletePrefix, .range:
                break
            }
        }
        let succeeded = compare.allSatisfy { holds($0) }
        let ops = succeeded ? success : failure
        let next = revision + 1
        var changes = Changes()
        var results: [OperationResult] = []
        for op in ops {
            switch op {
            case .put(let key, let value, let lease):
                let previous = kvs[key]
                let kv = KeyValue(
                    key: key, value: value, createRevision: previous?.createRevision ?? next, modRevision: next,
                    version: (previous?.version ?? 0) + 1, lease: lease
                )
                if let old = previous?.lease { leases[old]?.keys.remove(key) }
                if let lease { leases[lease]?.keys.insert(key) }
                kvs[key] = kv
                changes.events.append(WatchEvent(kind: .put, kv: kv))
                results.append(.put(previous: previous))
            case .delete(let key):
                results.append(.deleted(remove([key], at: next, into: &changes)))
            case .deletePrefix(let prefix):
                results.append(.deleted(remove(range(prefix: prefix).map(\.key), at: next, into: &changes)))
            case .get(let key):
                results.append(.kvs(kvs[key].map { [$0] } ?? []))
            case .range(let prefix):
                results.append(.kvs(range(prefix: prefix)))
            }
        }
        if !changes.events.isEmpty {
            revision = next
            history.append(contentsOf: changes.events)
        }
        return (TransactionResult(succeeded: succeeded, revision: revision, results: results), changes)
    }

    private mutating func remove(_ keys: [String], at revision: Revision, into changes: inout Changes) -> [KeyValue] {
        var removed: [KeyValue] = []
        for key in keys {
            guard let kv = kvs.removeValue(forKey: key) else { continue }
            if let lease = kv.lease { leases[lease]?.keys.remove(key) }
            removed.append(kv)
            changes.events.append(WatchEvent(kind: .delete, kv: KeyValue(key: key, value: [], createRevision: 0, modRevision: revision, version: 0, lease: nil)))
        }
        return removed
    }

    private func holds(_ c: Compare) -> Bool {
        let kv = kvs[c.key]
        switch c.condition {
        case .absent: return kv == nil
        case .present: return kv != nil
        case .modRevision(let r): return (kv?.modRevision ?? 0) == r
        case .version(let v): return (kv?.version ?? 0) == v
        case .value(let bytes): return kv?.value == bytes
        }
    }

    /// History from `fromRevision` on, for a new watch.
    func events(prefix: String, from fromRevision: Revision) throws(StoreError) -> [WatchEvent] {
        guard compactedRevision == 0 || fromRevision > compactedRevision else {
            throw StoreError(.compacted, "revision \(fromRevision) is compacted (history starts after \(compactedRevision))")
        }
        // History is sorted by revision: binary search for the first event at or after fromRevision.
        var low = 0
        var high = history.count
        while low < high {
            let mid = (low + high) / 2
            if history[mid].revision < fromRevision { low = mid + 1 } else { high = mid }
        }
        return history[low...].filter { $0.kv.key.hasPrefix(prefix) }
    }

    mutating func grantLease(ttl: Duration, now: Instant) -> (LeaseID, Changes) {
        let id = LeaseID(rawValue: nextLeaseID)
        nextLeaseID += 1
        leases[id] = Lease(ttl: ttl, expiresAt: now + ttl, keys: [])
        var changes = Changes()
        changes.grantedLeases.append((id, ttl))
        return (id, changes)
    }

    mutating func keepAlive(_ id: LeaseID, now: Instant) throws(StoreError) {
        guard var lease = leases[id], lease.expiresAt > now else {
            throw StoreError(.leaseNotFound, "\(id) does not exist (expired or revoked)")
        }
        lease.expiresAt = now + lease.ttl
        leases[id] = lease
    }

    mutating func revoke(_ ids: [LeaseID]) -> Changes {
        var changes = Changes()
        let next = revision + 1
        for id in ids {
            guard let lease = leases.removeValue(forKey: id) else { continue }
            _ = remove(lease.keys.sorted(), at: next, into: &changes)
            changes.removedLeases.append(id)
        }
        if !changes.events.isEmpty {
            revision = next
            history.append(contentsOf: changes.events)
        }
        return changes
    }

    func expiredLeases(now: Instant) -> [LeaseID] {
        leases.filter { $0.value.expiresAt <= now }.map(\.key).sorted { $0.rawValue < $1.rawValue }
    }

    mutating func compact(upTo target: Revision) -> Changes {
        var changes = Changes()
        let target = min(target, revision)
        guard target > compactedRevision else { return changes }
        compactedRevision = target
        history.removeAll { $0.revision <= target }
        changes.compactedTo = target
        return changes
    }
}
