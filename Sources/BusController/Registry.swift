import BackplaneModel
import ClusterStore
import Foundation
import Synchronization

/// Where the BMC keeps the bus in the store, and how it reads and writes it.
///
/// | key | value |
/// | --- | --- |
/// | `/cards/<CardID>` | ``Card`` (JSON) |
/// | `/workloads/<tenant>/<name>` | ``WorkloadSpec`` (JSON) |
/// | `/instances/<id>` | ``InstanceRecord`` (JSON) |
/// | `/quotas/<tenant>` | ``Quota`` (JSON) |
/// | `/bus/last-card-id` | the last CardID handed out (decimal) |
///
/// Instants stored in records are wall-clock (nanoseconds since 1970), so they survive a BMC
/// restart.
///
/// A workload record that does not decode or no longer validates (``WorkloadSpec/problems``:
/// written by an older version, or out of today's bounds) is **quarantined**: ``read()`` leaves
/// it out of the snapshot (the reconciler never sees it) and lists it in
/// ``State/quarantined`` with the reason; it stays in the store, untouched, until a user deletes
/// or replaces it. ``quarantine`` reports each quarantined record once (per key and revision).
public struct Registry: Sendable {
    public let store: any ClusterStore
    /// Reports newly quarantined workload records to its observer (the BMC's event log).
    public let quarantine: QuarantineLog
    public init(store: any ClusterStore, quarantine: QuarantineLog = QuarantineLog()) {
        self.store = store
        self.quarantine = quarantine
    }

    public static func cardKey(_ id: CardID) -> String { "/cards/\(id)" }
    public static func workloadKey(_ key: String) -> String { "/workloads/\(key)" }
    public static func instanceKey(_ id: String) -> String { "/instances/\(id)" }
    public static func quotaKey(_ tenant: String) -> String { "/quotas/\(tenant)" }
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
        /// Store key → mod revision, for every key read (quarantined records included).
        public var revisions: [String: Int64]
        public var revision: Int64
        /// Workload records left out of `snapshot` because they do not decode or validate.
        public var quarantined: [QuarantinedWorkload] = []
    }

    public func read() async throws -> State {
        let result = try await store.transaction(compare: [], success: [.range(prefix: "/cards/"), .range(prefix: "/workloads/"), .range(prefix: "/instances/"), .range(prefix: "/quotas/")], failure: [])
        guard result.results.count == 4, case .kvs(let cardKVs) = result.results[0], case .kvs(let workloadKVs) = result.results[1], case .kvs(let instanceKVs) = result.results[2],
              case .kvs(let quotaKVs) = result.results[3] else {
            throw StoreError(.backend, "unexpected answer to the registry read")
        }
        var revisions: [String: Int64] = [:]
        for kv in cardKVs + workloadKVs + instanceKVs + quotaKVs { revisions[kv.key] = kv.modRevision }
        // A quota record that does not decode or validate is left out (no limit), never fatal.
        var quotas: [String: Quota] = [:]
        for kv in quotaKVs {
            if let quota = try? Self.decode(Quota.self, kv), quota.problem == nil, Self.quotaKey(quota.tenant) == kv.key { quotas[quota.tenant] = quota }
        }
        let cards = try cardKVs.map { try Self.decode(Card.self, $0) }
        var workloads: [WorkloadSpec] = []
        var quarantined: [QuarantinedWorkload] = []
        for kv in workloadKVs {
            switch Self.validWorkload(kv) {
            case .success(let spec): workloads.append(spec)
            case .failure(let q): quarantined.append(q)
            }
        }
        if !quarantined.isEmpty { quarantine.observed(quarantined) }
        let instances = try instanceKVs.map { kv -> InstanceRecord in
            var r = try Self.decode(InstanceRecord.self, kv)
            r.modRevision = kv.modRevision
            return r
        }
        return State(snapshot: Reconciler.Snapshot(workloads: workloads, instances: instances, cards: cards, quotas: quotas), revisions: revisions, revision: result.revision, quarantined: quarantined)
    }

    /// A stored workload record that decodes and satisfies every rule of today's specs, or why
    /// it is quarantined.
    static func validWorkload(_ kv: KeyValue) -> Result<WorkloadSpec, QuarantinedWorkload> {
        let parts = kv.key.dropFirst("/workloads/".count).split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let tenant = parts.count == 2 ? String(parts[0]) : ""
        let name = parts.count == 2 ? String(parts[1]) : String(parts.first ?? "")
        func quarantined(_ reason: String) -> Result<WorkloadSpec, QuarantinedWorkload> {
            .failure(QuarantinedWorkload(storeKey: kv.key, tenant: tenant, name: name, reason: reason, modRevision: kv.modRevision))
        }
        let spec: WorkloadSpec
        do {
            spec = try JSONDecoder().decode(WorkloadSpec.self, from: Data(kv.value))
        } catch {
            return quarantined("the record does not decode as a workload spec: \(Quantity.excerpt("\(error)", limit: 300))")
        }
        let problems = spec.problems
        if !problems.isEmpty { return quarantined(problems.map(\.description).joined(separator: "; ")) }
        if spec.tenant != tenant || spec.name != name { return quarantined("the record names \(spec.key) but is stored at \(kv.key)") }
        return .success(spec)
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
    public func putQuota(_ quota: Quota) async throws {
        _ = try await store.put(Self.quotaKey(quota.tenant), Self.encode(quota))
    }

    public func deleteQuota(tenant: String) async throws -> Bool {
        try await store.delete(Self.quotaKey(tenant))
    }

    public func deleteWorkload(tenant: String, name: String) async throws -> Bool {
        guard try await store.delete(Self.workloadKey(WorkloadSpec.key(tenant: tenant, name: name))) else { return false }
        // Its spec, env secrets included, must not linger in the store's history (nor, with
        // SQLite, in its free pages or WAL): history up to the delete is compacted away.
        try await store.compact(upTo: try await store.revision())
        return true
    }

    /// The workload if it is stored and valid; nil if it is absent or quarantined (see
    /// ``workloadRecord(tenant:name:)`` to tell the two apart).
    public func workload(tenant: String, name: String) async throws -> WorkloadSpec? {
        guard case .valid(let spec) = try await workloadRecord(tenant: tenant, name: name) else { return nil }
        return spec
    }

    /// What is stored for a workload: a valid spec, a quarantined record, or nil.
    public func workloadRecord(tenant: String, name: String) async throws -> WorkloadRecord? {
        guard let kv = try await store.get(Self.workloadKey(WorkloadSpec.key(tenant: tenant, name: name))) else { return nil }
        switch Self.validWorkload(kv) {
        case .success(let spec): return .valid(spec)
        case .failure(let q): return .quarantined(q)
        }
    }

    public enum WorkloadRecord: Sendable {
        case valid(WorkloadSpec)
        case quarantined(QuarantinedWorkload)
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

/// A stored workload record that ``Registry/read()`` keeps out of the snapshot.
public struct QuarantinedWorkload: Error, Codable, Hashable, Sendable {
    /// The store key, `/workloads/<tenant>/<name>`.
    public var storeKey: String
    /// From the store key.
    public var tenant: String
    public var name: String
    /// Why: the decoding error or every rule the record breaks.
    public var reason: String
    public var modRevision: Int64
}

/// Remembers which quarantined records were already reported, and reports each new one (a key
/// at a revision) once to its observer.
public final class QuarantineLog: Sendable {
    private struct State {
        var reported: Set<String> = []
        var observer: (@Sendable (QuarantinedWorkload) -> Void)?
    }
    private let state = Mutex(State())

    public init() {}

    /// Calls `observer` for every record quarantined from now on that was not reported before
    /// (typically: `bmc.record("workload.quarantined", ...)`).
    public func observe(_ observer: @escaping @Sendable (QuarantinedWorkload) -> Void) {
        state.withLock { $0.observer = observer }
    }

    func observed(_ records: [QuarantinedWorkload]) {
        let (fresh, observer) = state.withLock { s -> ([QuarantinedWorkload], (@Sendable (QuarantinedWorkload) -> Void)?) in
            guard s.observer != nil else { return ([], nil) }  // kept for the observer to come
            let fresh = records.filter { s.reported.insert("\($0.storeKey)@\($0.modRevision)").inserted }
            return (fresh, s.observer)
        }
        if let observer { fresh.forEach(observer) }
    }
}
