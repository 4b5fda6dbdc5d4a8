import BackplaneModel
import CDCLChecksum
import NIOCore

/// Incremental frame decoder: feed it bytes in any chunking with ``append(_:)``, take frames with
/// ``nextFrame()``.
///
/// Every header field is checked as soon as its bytes arrive, so a hostile peer is rejected
/// before its payload is buffered. Buffering is bounded: the decoder holds at most one frame
/// (header + ``maxPayloadLength``) beyond what the caller appends at once. After an error the
/// decoder stays failed: the connection MUST be closed.
public struct FrameDecoder: Sendable {
    /// The largest payload a single frame may carry. Messages larger than this are fragmented.
    public let maxPayloadLength: Int
    public let supportedVersions: ClosedRange<UInt8>
    private var buffer: ByteBuffer
    private var failure: FrameDecodingError?
    /// Total bytes consumed as complete frames, to name stream offsets in errors.
    public private(set) var consumedBytes: Int = 0

    public static let defaultMaxPayloadLength = 1 << 20

    public init(
        maxPayloadLength: Int = FrameDecoder.defaultMaxPayloadLength,
        supportedVersions: ClosedRange<UInt8> = DCLVersion.supported,
        allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) {
        precondition(maxPayloadLength > 0 && maxPayloadLength <= Int(UInt32.max))
        self.maxPayloadLength = maxPayloadLength
        self.supportedVersions = supportedVersions
        self.buffer = allocator.buffer(capacity: 0)
    }

    /// Bytes received but not yet returned as frames.
    public var bufferedBytes: Int { buffer.readableBytes }

    /// Adds received bytes.
    public mutating func append(_ bytes: ByteBuffer) {
        if buffer.readableBytes == 0 && buffer.readerIndex > 0 {
            buffer.clear()
        }
        var bytes = bytes
        if buffer.readableBytes == 0 && buffer.capacity == 0 {
            buffer = bytes  // common case: take the read buffer as is, no copy
            return
        }
        if buffer.readerIndex > 0 && buffer.readerIndex >= buffer.readableBytes {
            buffer.discardReadBytes()
        }
        buffer.writeBuffer(&bytes)
    }

    /// Returns the next complete frame, `nil` when more bytes are needed.
    /// - Throws: ``FrameDecodingError`` when the stream is not valid DCL.
    public mutating func nextFrame() throws(FrameDecodingError) -> Frame? {
        if let failure { throw failure }
        do {
            return try decodeOne()
        } catch {
            failure = error
            throw error
        }
    }

    /// Call when the stream has ended. Throws ``FrameDecodingError/Code/truncated`` when a
    /// partial frame was left over.
    public func finish() throws(FrameDecodingError) {
        if let failure { throw failure }
        if buffer.readableBytes > 0 {
            throw FrameDecodingError(
                .truncated,
                "stream ended inside a frame at offset \(consumedBytes): \(buffer.readableBytes) byte(s) of an incomplete frame"
            )
        }
    }

    private mutating func decodeOne() throws(FrameDecodingError) -> Frame? {
        let available = buffer.readableBytes
        guard available > 0 else {
            if buffer.capacity > 0 { buffer = ByteBuffer() }  // release the last read buffer
            return nil
        }
        if available >= FrameHeader.size {
            switch try decodeValidFrame() {
            case .frame(let frame): return frame
            case .incomplete: return nil
            case .invalidHeader: break
            }
        }
        // A partial header, or an invalid one: name the first bad field whose bytes are here.
        if let error = headerError(available: available) { throw error }
        return nil
    }

    /// The first invalid header field among the bytes available, checked in wire order.
    private func headerError(available: Int) -> FrameDecodingError? {
        let r = buffer.readerIndex
        let offset = consumedBytes
        if available >= 2 {
            let magic = buffer.getInteger(at: r, as: UInt16.self)!
            if magic != FrameHeader.magic {
                return FrameDecodingError(.badMagic, "bytes \(offset)-\(offset + 1): magic 0x\(hex(magic)), expected 0x\(hex(FrameHeader.magic))")
            }
        }
        if available >= 3 {
            let version = buffer.getInteger(at: r + 2, as: UInt8.self)!
            if !supportedVersions.contains(version) {
                return FrameDecodingError(.unsupportedVersion, "byte \(offset + 2): protocol version \(version), this end speaks \(supportedVersions.lowerBound)...\(supportedVersions.upperBound)")
            }
        }
        if available >= 6 {
            let type = MessageType(rawValue: buffer.getInteger(at: r + 4, as: UInt16.self)!)
            if !type.isKnown {
                return FrameDecodingError(.unknownMessageType, "bytes \(offset + 4)-\(offset + 5): message type 0x\(hex(type.rawValue)) is not defined in version \(buffer.getInteger(at: r + 2, as: UInt8.self)!)")
            }
        }
        if available >= 7 {
            let qos = buffer.getInteger(at: r + 6, as: UInt8.self)!
            if QoSClass(rawValue: qos) == nil {
                return FrameDecodingError(.unknownQoSClass, "byte \(offset + 6): QoS class \(qos), expected 0...\(QoSClass.allCases.count - 1)")
            }
        }
        if available >= 40 {
            let index = buffer.getInteger(at: r + 36, as: UInt16.self)!
            let count = buffer.getInteger(at: r + 38, as: UInt16.self)!
            if count < 1 || index >= count {
                return FrameDecodingError(.badFragmentInfo, "bytes \(offset + 36)-\(offset + 39): fragment index \(index) of count \(count); count must be >= 1 and index < count")
            }
        }
        if available >= 44 {
            let length = Int(buffer.getInteger(at: r + 40, as: UInt32.self)!)
            if length > maxPayloadLength {
                return FrameDecodingError(.payloadTooLarge, "bytes \(offset + 40)-\(offset + 43): payload length \(length) exceeds the limit of \(maxPayloadLength)")
            }
        }
        return nil
    }

    private enum FastDecode {
        case frame(Frame)
        case incomplete
        case invalidHeader
    }

    /// The whole header is here: check every field, parse it, verify the CRC and slice the
    /// payload in one pass over the bytes. `invalidHeader` sends the caller to ``headerError(available:)``.
    private mutating func decodeValidFrame() throws(FrameDecodingError) -> FastDecode {
        let supported = supportedVersions
        let maxPayload = maxPayloadLength
        let parsed: (header: FrameHeader, expected: UInt32, actual: UInt32, complete: Bool)? = buffer.withUnsafeReadableBytes { bytes in
            let p = bytes.baseAddress!
            let count = UInt16(bigEndian: p.loadUnaligned(fromByteOffset: 38, as: UInt16.self))
            let index = UInt16(bigEndian: p.loadUnaligned(fromByteOffset: 36, as: UInt16.self))
            let type = MessageType(rawValue: UInt16(bigEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt16.self)))
            let version = p.load(fromByteOffset: 2, as: UInt8.self)
            let flagsAndHops = p.load(fromByteOffset: 3, as: UInt8.self)
            let length = Int(UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 40, as: UInt32.self)))
            guard UInt16(bigEndian: p.loadUnaligned(fromByteOffset: 0, as: UInt16.self)) == FrameHeader.magic,
                  supported.contains(version), type.isKnown,
                  let qos = QoSClass(rawValue: p.load(fromByteOffset: 6, as: UInt8.self)),
                  count >= 1, index < count, length <= maxPayload
            else { return nil }
            let header = FrameHeader(
                version: version, type: type, flags: FrameFlags(rawValue: flagsAndHops & 0x0F), hops: flagsAndHops >> 4,
                qos: qos, priority: FramePriority(p.load(fromByteOffset: 7, as: UInt8.self)),
                source: CardID(UInt64(bigEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self))),
                destination: CardID(UInt64(bigEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt64.self))),
                correlation: UInt64(bigEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt64.self)),
                sequence: UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 32, as: UInt32.self)),
                fragmentIndex: index, fragmentCount: count, payloadLength: UInt32(length)
            )
            guard bytes.count >= FrameHeader.size + length else { return (header, 0, 0, false) }
            let expected = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 44, as: UInt32.self))
            return (header, expected, dcl_crc32c(dcl_crc32c(0, p, 44), p + FrameHeader.size, length), true)
        }
        guard let parsed else { return .invalidHeader }
        guard parsed.complete else { return .incomplete }
        guard parsed.expected == parsed.actual else {
            let offset = consumedBytes
            throw FrameDecodingError(.checksumMismatch, "bytes \(offset + 44)-\(offset + 47): CRC32C 0x\(hex(parsed.expected)) does not match the frame's 0x\(hex(parsed.actual))")
        }
        let length = Int(parsed.header.payloadLength)
        buffer.moveReaderIndex(forwardBy: FrameHeader.size)
        let payload = buffer.readSlice(length: length)!
        consumedBytes += FrameHeader.size + length
        return .frame(Frame(header: parsed.header, payload: payload))
    }
}

@inline(__always)
func hex<T: FixedWidthInteger>(_ value: T) -> String {
    let s = String(value, radix: 16)
    return String(repeating: "0", count: max(0, MemoryLayout<T>.size * 2 - s.count)) + s
}
