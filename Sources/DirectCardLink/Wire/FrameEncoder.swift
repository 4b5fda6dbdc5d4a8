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
