import BackplaneModel
import NIOCore

/// One DCL frame: a header and its payload bytes (for a fragment, one piece of a message's payload).
public struct Frame: Hashable, Sendable {
    public var header: FrameHeader
    public var payload: ByteBuffer

    public init(header: FrameHeader, payload: ByteBuffer) {
        self.header = header
        self.payload = payload
        self.header.payloadLength = UInt32(payload.readableBytes)
    }
}
