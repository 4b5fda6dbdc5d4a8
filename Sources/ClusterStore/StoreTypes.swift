import BackplaneModel

/// A store-wide, strictly increasing change counter (etcd's revision). Every committed
/// transaction that changes something gets the next one; reads report the one they saw.
public typealias Revision = Int64

/// A lease: keys attached to it are deleted when it expires or is revoked.
public struct LeaseID: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: Int64
    public init(rawValue: Int64) { self.rawValue = rawValue }
    public var description: String { "lease-\(rawValue)" }
}

/// One stored key and its metadata.
public struct KeyValue: Hashable, Sendable {
    public var key: String
    public var value: [UInt8]
    /// Revision of the put that created the key (since its last deletion).
    public var createRevision: Revision
    /// Revision of the last put.
    public var modRevision: Revision
    /// Number of puts since creation (1 for a new key).
    public var version: Int64
    public var lease: LeaseID?

    public init(key: String, value: [UInt8], createRevision: Revision, modRevision: Revision, version: Int64, lease: LeaseID?) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.lease = lease
    }
}

/// A condition on one key, checked atomically at the start of a transaction.
public struct Compare: Hashable, Sendable {
    public enum Condition: Hashable, Sendable {
        case absent
        case present
        case modRevision(Revision)
        case version(Int64)
        case value([UInt8])
    }

    public var key: String
    public var condition: Condition

    public init(_ key: String, _ condition: Condition) {
        self.key = key
        self.condition = condition
    }
}

/// An operation inside a transaction.
public enum StoreOperation: Hashable, Sendable {
    case put(key: String, value: [UInt8], lease: LeaseID?)
    case delete(key: String)
    case deletePrefix(String)
    case get(key: String)
    case range(prefix: String)
}

/// What one operation of a committed transaction returned.
public enum OperationResult: Hashable, Sendable {
    case put(previous: KeyValue?)
    case deleted([KeyValue])
    case kvs([KeyValue])
}

public struct TransactionResult: Hashable, Sendable {
    /// Whether every comparison held (the success branch ran).
    public var succeeded: Bool
    /// The store revision after the transaction.
    public var revision: Revision
    public var results: [OperationResult]
}

/// A change seen by a watcher.
public struct WatchEvent: Hashable, Sendable {
    public enum Kind: UInt8, Hashable, Sendable {
        case put = 1
        case delete = 2
    }

    public var kind: Kind
    /// For a delete: the key, empty value, and `modRevision` = the deletion's revision.
    public var kv: KeyValue
    public var revision: Revision { kv.modRevision }
}

/// A store operation that could not be done. Nothing was changed.
public struct StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        case compacted
        case leaseNotFound
        case invalidKey
        case backend
        case closed
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// Where stores read the time for lease expiry. Tests pass a manual clock.
public protocol StoreClock: Sendable {
    func now() -> Instant
}
