import NIOCore

/// Decoding a payload whose type the caller already knows.
extension Hello {
    public init(decoding payload: ByteBuffer) throws(PayloadDecodingError) {
        guard case .hello(let m) = try Message.decode(type: .hello, payload: payload) else { preconditionFailure("decode(type: .hello) returns .hello") }
        self = m
    }
}

extension Welcome {
    public init(decoding payload: ByteBuffer) throws(PayloadDecodingError) {
        guard case .welcome(let m) = try Message.decode(type: .welcome, payload: payload) else { preconditionFailure("decode(type: .welcome) returns .welcome") }
        self = m
    }
}

extension Credit {
    public init(decoding payload: ByteBuffer) throws(PayloadDecodingError) {
        guard case .credit(let m) = try Message.decode(type: .credit, payload: payload) else { preconditionFailure("decode(type: .credit) returns .credit") }
        self = m
    }
}

extension DataMessage {
    /// Decodes a data payload in one pass over its bytes (the receive hot path).
    @inlinable
    public init(decoding payload: ByteBuffer) throws(PayloadDecodingError) {
        // (name, name length) or a failure reason, from one pass over the bytes.
        let parsed: Result<(String, Int), PayloadDecodingError> = payload.withUnsafeReadableBytes { bytes in
            guard bytes.count >= 2 else {
                return .failure(PayloadDecodingError(type: .data, field: "endpoint.length", reason: "is truncated: needs 2 byte(s), \(bytes.count) left"))
            }
            let length = Int(UInt16(bigEndian: bytes.loadUnaligned(as: UInt16.self)))
            guard bytes.count >= 2 + length else {
                return .failure(PayloadDecodingError(type: .data, field: "endpoint", reason: "is truncated: length says \(length) byte(s), \(bytes.count - 2) left"))
            }
            guard let name = decodeUTF8(UnsafeRawBufferPointer(rebasing: bytes[2..<(2 + length)])) else {
                return .failure(PayloadDecodingError(type: .data, field: "endpoint", reason: "is not valid UTF-8"))
            }
            return .success((name, length))
        }
        let (endpoint, length) = try parsed.get()
        self.endpoint = endpoint
        self.body = payload.getSlice(at: payload.readerIndex + 2 + length, length: payload.readableBytes - 2 - length)!
    }
}

/// UTF-8 bytes to a String, or nil when they are not valid UTF-8. Endpoint names are almost
/// always ASCII, which needs no validation beyond the high bit.
@inlinable
func decodeUTF8(_ bytes: UnsafeRawBufferPointer) -> String? {
    var high: UInt8 = 0
    for b in bytes { high |= b }
    if high < 0x80 { return String(decoding: bytes, as: UTF8.self) }
    return String(validating: bytes, as: UTF8.self)
}
