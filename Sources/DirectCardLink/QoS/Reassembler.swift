import BackplaneModel
import NIOCore

/// Joins fragments back into whole messages.
///
/// Fragments of one message (same source and sequence) arrive in order on a link; fragments of
/// different messages may interleave. Memory is bounded by ``maxMessageBytes`` per message and
/// ``maxPartialMessages`` messages in progress; anything outside those bounds is an error and
/// the connection must be closed.
public struct Reassembler: Sendable {
    struct Key: Hashable, Sendable {
        var source: CardID
        var sequence: UInt32
    }

    struct Partial: Sendable {
        var header: FrameHeader
        var buffer: ByteBuffer
        var nextIndex: UInt16
    }

    public let maxMessageBytes: Int
    public let maxPartialMessages: Int
    private var partials: [Key: Partial] = [:]

    public init(maxMessageBytes: Int = 64 << 20, maxPartialMessages: Int = 64) {
        self.maxMessageBytes = maxMessageBytes
        self.maxPartialMessages = maxPartialMessages
    }

    /// Messages in progress.
    public var partialCount: Int { partials.count }

    /// Takes one frame; returns the whole message when this frame completes it (an unfragmented
    /// frame completes at once).
    public mutating func frameReceived(_ frame: Frame) throws(FrameDecodingError) -> Frame? {
        let h = frame.header
        if h.fragmentCount == 1 { return frame }
        let key = Key(source: h.source, sequence: h.sequence)
        if h.fragmentIndex == 0 {
            guard partials[key] == nil else {
                throw FrameDecodingError(.badFragmentInfo, "sequence \(h.sequence) from \(h.source): fragment 0 arrived twice")
            }
            guard partials.count < maxPartialMessages else {
                throw FrameDecodingError(.badFragmentInfo, "more than \(maxPartialMessages) fragmented messages in progress at once")
            }
            guard frame.payload.readableBytes <= maxMessageBytes else {
                throw FrameDecodingError(.payloadTooLarge, "fragmented message exceeds \(maxMessageBytes) bytes")
            }
            var buffer = ByteBuffer()
            buffer.reserveCapacity(min(maxMessageBytes, frame.payload.readableBytes * Int(h.fragmentCount)))
            buffer.writeImmutableBuffer(frame.payload)
            partials[key] = Partial(header: h, buffer: buffer, nextIndex: 1)
            return nil
        }
        guard var partial = partials.removeValue(forKey: key) else {
            throw FrameDecodingError(.badFragmentInfo, "sequence \(h.sequence) from \(h.source): fragment \(h.fragmentIndex) without fragment 0")
        }
        guard h.fragmentIndex == partial.nextIndex, h.fragmentCount == partial.header.fragmentCount,
              h.type == partial.header.type, h.qos == partial.header.qos
        else {
            throw FrameDecodingError(.badFragmentInfo, "sequence \(h.sequence) from \(h.source): got fragment \(h.fragmentIndex)/\(h.fragmentCount) of \(h.type), expected \(partial.nextIndex)/\(partial.header.fragmentCount) of \(partial.header.type)")
        }
        guard partial.buffer.readableBytes + frame.payload.readableBytes <= maxMessageBytes else {
            throw FrameDecodingError(.payloadTooLarge, "fragmented message exceeds \(maxMessageBytes) bytes")
        }
        partial.buffer.writeImmutableBuffer(frame.payload)
        partial.nextIndex += 1
        if partial.nextIndex == h.fragmentCount {
            var header = partial.header
            header.fragmentIndex = 0
            header.fragmentCount = 1
            return Frame(header: header, payload: partial.buffer)
        }
        partials[key] = partial
        return nil
    }
}
