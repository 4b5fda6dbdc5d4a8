import NIOCore

/// Field-level helpers for message payloads: integers big-endian, strings as a u16 length and
/// UTF-8 bytes, short byte strings as a u16 length and bytes, a trailing body as "the rest".
extension ByteBuffer {
    @inlinable
    mutating func writeShortString(_ string: String) {
        let lengthIndex = writerIndex
        writeInteger(UInt16(0))
        let written = writeString(string)
        precondition(written <= Int(UInt16.max), "DCL strings are at most 65535 bytes")
        setInteger(UInt16(written), at: lengthIndex)
    }

    @inlinable
    mutating func writeShortBytes(_ bytes: ByteBuffer) {
        precondition(bytes.readableBytes <= Int(UInt16.max), "DCL short byte strings are at most 65535 bytes")
        writeInteger(UInt16(bytes.readableBytes))
        writeImmutableBuffer(bytes)
    }
}

/// Reads payload fields, naming the field and message type when the payload is short or bad.
struct PayloadReader {
    var buffer: ByteBuffer
    let type: MessageType

    init(_ buffer: ByteBuffer, type: MessageType) {
        self.buffer = buffer
        self.type = type
    }

    @inline(__always)
    mutating func integer<T: FixedWidthInteger>(_ field: String, as: T.Type = T.self) throws(PayloadDecodingError) -> T {
        guard let value = buffer.readInteger(as: T.self) else {
            throw PayloadDecodingError(type: type, field: field, reason: "is truncated: needs \(MemoryLayout<T>.size) byte(s), \(buffer.readableBytes) left")
        }
        return value
    }

    @inline(__always)
    mutating func string(_ field: String) throws(PayloadDecodingError) -> String {
        let length = Int(try integer(field + ".length", as: UInt16.self))
        guard let bytes = buffer.readSlice(length: length) else {
            throw PayloadDecodingError(type: type, field: field, reason: "is truncated: length says \(length) byte(s), \(buffer.readableBytes) left")
        }
        guard let string = String(validating: bytes.readableBytesView, as: UTF8.self) else {
            throw PayloadDecodingError(type: type, field: field, reason: "is not valid UTF-8")
        }
        return string
    }

    @inline(__always)
    mutating func shortBytes(_ field: String) throws(PayloadDecodingError) -> ByteBuffer {
        let length = Int(try integer(field + ".length", as: UInt16.self))
        guard let bytes = buffer.readSlice(length: length) else {
            throw PayloadDecodingError(type: type, field: field, reason: "is truncated: length says \(length) byte(s), \(buffer.readableBytes) left")
        }
        return bytes
    }

    mutating func rest() -> ByteBuffer {
        buffer.readSlice(length: buffer.readableBytes)!
    }

    func end() throws(PayloadDecodingError) {
        guard buffer.readableBytes == 0 else {
            throw PayloadDecodingError(type: type, field: "(end)", reason: "has \(buffer.readableBytes) unexpected trailing byte(s)")
        }
    }
}
