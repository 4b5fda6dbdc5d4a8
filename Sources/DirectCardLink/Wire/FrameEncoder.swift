import BackplaneModel
import CDCLChecksum
import NIOCore

/// Writes frames onto the end of a buffer: header, payload, then the payload length and the
/// CRC32C patched in. Many frames can go into one buffer so a shell sends them in one write.
public enum FrameEncoder {
    /// Appends one frame whose payload is produced by `writePayload`.
    /// The header's `payloadLength` is ignored and replaced by what `writePayload` wrote.
    @inlinable
    public static func write(
        _ header: FrameHeader,
        into buffer: inout ByteBuffer,
        payload writePayload: (inout ByteBuffer) -> Void
    ) {
        let start = buffer.writerIndex
        writeHeaderFields(header, into: &buffer)
        buffer.writeInteger(UInt32(0))  // payload length, patched below
        buffer.writeInteger(UInt32(0))  // CRC32C, patched below
        writePayload(&buffer)
        let payloadLength = buffer.writerIndex - start - FrameHeader.size
        buffer.setInteger(UInt32(truncatingIfNeeded: payloadLength), at: start + 40)
        let crc = checksum(of: buffer, frameStart: start, payloadLength: payloadLength)
        buffer.setInteger(crc, at: start + 44)
    }

    /// Appends one frame with the given payload bytes.
    @inlinable
    public static func write(_ frame: Frame, into buffer: inout ByteBuffer) {
        var payload = frame.payload
        write(frame.header, into: &buffer) { $0.writeBuffer(&payload) }
    }

    /// Appends one data frame (endpoint name and body) with a single access to `buffer`: the
    /// hot path for small messages.
    @inlinable
    public static func writeData(_ header: FrameHeader, endpoint: String, body: ByteBuffer, into buffer: inout ByteBuffer) {
        var endpoint = endpoint
        let payloadLength = 2 + endpoint.utf8.count + body.readableBytes
        let frameLength = FrameHeader.size + payloadLength
        body.withUnsafeReadableBytes { bodyBytes in
            endpoint.withUTF8 { name in
                _ = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: frameLength) { out in
                    let p = out.baseAddress!
                    storeHeader(header, payloadLength: payloadLength, at: p)
                    p.storeBytes(of: UInt16(name.count).bigEndian, toByteOffset: 48, as: UInt16.self)
                    if name.count > 0 { (p + 50).copyMemory(from: name.baseAddress!, byteCount: name.count) }
                    if bodyBytes.count > 0 { (p + 50 + name.count).copyMemory(from: bodyBytes.baseAddress!, byteCount: bodyBytes.count) }
                    let crc = dcl_crc32c(dcl_crc32c(0, p, 44), p + FrameHeader.size, payloadLength)
                    p.storeBytes(of: crc.bigEndian, toByteOffset: 44, as: UInt32.self)
                    return frameLength
                }
            }
        }
    }

    /// Stores header bytes 0..<44 (everything but the CRC) at `p`.
    @inlinable
    static func storeHeader(_ h: FrameHeader, payloadLength: Int, at p: UnsafeMutableRawPointer) {
        p.storeBytes(of: FrameHeader.magic.bigEndian, toByteOffset: 0, as: UInt16.self)
        p.storeBytes(of: h.version, toByteOffset: 2, as: UInt8.self)
        p.storeBytes(of: (h.hops << 4) | h.flags.rawValue, toByteOffset: 3, as: UInt8.self)
        p.storeBytes(of: h.type.rawValue.bigEndian, toByteOffset: 4, as: UInt16.self)
        p.storeBytes(of: h.qos.rawValue, toByteOffset: 6, as: UInt8.self)
        p.storeBytes(of: h.priority.rawValue, toByteOffset: 7, as: UInt8.self)
        p.storeBytes(of: h.source.rawValue.bigEndian, toByteOffset: 8, as: UInt64.self)
        p.storeBytes(of: h.destination.rawValue.bigEndian, toByteOffset: 16, as: UInt64.self)
        p.storeBytes(of: h.correlation.bigEndian, toByteOffset: 24, as: UInt64.self)
        p.storeBytes(of: h.sequence.bigEndian, toByteOffset: 32, as: UInt32.self)
        p.storeBytes(of: h.fragmentIndex.bigEndian, toByteOffset: 36, as: UInt16.self)
        p.storeBytes(of: h.fragmentCount.bigEndian, toByteOffset: 38, as: UInt16.self)
        p.storeBytes(of: UInt32(truncatingIfNeeded: payloadLength).bigEndian, toByteOffset: 40, as: UInt32.self)
    }

    /// Encodes one frame into a new buffer.
    public static func encode(_ frame: Frame, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: FrameHeader.size + frame.payload.readableBytes)
        write(frame, into: &buffer)
        return buffer
    }

    @inlinable
    static func writeHeaderFields(_ header: FrameHeader, into buffer: inout ByteBuffer) {
        buffer.writeMultipleIntegers(
            FrameHeader.magic,
            header.version,
            (header.hops << 4) | header.flags.rawValue,
            header.type.rawValue,
            header.qos.rawValue,
            header.priority.rawValue,
            header.source.rawValue,
            header.destination.rawValue,
            header.correlation,
            header.sequence,
            header.fragmentIndex,
            header.fragmentCount
        )
    }

    /// CRC32C over header bytes 0..<44 and the payload of the frame starting at absolute
    /// index `frameStart` of `buffer`.
    @inlinable
    static func checksum(of buffer: ByteBuffer, frameStart: Int, payloadLength: Int) -> UInt32 {
        buffer.withUnsafeReadableBytes { bytes in
            let base = bytes.baseAddress! + (frameStart - buffer.readerIndex)
            let headerCRC = dcl_crc32c(0, base, 44)
            return dcl_crc32c(headerCRC, base + FrameHeader.size, payloadLength)
        }
    }
}
