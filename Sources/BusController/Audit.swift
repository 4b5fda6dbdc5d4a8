import BackplaneModel
import ClusterStore
import Foundation

/// One change requested through the API, kept in the store (`/audit/<time>-<n>`): every
/// POST, PUT and DELETE to a known route, refused ones included.
public struct AuditEntry: Codable, Sendable, Hashable {
    /// Wall-clock nanoseconds since 1970.
    public var time: Instant
    /// Who asked. The API has no authentication yet: `anonymous`.
    public var who: String
    public var method: String
    /// The route (`/v1/workloads/:name`).
    public var route: String
    /// The path and query as sent (at most 300 characters).
    public var target: String
    /// The HTTP status of the answer.
    public var status: Int
}

/// The audit log in the store: bounded to the newest ``limit`` entries.
public struct AuditLog: Sendable {
    public let store: any ClusterStore
    public var limit = 10_000
    private let sequence = LockedBox<UInt64>(0)

    public init(store: any ClusterStore) {
        self.store = store
    }

    static let prefix = "/audit/"

    public func append(_ entry: AuditEntry) async throws {
        let n = sequence.withLock { n -> UInt64 in
            n &+= 1
            return n
        }
        // Keys sort by time: 20 digits of nanoseconds, then a counter for the same nanosecond.
        let key = Self.prefix + String(format: "%020llu-%08llx", entry.time.nanoseconds, n & 0xFFFF_FFFF)
        _ = try await store.put(key, Registry.encode(entry))
        if n % 100 == 0 { try await trim() }
    }

    /// Entries after `since` (wall-clock nanoseconds), oldest first, at most the newest `count`.
    public func entries(since: UInt64 = 0, count: Int) async throws -> [AuditEntry] {
        let kvs = try await store.range(prefix: Self.prefix).kvs.sorted { $0.key < $1.key }
        let entries = kvs.compactMap { try? JSONDecoder().decode(AuditEntry.self, from: Data($0.value)) }.filter { $0.time.nanoseconds > since }
        return Array(entries.suffix(count))
    }

    /// Deletes the oldest entries past ``limit``.
    func trim() async throws {
        let keys = try await store.range(prefix: Self.prefix).kvs.map(\.key).sorted()
        for key in keys.dropLast(limit) { _ = try await store.delete(key) }
    }
}
