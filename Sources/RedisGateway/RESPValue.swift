import NIOCore

/// One RESP2 value, as a Redis server sends it.
///
/// Simple strings and errors are single lines: ``write(to:)`` replaces any CR or LF in them with a
/// space, so a message can never break the framing. Bulk strings are binary-safe.
public enum RESPValue: Hashable, Sendable {
    /// `+OK\r\n`
    case simpleString(String)
    /// `-ERR message\r\n`. The text starts with the error code (`ERR`, `NOPROTO`, ...).
    case error(String)
    /// `:42\r\n`
    case integer(Int64)
    /// `$3\r\nfoo\r\n`; `nil` is the null bulk string `$-1\r\n`.
    case bulkString([UInt8]?)
    /// `*2\r\n...`; `nil` is the null array `*-1\r\n`.
    case array([RESPValue]?)

    /// `+OK`
    public static let ok = RESPValue.simpleString("OK")
    /// `$-1`, the reply for a missing key.
    public static let null = RESPValue.bulkString(nil)

    /// A bulk string holding the UTF-8 bytes of `text`.
    public static func bulk(_ text: String) -> RESPValue { .bulkString(Array(text.utf8)) }

    /// `-ERR message` (the usual error code).
    public static func err(_ message: String) -> RESPValue { .error("ERR " + message) }

    /// True for ``error(_:)``.
    public var isError: Bool {
        if case .error = self { return true }
        return false
    }

    /// Appends the RESP2 encoding of this value to `buffer`.
    public func write(to buffer: inout ByteBuffer) {
        switch self {
        case .simpleString(let text):
            buffer.writeInteger(UInt8(ascii: "+"))
            Self.writeLine(text, to: &buffer)
        case .error(let text):
            buffer.writeInteger(UInt8(ascii: "-"))
            Self.writeLine(text, to: &buffer)
        case .integer(let value):
            buffer.writeInteger(UInt8(ascii: ":"))
            Self.writeDecimal(value, to: &buffer)
            buffer.writeCRLF()
        case .bulkString(nil):
            buffer.writeStaticString("$-1\r\n")
        case .bulkString(let bytes?):
            buffer.writeInteger(UInt8(ascii: "$"))
            Self.writeDecimal(Int64(bytes.count), to: &buffer)
            buffer.writeCRLF()
            buffer.writeBytes(bytes)
            buffer.writeCRLF()
        case .array(nil):
            buffer.writeStaticString("*-1\r\n")
        case .array(let elements?):
            buffer.writeInteger(UInt8(ascii: "*"))
            Self.writeDecimal(Int64(elements.count), to: &buffer)
            buffer.writeCRLF()
            for element in elements { element.write(to: &buffer) }
        }
    }

    /// The RESP2 encoding of this value.
    public var encoded: ByteBuffer {
        var buffer = ByteBuffer()
        write(to: &buffer)
        return buffer
    }

    private static func writeLine(_ text: String, to buffer: inout ByteBuffer) {
        let offset = buffer.writerIndex - buffer.readerIndex
        let written = buffer.writeString(text)
        // A CR or LF inside a line would end it early: the peer would read the rest as a reply.
        buffer.withUnsafeMutableReadableBytes { bytes in
            for i in offset..<(offset + written) where bytes[i] == 13 || bytes[i] == 10 {
                bytes[i] = UInt8(ascii: " ")
            }
        }
        buffer.writeCRLF()
    }

    /// Writes `value` in decimal ASCII without going through `String`.
    static func writeDecimal(_ value: Int64, to buffer: inout ByteBuffer) {
        if value >= 0 && value < 10 {
            buffer.writeInteger(UInt8(ascii: "0") + UInt8(value))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 20 digits and a sign fit in 24 bytes
        var magnitude = value.magnitude
        var count = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            repeat {
                raw[23 - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            if value < 0 {
                raw[23 - count] = UInt8(ascii: "-")
                count += 1
            }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[(24 - count)...]))
        }
    }
}

extension ByteBuffer {
    mutating func writeCRLF() {
        writeInteger(UInt16(0x0D0A))  // big-endian: '\r' then '\n'
    }
}
