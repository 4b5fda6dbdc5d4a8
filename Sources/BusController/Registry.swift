import BackplaneModel
import ClusterStore
import Foundation

/// Where the BMC keeps the bus in the store, and how it reads and writes it.
///
/// | key | value |
/// | --- | --- |
/// | `/cards/<CardID>` | ``Card`` (JSON) |
/// | `/workloads/<tenant>/<name>` | ``WorkloadSpec`` (JSON) |
/// | `/instances/<id>` | ``InstanceRecord`` (JSON) |
/// | `/bus/last-card-id` | the last CardID handed out (decimal) |
///
/// Instants stored in records are wall-clock (nanoseconds since 1970), so they survive a BMC
/// restart.
public struct Registry: Sendable {
    public let store: any ClusterStore
    public init(store: any ClusterStore) { self.store = store }

    public static func cardKey(_ id: CardID) -> String { "/cards/\(id)" }
    public static func workloadKey(_ key: String) -> String { "/workloads/\(key)" }
    public static func instanceKey(_ id: String) -> String { "/instances/\(id)" }
    static let lastCardIDKey = "/bus/last-card-id"

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] { Array(try encoder.encode(value)) }
    static func decode<T: Decodable>(_ type: T.Type, _ kv: KeyValue) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(kv.value))
        } catch {
            throw StoreError(.backend, "unreadable record at \(kv.key): \(error)")
        }
    }

    /// Everything a reconciliation needs, with the revision of each key it read.
    public struct State: Sendable {
        public var snapshot: Reconciler.Snapshot
        /// Store key → mod revision, for every key read.
        public var revisions: [String: Int64]
        public var revision: Int64
    }

    public func read() async throws -> State {
        let result = try await store.transaction(compare: [], success: [.range(prefix: "/cards/"), .range(prefix: "/workloads/"), .range(prefix: "/instances/")], failure: [])
        guard result.results.count == 3, case .kvs(let cardKVs) = result.results[0], case .kvs(let workloadKVs) = result.results[1], case .kvs(let instanceKVs) = result.results[2] else {
            throw StoreError(.backend, "unexpected answer to the registry read")
        }
        var revisions: [String: Int64] = [:]
        for kv in cardKVs + workloadKVs + instanceKVs { revisions[kv.key] = kv.modRevision }
        let cards = try cardKVs.map { try Self.decode(Card.self, $0) }
        let workloads = try workloadKVs.map { try Self.decode(WorkloadSpec.self, $0) }
        let instances = try instanceKVs.map { kv -> InstanceRecord in
            var r = try Self.decode(InstanceRecord.self, kv)
            r.modRevision = kv.modRevision
            return r
        }
        return State(snapshot: Reconciler.Snapshot(workloads: workloads, instances: instances, cards: cards), revisions: revisions, revision: result.revision)
    }

    /// Commits reconciler changes if nothing they were computed from has changed since `state`
    /// was read (every card, workload and instance key compared). Returns false for a stale
    /// plan: read again and re-plan.
    public func apply(_ changes: Reconciler.Changes, readAt state: State) async throws -> Bool {
        guard !changes.isEmpty else { return true }
        var compares: [Compare] = []
        for (key, revision) in state.revisions { compares.append(Compare(key, .modRevision(revision))) }
        for r in changes.upserts where state.revisions[Self.instanceKey(r.instance.id)] == nil {
            compares.append(Compare(Self.instanceKey(r.instance.id), .absent))
        }
        var ops: [StoreOperation] = []
        for r in changes.upserts { ops.append(.put(key: Self.instanceKey(r.instance.id), value: try Self.encode(r), lease: nil)) }
        for id in changes.deletions { ops.append(.delete(key: Self.instanceKey(id))) }
        // Keys created since the read (a new workload or card) are not compared: a plan made
        // without them is still valid, and the next reconciliation picks them up.
        let result = try await store.transaction(compare: compares, success: ops, failure: [])
        return result.succeeded
    }

    // MARK: Workloads

    /// Stores a validated workload (create or replace). Returns the store revision.
    @discardableResult
    public func putWorkload(_ spec: WorkloadSpec) async throws -> Int64 {
        try await store.put(Self.workloadKey(spec.key), try Self.encode(spec))
    }

    /// Deletes a workload; its instances are stopped by the next reconciliation.
    public func deleteWorkload(tenant: String, name: String) async throws -> Bool {
        try await store.delete(Self.workloadKey(WorkloadSpec.key(tenant: tenant, name: name)))
    }

    public func workload(tenant: String, name: String) async throws -> WorkloadSpec? {
        guard let kv = try await store.get(Self.workloadKey(WorkloadSpec.key(tenant: tenant, name: name))) else { return nil }
        return try Self.decode(WorkloadSpec.self, kv)
    }

    // MARK: Cards

    public func putCard(_ card: Card) async throws {
        try await store.put(Self.cardKey(card.id), try Self.encode(card))
    }

    public func card(_ id: CardID) async throws -> Card? {
        guard let kv = try await store.get(Self.cardKey(id)) else { return nil }
        return try Self.decode(Card.self, kv)
    }

    /// Hands out the next CardID (persisted, so IDs are never reused).
    public func assignCardID() async throws -> CardID {
        while true {
            let current = try await store.get(Self.lastCardIDKey)
            let last = current.flatMap { UInt64(String(decoding: $0.value, as: UTF8.self)) } ?? (CardID.firstAssignable.rawValue - 1)
            let next = CardID(last + 1)
            if try await store.compareAndSwap(Self.lastCardIDKey, expecting: current?.modRevision ?? 0, Array(String(next.rawValue).utf8)) != nil {
                return next
            }
        }
    }

    // MARK: Instances

    /// Updates one instance if it has not changed since it was read.
    public func updateInstance(_ record: InstanceRecord) async throws -> Bool {
        try await store.compareAndSwap(Self.instanceKey(record.instance.id), expecting: record.modRevision, try Self.encode(record)) != nil
    }

    public func instance(_ id: String) async throws -> InstanceRecord? {
        guard let kv = try await store.get(Self.instanceKey(id)) else { return nil }
        var r = try Self.decode(InstanceRecord.self, kv)
        r.modRevision = kv.modRevision
        return r
    }
}
