import BackplaneModel
import ClusterStore
import Foundation

/// One change requested through the API, kept in the store (`/audit/<time>-<n>`): every
/// POST, PUT and DELETE to a known route, refused ones included.
public struct AuditEntry: Codable, Sendable, Hashable {
    /// Wall-clock nanoseconds since 1970.
    public var time: Instant
    /// Who asked: the token's id, or `anonymous` (no valid token: refused with 401).
    public var who: String
    /// The token's role; nil for `anonymous`.
    public var role: String?
    /// The token's tenant; nil for bus-admin and `anonymous`.
    public var tenant: String?
    public var method: String
    /// The route (`/v1/workloads/:name`).
    public var route: String
    /// The path and query as sent (at most 300 characters).
    public var target: String
    /// The HTTP status of the answer.
    public var status: Int

    public static let anonymous = "anonymous"

    public init(time: Instant, who: String, role: String? = nil, tenant: String? = nil, method: String, route: String, target: String, status: Int) {
        self.time = time
        self.who = who
        self.role = role
        self.tenant = tenant
        self.method = method
        self.route = route
        self.target = target
        self.status = status
    }
}

/// The audit log in the store: bounded to the newest ``limit`` entries of callers with a valid
/// token, and separately to the newest ``anonymousLimit`` refusals of requests without one (a
/// flood of unauthenticated requests once pushed every real entry out of the log).
public struct AuditLog: Sendable {
    public let store: any ClusterStore
    public var limit = 10_000
    public var anonymousLimit = 1_000
    private let sequence = LockedBox<UInt64>(0)

    public init(store: any ClusterStore) {
        self.store = store
    }

    static let prefix = "/audit/"
    static let anonymousPrefix = "/audit-anonymous/"

    public func append(_ entry: AuditEntry) async throws {
        let n = sequence.withLock { n -> UInt64 in
            n &+= 1
            return n
        }
        // Keys sort by time: 20 digits of nanoseconds, then a counter for the same nanosecond.
        let prefix = entry.who == AuditEntry.anonymous ? Self.anonymousPrefix : Self.prefix
        let key = prefix + String(format: "%020llu-%08llx", entry.time.nanoseconds, n & 0xFFFF_FFFF)
        _ = try await store.put(key, Registry.encode(entry))
        if n % 100 == 0 { try await trim() }
    }

    /// Entries after `since` (wall-clock nanoseconds), oldest first, at most the newest `count`;
    /// with `tenant`, only those of that tenant's tokens.
    public func entries(since: UInt64 = 0, count: Int, tenant: String? = nil) async throws -> [AuditEntry] {
        // Both logs, in time order (the key after the prefix sorts by time, then sequence).
        let named = try await store.range(prefix: Self.prefix).kvs.map { (String($0.key.dropFirst(Self.prefix.count)), $0.value) }
        let anonymous = tenant != nil ? [] : try await store.range(prefix: Self.anonymousPrefix).kvs.map { (String($0.key.dropFirst(Self.anonymousPrefix.count)), $0.value) }
        let kvs = (named + anonymous).sorted { $0.0 < $1.0 }
        let entries = kvs.compactMap { try? JSONDecoder().decode(AuditEntry.self, from: Data($0.1)) }
            .filter { $0.time.nanoseconds > since && (tenant == nil || $0.tenant == tenant) }
        return Array(entries.suffix(count))
    }

    /// Deletes the oldest entries past ``limit`` (and anonymous ones past ``anonymousLimit``).
    func trim() async throws {
        for (prefix, limit) in [(Self.prefix, limit), (Self.anonymousPrefix, anonymousLimit)] {
            let keys = try await store.range(prefix: prefix).kvs.map(\.key).sorted()
            for key in keys.dropLast(limit) { _ = try await store.delete(key) }
        }
    }
}
