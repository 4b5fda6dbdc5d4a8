import BackplaneModel
import ClusterStore
import Crypto
import Foundation

/// What a token may do. `bus-admin` everything; `tenant-admin`, `operator` and `viewer` act in
/// one tenant (see ``Caller``); `join` tokens never reach the API: card enrollment checks them
/// (``TokenStore/verifyJoin(_:)``).
public enum TokenRole: String, Codable, Sendable, CaseIterable {
    case busAdmin = "bus-admin"
    case tenantAdmin = "tenant-admin"
    case `operator`
    case viewer
    case join

    /// Tenant-admin, operator and viewer tokens belong to one tenant; bus-admin and join to none.
    public var isTenantScoped: Bool { self == .tenantAdmin || self == .operator || self == .viewer }
}

/// A token as stored under `/tokens/<id>`. The secret is never stored: only its SHA-256.
public struct TokenRecord: Codable, Sendable, Hashable {
    public var id: String
    public var role: TokenRole
    /// The tenant of a tenant-scoped role; nil for bus-admin and join.
    public var tenant: String?
    public var description: String
    /// Wall-clock nanoseconds since 1970.
    public var created: Instant
    /// Refused from this wall-clock time on; nil: never expires.
    public var expires: Instant?
    /// SHA-256 of the secret, lowercase hex.
    public var hash: String

    public func isExpired(at now: Instant) -> Bool { expires.map { now >= $0 } ?? false }

    /// Whether the stored record is one this BMC could have written (else it is never accepted).
    var isWellFormed: Bool {
        TokenStore.isID(id) && hash.utf8.count == 64 && (role.isTenantScoped ? tenant.map { WorkloadSpec.nameProblem($0) == nil } ?? false : tenant == nil)
    }

    /// What the API shows of it: everything but the hash.
    public var info: TokenInfo { TokenInfo(id: id, role: role, tenant: tenant, description: description, created: created, expires: expires) }
}

/// A token as `GET /v1/tokens` lists it (never the secret or its hash).
public struct TokenInfo: Codable, Sendable, Hashable {
    public var id: String
    public var role: TokenRole
    public var tenant: String?
    public var description: String
    public var created: Instant
    public var expires: Instant?
}

/// The answer to `POST /v1/tokens`: the token itself, shown this once, and what it is.
public struct IssuedToken: Codable, Sendable, Hashable {
    /// `bpt_<id>.<secret>`: what a client sends as `Authorization: Bearer …`.
    public var token: String
    public var id: String
    public var role: TokenRole
    public var tenant: String?
    public var description: String
    public var created: Instant
    public var expires: Instant?
}

/// Bearer tokens in the cluster store (`/tokens/<id>`), stored hashed.
///
/// A token is `bpt_<id>.<secret>`: 16 hex digits of id (the store key) and 64 hex digits of secret
/// (32 random bytes). Only SHA-256(secret) is stored, compared in constant time. Expired tokens
/// are refused; the clock is a parameter (tests pass a manual one).
public struct TokenStore: Sendable {
    public let store: any ClusterStore
    let now: @Sendable () -> Instant
    let randomBytes: @Sendable (Int) -> [UInt8]

    public init(store: any ClusterStore, now: @escaping @Sendable () -> Instant = TokenStore.wallClock,
                randomBytes: @escaping @Sendable (Int) -> [UInt8] = TokenStore.systemRandomBytes) {
        self.store = store
        self.now = now
        self.randomBytes = randomBytes
    }

    static let prefix = "/tokens/"
    /// The BMC's wall clock (nanoseconds since 1970).
    public static let wallClock: @Sendable () -> Instant = { BusManagementController.wallClock() }
    static let tokenPrefix = "bpt_"
    /// The longest description (Unicode scalars).
    public static let maximumDescriptionLength = 200

    /// Bytes from the system's cryptographically secure generator.
    public static func systemRandomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// Creates a token and stores its record. The caller checked role, tenant and description
    /// (``TokenRequest``); `ttl` nil: never expires.
    public func issue(role: TokenRole, tenant: String?, ttl: Duration?, description: String) async throws -> IssuedToken {
        let id = Self.hex(randomBytes(8))
        let secret = Self.hex(randomBytes(32))
        let created = now()
        let expires = ttl.map { Instant(nanoseconds: created.nanoseconds.addingReportingOverflow(UInt64(max(0, $0.nanoseconds))).partialValue) }
        let record = TokenRecord(id: id, role: role, tenant: tenant, description: description, created: created, expires: expires, hash: Self.digest(secret))
        _ = try await store.put(Self.prefix + id, Registry.encode(record))
        return IssuedToken(token: Self.tokenPrefix + id + "." + secret, id: id, role: role, tenant: tenant, description: description, created: created, expires: expires)
    }

    /// Every stored token (expired ones included), oldest first; records that do not decode are skipped.
    public func records() async throws -> [TokenRecord] {
        try await store.range(prefix: Self.prefix).kvs
            .compactMap { try? JSONDecoder().decode(TokenRecord.self, from: Data($0.value)) }
            .sorted { ($0.created, $0.id) < ($1.created, $1.id) }
    }

    public func record(_ id: String) async throws -> TokenRecord? {
        guard Self.isID(id), let kv = try await store.get(Self.prefix + id) else { return nil }
        return try? JSONDecoder().decode(TokenRecord.self, from: Data(kv.value))
    }

    /// Deletes a token; false when there was none.
    public func revoke(_ id: String) async throws -> Bool {
        guard Self.isID(id) else { return false }
        return try await store.delete(Self.prefix + id)
    }

    /// The record of a presented API token: nil when it is malformed, unknown, revoked, expired,
    /// or a join token (those are only for card enrollment).
    public func authenticate(_ presented: String) async throws -> TokenRecord? {
        guard let record = try await valid(presented), record.role != .join else { return nil }
        return record
    }

    /// Whether `presented` is a join token that is stored, unexpired and matches: what card
    /// enrollment MUST check before it signs a card's certificate request. API tokens are refused.
    /// For a data client's link (``BusManagementController/Configuration/authenticateClient``):
    /// the tenant a valid token of a role that may change workloads is scoped to ("" for a
    /// bus-admin: every tenant), or nil.
    public func dataClientTenant(_ presented: String) async throws -> String? {
        guard let record = try await authenticate(presented), Caller.allows(record.role, .change) else { return nil }
        return record.tenant ?? ""
    }

    public func verifyJoin(_ presented: String) async throws -> Bool {
        try await valid(presented)?.role == .join
    }

    /// When the store holds no unexpired bus-admin token: creates one, hands it to `save` (which
    /// MUST keep it somewhere only the service user can read, e.g. `<state>/admin.token`) and
    /// only then stores it, so a failed save leaves no token nobody holds. Returns the new record,
    /// or nil when a bus-admin token exists.
    public func bootstrapBusAdmin(save: (String) throws -> Void) async throws -> TokenRecord? {
        let at = now()
        guard try await !records().contains(where: { $0.role == .busAdmin && $0.isWellFormed && !$0.isExpired(at: at) }) else { return nil }
        let id = Self.hex(randomBytes(8))
        let secret = Self.hex(randomBytes(32))
        let record = TokenRecord(id: id, role: .busAdmin, tenant: nil, description: "created at the BMC's first start", created: at, expires: nil, hash: Self.digest(secret))
        try save(Self.tokenPrefix + id + "." + secret)
        _ = try await store.put(Self.prefix + id, Registry.encode(record))
        return record
    }

    private func valid(_ presented: String) async throws -> TokenRecord? {
        guard let (id, secret) = Self.parse(presented), let record = try await record(id), record.id == id, record.isWellFormed else { return nil }
        guard Self.constantTimeEqual(Self.digest(secret), record.hash), !record.isExpired(at: now()) else { return nil }
        return record
    }

    // MARK: Format

    /// `bpt_<16 hex>.<64 hex>` → (id, secret); nil for anything else.
    static func parse(_ presented: String) -> (id: String, secret: String)? {
        let bytes = Array(presented.utf8)
        guard bytes.count == 4 + 16 + 1 + 64, presented.hasPrefix(tokenPrefix), bytes[20] == UInt8(ascii: ".") else { return nil }
        let id = String(decoding: bytes[4..<20], as: UTF8.self)
        let secret = String(decoding: bytes[21...], as: UTF8.self)
        guard isID(id), isHex(secret) else { return nil }
        return (id, secret)
    }

    /// 16 lowercase hex digits.
    public static func isID(_ text: String) -> Bool { text.utf8.count == 16 && isHex(text) }

    static func isHex(_ text: String) -> Bool {
        text.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func digest(_ secret: String) -> String { hex(SHA256.hash(data: Data(secret.utf8))) }

    /// Equal length and bytes, in time that depends on the length only.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let (x, y) = (Array(a.utf8), Array(b.utf8))
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
