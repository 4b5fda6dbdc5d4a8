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
        let r = buffer.readerIndex
        let offset = consumedBytes
        // Check each field as soon as its bytes are here.
        if available >= 2 {
            let magic = buffer.getInteger(at: r, as: UInt16.self)!
            guard magic == FrameHeader.magic else {
                throw FrameDecodingError(.badMagic, "bytes \(offset)-\(offset + 1): magic 0x\(hex(magic)), expected 0x\(hex(FrameHeader.magic))")
            }
        }
        if available >= 3 {
            let version = buffer.getInteger(at: r + 2, as: UInt8.self)!
            guard supportedVersions.contains(version) else {
                throw FrameDecodingError(.unsupportedVersion, "byte \(offset + 2): protocol version \(version), this end speaks \(supportedVersions.lowerBound)...\(supportedVersions.upperBound)")
            }
        }
        if available >= 6 {
            let type = MessageType(rawValue: buffer.getInteger(at: r + 4, as: UInt16.self)!)
            guard type.isKnown else {
                throw FrameDecodingError(.unknownMessageType, "bytes \(offset + 4)-\(offset + 5): message type 0x\(hex(type.rawValue)) is not defined in version \(buffer.getInteger(at: r + 2, as: UInt8.self)!)")
            }
        }
        if available >= 7 {
            let qos = buffer.getInteger(at: r + 6, as: UInt8.self)!
            guard QoSClass(rawValue: qos) != nil else {
                throw FrameDecodingError(.unknownQoSClass, "byte \(offset + 6): QoS class \(qos), expected 0...\(QoSClass.allCases.count - 1)")
            }
        }
        if available >= 40 {
            let index = buffer.getInteger(at: r + 36, as: UInt16.self)!
            let count = buffer.getInteger(at: r + 38, as: UInt16.self)!
            guard count >= 1, index < count else {
                throw FrameDecodingError(.badFragmentInfo, "bytes \(offset + 36)-\(offset + 39): fragment index \(index) of count \(count); count must be >= 1 and index < count")
            }
        }
        guard available >= FrameHeader.size else { return nil }
        let length = Int(buffer.getInteger(at: r + 40, as: UInt32.self)!)
        guard length <= maxPayloadLength else {
            throw FrameDecodingError(.payloadTooLarge, "bytes \(offset + 40)-\(offset + 43): payload length \(length) exceeds the limit of \(maxPayloadLength)")
        }
        guard available >= FrameHeader.size + length else { return nil }

        let expected = buffer.getInteger(at: r + 44, as: UInt32.self)!
        let actual = FrameEncoder.checksum(of: buffer, frameStart: r, payloadLength: length)
        guard expected == actual else {
            throw FrameDecodingError(.checksumMismatch, "bytes \(offset + 44)-\(offset + 47): CRC32C 0x\(hex(expected)) does not match the frame's 0x\(hex(actual))")
        }
        let (magic, version, flagsAndHops, type, qos, priority, source, destination, correlation, sequence, fragmentIndex, fragmentCount) =
            buffer.readMultipleIntegers(as: (UInt16, UInt8, UInt8, UInt16, UInt8, UInt8, UInt64, UInt64, UInt64, UInt32, UInt16, UInt16).self)!
        _ = magic
        buffer.moveReaderIndex(forwardBy: 8)  // length and CRC, already read
        let payload = buffer.readSlice(length: length)!
        consumedBytes += FrameHeader.size + length
        let header = FrameHeader(
            version: version,
            type: MessageType(rawValue: type),
            flags: FrameFlags(rawValue: flagsAndHops & 0x0F),
            hops: flagsAndHops >> 4,
            qos: QoSClass(rawValue: qos)!,
            priority: FramePriority(priority),
            source: CardID(source),
            destination: CardID(destination),
            correlation: correlation,
            sequence: sequence,
            fragmentIndex: fragmentIndex,
            fragmentCount: fragmentCount,
            payloadLength: UInt32(length)
        )
        return Frame(header: header, payload: payload)
    }
}

@inline(__always)
func hex<T: FixedWidthInteger>(_ value: T) -> String {
    let s = String(value, radix: 16)
    return String(repeating: "0", count: max(0, MemoryLayout<T>.size * 2 - s.count)) + s
}
