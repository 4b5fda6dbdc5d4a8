/// Where the gateway sends each key operation. Keys and values are arbitrary bytes.
///
/// Calls for different keys may run concurrently, from one connection or many. On one connection
/// the gateway never runs two calls at once for the same key when either writes (`set`,
/// `delete`): a pipelined `SET k v` then `GET k` sees `v`. Across connections, ordering is the
/// backend's.
///
/// A thrown error is shown to the client as `-ERR <message>`: the ``KeyValueBackendError``'s
/// message, or any other error's `String(describing:)`. The connection stays open.
public protocol KeyValueBackend: Sendable {
    /// The value stored at `key`, or nil when there is none.
    func get(_ key: [UInt8]) async throws -> [UInt8]?
    /// Stores `value` at `key`, replacing any value.
    func set(_ key: [UInt8], _ value: [UInt8]) async throws
    /// Removes `key`. Returns true when it had a value.
    func delete(_ key: [UInt8]) async throws -> Bool
}

/// A backend that could not do an operation; the client sees `-ERR <message>`.
public struct KeyValueBackendError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        /// The shard that owns the key cannot be reached now; retrying may work.
        case unavailable
        /// The operation took too long.
        case timeout
        /// The value or key is larger than the backend accepts.
        case tooLarge
        /// Anything else.
        case failed
    }

    public var code: Code
    /// What the client reads after `-ERR `: one line, saying what failed and why.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// The reference backend: a dictionary in an actor. For tests, and as the behaviour every other
/// backend must match.
public actor InMemoryKeyValueBackend: KeyValueBackend {
    private var values: [[UInt8]: [UInt8]]

    public init(_ values: [[UInt8]: [UInt8]] = [:]) {
        self.values = values
    }

    public func get(_ key: [UInt8]) -> [UInt8]? { values[key] }

    public func set(_ key: [UInt8], _ value: [UInt8]) { values[key] = value }

    public func delete(_ key: [UInt8]) -> Bool { values.removeValue(forKey: key) != nil }

    /// Number of keys held.
    public var count: Int { values.count }

    /// Every key and value, for tests.
    public var contents: [[UInt8]: [UInt8]] { values }
}
