import NIOCore

/// The requests a shard host sends to its apps over their DCL link, and their binary bodies
/// (big-endian). Both sides use these; a body that does not decode is refused with a
/// ``ShardAppWireError`` naming the field.
public enum ShardAppWire {
    // A `range` is `[u32 shard][u64 lower][u64 upper]` (20 bytes; lower ≤ upper).

    /// `[range][u16 key length][key][request]` → the answer.
    public static let serve = "app.serve"
    /// `[range]` → empty.
    public static let prepare = "app.prepare"
    /// `[range]` → `[u64 sequence][snapshot]`.
    public static let snapshot = "app.snapshot"
    /// `[range][u64 since]` → `[u64 sequence][changes]`.
    public static let changes = "app.changes"
    /// `[range]` → `[u64 sequence]`.
    public static let sequence = "app.sequence"
    /// `[range][snapshot]` → empty.
    public static let restore = "app.restore"
    /// `[range][changes]` → empty.
    public static let apply = "app.apply"
    /// `[range]` → empty.
    public static let release = "app.release"
    /// `[range]` → empty.
    public static let drop = "app.drop"
    /// `[u32 count][range]…` → `[u64 bytes]` per range, in the order asked.
    public static let sizes = "app.sizes"

    /// The most ranges one `app.sizes` call may name.
    public static let maximumSizesRanges = 65_536

    /// Hello metadata: the instance the app runs as (its token proves it).
    public static let instanceKey = "instance"
    /// Environment of a sharded instance: the socket path, its token and its instance id.
    public static let socketVariable = "BACKPLANE_SHARD_SOCKET"
    public static let tokenVariable = "BACKPLANE_SHARD_TOKEN"
    public static let instanceVariable = "BACKPLANE_INSTANCE"

    /// Keys are at most this long (they travel with a 16-bit length).
    public static let maximumKeyLength = Int(UInt16.max)

    public static func serveBody(_ shard: ShardRange, key: ByteBuffer, request: ByteBuffer) -> ByteBuffer {
        var b = ByteBuffer()
        b.reserveCapacity(22 + key.readableBytes + request.readableBytes)
        write(shard, to: &b)
        b.writeInteger(UInt16(clamping: key.readableBytes))
        b.writeImmutableBuffer(key.getSlice(at: key.readerIndex, length: min(key.readableBytes, maximumKeyLength))!)
        b.writeImmutableBuffer(request)
        return b
    }

    public static func decodeServe(_ body: ByteBuffer) throws(ShardAppWireError) -> (shard: ShardRange, key: ByteBuffer, request: ByteBuffer) {
        var b = body
        let shard = try rangeField(&b)
        guard let length = b.readInteger(as: UInt16.self) else { throw ShardAppWireError("key length: missing") }
        guard let key = b.readSlice(length: Int(length)) else { throw ShardAppWireError("key: \(length) bytes declared, \(b.readableBytes) present") }
        return (shard, key, b)
    }

    public static func rangeBody(_ shard: ShardRange, _ rest: ByteBuffer = ByteBuffer()) -> ByteBuffer {
        var b = ByteBuffer()
        b.reserveCapacity(20 + rest.readableBytes)
        write(shard, to: &b)
        b.writeImmutableBuffer(rest)
        return b
    }

    static func write(_ shard: ShardRange, to b: inout ByteBuffer) {
        b.writeMultipleIntegers(shard.id, shard.lower, shard.upper)
    }

    /// The range at the front of a body, the rest left in `body`.
    public static func rangeField(_ body: inout ByteBuffer) throws(ShardAppWireError) -> ShardRange {
        guard let (id, lower, upper) = body.readMultipleIntegers(as: (UInt32, UInt64, UInt64).self) else {
            throw ShardAppWireError("range: expected 20 bytes (shard, lower, upper), got \(body.readableBytes)")
        }
        guard lower <= upper else { throw ShardAppWireError("range: lower \(String(lower, radix: 16)) is above upper \(String(upper, radix: 16))") }
        return ShardRange(id: id, lower: lower, upper: upper)
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

    public static func sizesRequest(_ shards: [ShardRange]) -> ByteBuffer {
        var b = ByteBuffer()
        b.reserveCapacity(4 + 20 * shards.count)
        b.writeInteger(UInt32(clamping: shards.count))
        for shard in shards.prefix(maximumSizesRanges) { write(shard, to: &b) }
        return b
    }

    public static func decodeSizesRequest(_ body: ByteBuffer) throws(ShardAppWireError) -> [ShardRange] {
        var b = body
        guard let count = b.readInteger(as: UInt32.self) else { throw ShardAppWireError("count: missing") }
        guard count <= maximumSizesRanges else { throw ShardAppWireError("count: at most \(maximumSizesRanges) ranges, got \(count)") }
        guard UInt64(count) * 20 == UInt64(b.readableBytes) else { throw ShardAppWireError("ranges: \(count) need \(UInt64(count) * 20) bytes, got \(b.readableBytes)") }
        var shards: [ShardRange] = []
        shards.reserveCapacity(Int(count))
        for _ in 0..<count { shards.append(try rangeField(&b)) }
        return shards
    }

    public static func sizesAnswer(_ sizes: [UInt64]) -> ByteBuffer {
        var b = ByteBuffer()
        b.reserveCapacity(8 * sizes.count)
        for bytes in sizes { b.writeInteger(bytes) }
        return b
    }

    /// `count`: how many ranges were asked (the answer must have one size for each).
    public static func decodeSizesAnswer(_ body: ByteBuffer, count: Int) throws(ShardAppWireError) -> [UInt64] {
        var b = body
        guard b.readableBytes == 8 * count else { throw ShardAppWireError("sizes: \(count) ranges need \(8 * count) bytes, got \(b.readableBytes)") }
        return (0..<count).map { _ in b.readInteger(as: UInt64.self)! }
    }
}

public struct ShardAppWireError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
