import NIOCore

/// What an app that holds shards implements (the shard SDK's contract; docs/shard-sdk.md).
///
/// The card's shard host calls these over the app's DCL link (a Unix socket in its
/// container). Calls for different shards may run at the same time; calls for one shard too,
/// except that the host never calls ``snapshot(shard:)``, ``restore(shard:snapshot:)``,
/// ``apply(shard:changes:)`` or ``drop(shard:)`` of a shard while it waits for another of them.
///
/// Sequences: every change an app makes to a shard gets the next sequence number of that shard
/// (from 1). A snapshot holds the changes up to the sequence it returns; ``changes(shard:since:)``
/// returns every change after `since`, in order, with the sequence of the last one.
public protocol ShardApp: Sendable {
    /// Serves one request for `key`, which hashes into `shard`; the request and the answer are
    /// the app's own bytes. Thrown errors reach the client as a failed request with the
    /// error's description.
    func serve(shard: UInt32, key: ByteBuffer, request: ByteBuffer) async throws -> ByteBuffer
    /// Makes an empty shard ready to receive a snapshot (this instance is a migration's target).
    func prepare(shard: UInt32) async throws
    /// The shard's contents and the sequence they hold; from now on the app MUST keep every
    /// later change of the shard until ``release(shard:)`` or ``drop(shard:)``.
    func snapshot(shard: UInt32) async throws -> (sequence: UInt64, data: ByteBuffer)
    /// Every change after `since` (kept since the snapshot), and the sequence of the last one
    /// (`since` when there are none).
    func changes(shard: UInt32, since: UInt64) async throws -> (sequence: UInt64, data: ByteBuffer)
    /// The sequence of the shard's last change (0 for none).
    func sequence(shard: UInt32) async throws -> UInt64
    /// Replaces the (prepared) shard's contents with a snapshot from another instance.
    func restore(shard: UInt32, snapshot: ByteBuffer) async throws
    /// Applies changes from ``changes(shard:since:)`` of another instance, in order.
    func apply(shard: UInt32, changes: ByteBuffer) async throws
    /// The migration that took the snapshot was abandoned: changes need no longer be kept.
    func release(shard: UInt32) async throws
    /// Forgets the shard (it moved away, or an abandoned migration's copy).
    func drop(shard: UInt32) async throws
    /// The bytes each shard holds (for `backplane shards` and placement).
    func sizes() async -> [UInt32: UInt64]
}
