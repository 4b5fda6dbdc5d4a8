import NIOCore

/// One shard as the host names it in a call: its id and the key hashes it owns (inclusive,
/// `KeyHash.of(key)`). The id is a label; the range is what counts. Between two calls a shard's
/// range can shrink (a split gives its upper part a new id) or grow (a merge takes in its
/// neighbour's range) without any call to the app: an app keeps its data by key (or key hash),
/// never by shard id, and a call for a range concerns exactly the keys whose hash is in it.
public struct ShardRange: Hashable, Sendable, CustomStringConvertible {
    public var id: UInt32
    public var lower: UInt64
    public var upper: UInt64
    public init(id: UInt32, lower: UInt64, upper: UInt64) {
        self.id = id
        self.lower = lower
        self.upper = upper
    }
    public func contains(_ hash: UInt64) -> Bool { lower <= hash && hash <= upper }
    public var description: String { "shard \(id) [\(String(lower, radix: 16))–\(String(upper, radix: 16))]" }
}

/// What an app that holds shards implements (the shard SDK's contract; docs/shard-sdk.md).
///
/// The card's shard host calls these over the app's DCL link (a Unix socket in its
/// container). Calls for different shards may run at the same time; calls for one shard too,
/// except that the host never calls ``snapshot(_:)``, ``restore(_:snapshot:)``,
/// ``apply(_:changes:)`` or ``drop(_:)`` of a shard while it waits for another of them.
///
/// Sequences: every change an app makes gets a number above every earlier one of the instance
/// (one counter per instance is enough). A snapshot holds the range's changes up to the number
/// it returns; ``changes(_:since:)`` returns every change of a key in the range after `since`,
/// in order, with the number of the last one (`since` when there are none).
public protocol ShardApp: Sendable {
    /// Serves one request for `key`, whose hash is in `shard`; the request and the answer are
    /// the app's own bytes. Thrown errors reach the client as a failed request with the
    /// error's description.
    func serve(_ shard: ShardRange, key: ByteBuffer, request: ByteBuffer) async throws -> ByteBuffer
    /// Makes the range empty and ready to receive a snapshot (this instance is a migration's
    /// target).
    func prepare(_ shard: ShardRange) async throws
    /// The range's contents and the number they hold; from now on the app MUST keep every later
    /// change in the range until ``release(_:)`` or ``drop(_:)`` of this shard.
    func snapshot(_ shard: ShardRange) async throws -> (sequence: UInt64, data: ByteBuffer)
    /// Every change in the range after `since` (kept since the snapshot), and the number of the
    /// last one (`since` when there are none).
    func changes(_ shard: ShardRange, since: UInt64) async throws -> (sequence: UInt64, data: ByteBuffer)
    /// The number of the range's last change since its snapshot (the snapshot's number when
    /// there was none). The host asks it only between a snapshot and its release or drop.
    func sequence(_ shard: ShardRange) async throws -> UInt64
    /// Replaces the (prepared) range's contents with a snapshot from another instance.
    func restore(_ shard: ShardRange, snapshot: ByteBuffer) async throws
    /// Applies changes from ``changes(_:since:)`` of another instance, in order.
    func apply(_ shard: ShardRange, changes: ByteBuffer) async throws
    /// The migration that took the snapshot was abandoned: changes need no longer be kept.
    func release(_ shard: ShardRange) async throws
    /// Forgets every key in the range (it moved away, or an abandoned migration's copy).
    func drop(_ shard: ShardRange) async throws
    /// The bytes each range holds, in the order asked (for `backplane shards` and placement).
    func sizes(_ shards: [ShardRange]) async -> [UInt64]
}
