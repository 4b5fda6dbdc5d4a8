import BackplaneModel

/// The BMC's store, shaped like etcd: keyed byte values with a global revision, prefix ranges,
/// compare-and-swap transactions, watches from a revision, and leases with a TTL.
///
/// Backends: ``InMemoryClusterStore`` (tests), ``SQLiteClusterStore`` (the embedded default),
/// etcd (for HA, later). All pass `ClusterStoreConformance` in the tests.
public protocol ClusterStore: Sendable {
    /// The revision of the last committed change (0 for an empty, new store).
    func revision() async throws -> Revision

    func get(_ key: String) async throws -> KeyValue?

    /// Keys starting with `prefix`, sorted by key, and the revision they were read at.
    func range(prefix: String) async throws -> (kvs: [KeyValue], revision: Revision)

    /// Runs `success` if every comparison holds, else `failure`, atomically. All changes of
    /// one transaction share one new revision; a transaction that changes nothing keeps the
    /// current revision.
    func transaction(compare: [Compare], success: [StoreOperation], failure: [StoreOperation]) async throws -> TransactionResult

    /// Changes under `prefix` with revision >= `fromRevision` (history first, then live), in
    /// revision order. Fails with `compacted` when that history is gone. The stream ends when
    /// the consumer stops iterating or the store closes.
    func watch(prefix: String, fromRevision: Revision) -> AsyncThrowingStream<WatchEvent, any Error>

    func grantLease(ttl: Duration) async throws -> LeaseID
    /// Restarts the lease's TTL. Fails with `leaseNotFound` when it has expired.
    func keepAlive(_ lease: LeaseID) async throws
    /// Deletes the lease and every key attached to it.
    func revokeLease(_ lease: LeaseID) async throws
    /// Revokes every lease whose TTL has run out (MUST be called periodically, e.g. every
    /// second, by the owner of the store). Returns the leases revoked.
    @discardableResult
    func expireLeases() async throws -> [LeaseID]

    /// Forgets history below `revision` (watches from before it fail with `compacted`).
    func compact(upTo revision: Revision) async throws
}

extension ClusterStore {
    @discardableResult
    public func put(_ key: String, _ value: [UInt8], lease: LeaseID? = nil) async throws -> Revision {
        try await transaction(compare: [], success: [.put(key: key, value: value, lease: lease)], failure: []).revision
    }

    /// Deletes `key`; returns whether it existed.
    @discardableResult
    public func delete(_ key: String) async throws -> Bool {
        let result = try await transaction(compare: [], success: [.delete(key: key)], failure: [])
        if case .deleted(let kvs)? = result.results.first { return !kvs.isEmpty }
        return false
    }

    /// Puts `value` only if `key` is unchanged since `modRevision` (0: only if absent).
    /// Returns the new revision, or nil when the key had moved on.
    public func compareAndSwap(_ key: String, expecting modRevision: Revision, _ value: [UInt8], lease: LeaseID? = nil) async throws -> Revision? {
        let condition: Compare.Condition = modRevision == 0 ? .absent : .modRevision(modRevision)
        let result = try await transaction(compare: [Compare(key, condition)], success: [.put(key: key, value: value, lease: lease)], failure: [])
        return result.succeeded ? result.revision : nil
    }
}
