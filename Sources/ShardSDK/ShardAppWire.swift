import NIOCore

/// The requests a shard host sends to its apps over their DCL link, and their binary bodies
/// (big-endian). Both sides use these; a body that does not decode is refused with a
/// ``ShardAppWireError`` naming the field.
public enum ShardAppWire {
    /// `[u32 shard][u16 key length][key][request]` → the answer.
    public static let serve = "app.serve"
    /// `[u32 shard]` → empty.
    public static let prepare = "app.prepare"
    /// `[u32 shard]` → `[u64 sequence][snapshot]`.
    public static let snapshot = "app.snapshot"
    /// `[u32 shard][u64 since]` → `[u64 sequence][changes]`.
    public static let changes = "app.changes"
    /// `[u32 shard]` → `[u64 sequence]`.
    public static let sequence = "app.sequence"
    /// `[u32 shard][snapshot]` → empty.
    public static let restore = "app.restore"
    /// `[u32 shard][changes]` → empty.
    public static let apply = "app.apply"
    /// `[u32 shard]` → empty.
    public static let release = "app.release"
    /// `[u32 shard]` → empty.
    public static let drop = "app.drop"
    /// empty → `[u32 count]` then `[u32 shard][u64 bytes]` per shard.
    public static let sizes = "app.sizes"

    /// Hello metadata: the instance the app runs as (its token proves it).
    public static let instanceKey = "instance"
    /// Environment of a sharded instance: the socket path, its token and its instance id.
    public static let socketVariable = "BACKPLANE_SHARD_SOCKET"
    public static let tokenVariable = "BACKPLANE_SHARD_TOKEN"
    public static let instanceVariable = "BACKPLANE_INSTANCE"

    /// Keys are at most this long (they travel with a 16-bit length).
    public static let maximumKeyLength = Int(UInt16.max)

    public static func serveBody(shard: UInt32, key: ByteBuffer, request: ByteBuffer) -> ByteBuffer {
        var b = ByteBuffer()
        b.reserveCapacity(6 + key.readableBytes + request.readableBytes)
        b.writeInteger(shard)
        b.writeInteger(UInt16(clamping: key.readableBytes))
        b.writeImmutableBuffer(key.getSlice(at: key.readerIndex, length: min(key.readableBytes, maximumKeyLength))!)
        b.writeImmutableBuffer(request)
        return b
    }

    public static func decodeServe(_ body: ByteBuffer) throws(ShardAppWireError) -> (shard: UInt32, key: ByteBuffer, request: ByteBuffer) {
        var b = body
        let shard = try shardField(&b)
        guard let length = b.readInteger(as: UInt16.self) else { throw ShardAppWireError("key length: missing") }
        guard let key = b.readSlice(length: Int(length)) else { throw ShardAppWireError("key: \(length) bytes declared, \(b.readableBytes) present") }
        return (shard, key, b)
    }

    public static func shardBody(_ shard: UInt32, _ rest: ByteBuffer = ByteBuffer()) -> ByteBuffer {
        var b = ByteBuffer()
        b.writeInteger(shard)
        b.writeImmutableBuffer(rest)
        return b
    }

    /// The shard id at the front of a body, the rest left in `body`.
    public static func shardField(_ body: inout ByteBuffer) throws(ShardAppWireError) -> UInt32 {
        guard let shard = body.readInteger(as: UInt32.self) else { throw ShardAppWireError("shard: expected 4 bytes, got \(body.readableBytes)") }
        return shard
    }

    public static func sequenced(_ sequence: UInt64, _ data: ByteBuffer) -> ByteBuffer {
        var b = ByteBuffer()
        b.reserveCapacity(8 + data.readableBytes)
        b.writeInteger(sequence)
        b.writeImmutableBuffer(data)
        return b
    }

    public static func decodeSequenced(_ body: ByteBuffer) throws(ShardAppWireError) -> (sequence: UInt64, data: ByteBuffer) {
        var b = body
        guard let sequence = b.readInteger(as: UInt64.self) else { throw ShardAppWireError("sequence: expected 8 bytes, got \(b.readableBytes)") }
        return (sequence, b)
    }

    public static func sizesBody(_ sizes: [UInt32: UInt64]) -> ByteBuffer {
        var b = ByteBuffer()
        b.writeInteger(UInt32(sizes.count))
        for (shard, bytes) in sizes.sorted(by: { $0.key < $1.key }) { b.writeMultipleIntegers(shard, bytes) }
        return b
    }

    public static func decodeSizes(_ body: ByteBuffer) throws(ShardAppWireError) -> [UInt32: UInt64] {
        var b = body
        guard let count = b.readInteger(as: UInt32.self) else { throw ShardAppWireError("count: missing") }
        guard UInt64(count) * 12 == UInt64(b.readableBytes) else { throw ShardAppWireError("sizes: \(count) entries need \(UInt64(count) * 12) bytes, got \(b.readableBytes)") }
        var sizes: [UInt32: UInt64] = [:]
        for _ in 0..<count {
            guard let (shard, bytes) = b.readMultipleIntegers(as: (UInt32, UInt64).self) else { break }
            sizes[shard] = bytes
        }
        return sizes
    }
}

public struct ShardAppWireError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
