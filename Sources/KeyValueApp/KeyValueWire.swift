import NIOCore

/// The key-value app's requests and answers (the body of a shard-routed request; the key
/// travels as the request's shard key). Big-endian, documented in docs/shard-sdk.md.
///
/// Request: `[u8 op]` then for `set` the value. Answer: `[u8 status]` then for `value` the value.
public enum KeyValueWire {
    public enum Operation: UInt8, Sendable {
        case get = 1
        case set = 2
        case delete = 3
    }

    public enum Answer: Hashable, Sendable {
        case value(ByteBuffer)
        case notFound
        case stored
        case deleted(Bool)
    }

    /// The largest value the app stores.
    public static let maximumValueBytes = 4 << 20

    public static func request(_ op: Operation, value: ByteBuffer? = nil) -> ByteBuffer {
        var b = ByteBuffer()
        b.reserveCapacity(1 + (value?.readableBytes ?? 0))
        b.writeInteger(op.rawValue)
        if let value { b.writeImmutableBuffer(value) }
        return b
    }

    public static func decodeRequest(_ body: ByteBuffer) throws(KeyValueError) -> (Operation, ByteBuffer) {
        var b = body
        guard let raw = b.readInteger(as: UInt8.self) else { throw KeyValueError("request: empty (expected an operation byte)") }
        guard let op = Operation(rawValue: raw) else { throw KeyValueError("request: operation \(raw) is not 1 (get), 2 (set) or 3 (delete)") }
        if op != .set, b.readableBytes > 0 { throw KeyValueError("request: \(op) takes no value, \(b.readableBytes) bytes follow") }
        if b.readableBytes > maximumValueBytes { throw KeyValueError("value: \(b.readableBytes) bytes; at most \(maximumValueBytes)") }
        return (op, b)
    }

    public static func answer(_ a: Answer) -> ByteBuffer {
        var b = ByteBuffer()
        switch a {
        case .value(let v):
            b.reserveCapacity(1 + v.readableBytes)
            b.writeInteger(UInt8(0))
            b.writeImmutableBuffer(v)
        case .notFound: b.writeInteger(UInt8(1))
        case .stored: b.writeInteger(UInt8(2))
        case .deleted(let existed): b.writeInteger(existed ? UInt8(3) : UInt8(4))
        }
        return b
    }

    public static func decodeAnswer(_ body: ByteBuffer) throws(KeyValueError) -> Answer {
        var b = body
        switch b.readInteger(as: UInt8.self) {
        case 0: return .value(b)
        case 1 where b.readableBytes == 0: return .notFound
        case 2 where b.readableBytes == 0: return .stored
        case 3 where b.readableBytes == 0: return .deleted(true)
        case 4 where b.readableBytes == 0: return .deleted(false)
        case let status: throw KeyValueError("answer: status \(status.map(String.init) ?? "missing") with \(b.readableBytes) bytes is not one the key-value app sends")
        }
    }
}

public struct KeyValueError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
