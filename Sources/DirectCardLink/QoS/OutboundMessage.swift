import BackplaneModel
import NIOCore

/// A message waiting to be sent on one link, with the addressing and QoS of its frames.
public struct OutboundMessage: Sendable {
    public enum Body: Sendable {
        /// Encoded straight into the outgoing buffer when its turn comes (no intermediate copy).
        case message(Message)
        /// A data message: the hot path, kept small so queueing it is cheap.
        case data(endpoint: String, body: ByteBuffer)
        /// An already-encoded payload, sent in fragments.
        case encoded(ByteBuffer)
        /// A frame received from another link being forwarded as is (already a single fragment).
        case forwarded(Frame)
        /// Complete small frames of one class and priority band, already encoded back to back by
        /// the producer (see `DCLConnection`). `payloadBytes` is their payload total.
        case run(ByteBuffer, payloadBytes: Int)
    }

    public var type: MessageType
    public var flags: FrameFlags
    public var qos: QoSClass
    public var priority: FramePriority
    public var source: CardID
    public var destination: CardID
    public var correlation: UInt64
    /// Set by whoever numbers this link's messages; the scheduler numbers those left nil.
    public var sequence: UInt32?
    public var body: Body

    public init(_ message: Message, qos: QoSClass, priority: FramePriority = .normal, flags: FrameFlags = [], source: CardID, destination: CardID, correlation: UInt64 = 0) {
        self.type = message.type
        self.flags = flags
        self.qos = qos
        self.priority = priority
        self.source = source
        self.destination = destination
        self.correlation = correlation
        if case .data(let d) = message {
            self.body = .data(endpoint: d.endpoint, body: d.body)
        } else {
            self.body = .message(message)
        }
    }

    /// A data message for `endpoint` (the fast path of ``init(_:qos:priority:flags:source:destination:correlation:)``).
    @inlinable
    public init(endpoint: String, body: ByteBuffer, qos: QoSClass, priority: FramePriority = .normal, flags: FrameFlags = [], source: CardID, destination: CardID, correlation: UInt64 = 0) {
        self.type = .data
        self.flags = flags
        self.qos = qos
        self.priority = priority
        self.source = source
        self.destination = destination
        self.correlation = correlation
        self.body = .data(endpoint: endpoint, body: body)
    }

    /// Wraps a received frame for forwarding; its hop count goes up by one.
    public init(forwarding frame: Frame) {
        var frame = frame
        frame.header.hops += 1
        self.type = frame.header.type
        self.flags = frame.header.flags
        self.qos = frame.header.qos
        self.priority = frame.header.priority
        self.source = frame.header.source
        self.destination = frame.header.destination
        self.correlation = frame.header.correlation
        self.body = .forwarded(frame)
    }

    /// True for a frame relayed from another link.
    public var isForwarded: Bool {
        if case .forwarded = body { return true }
        return false
    }

    /// Payload bytes this message will put on the link (headers not counted).
    public var payloadLength: Int {
        switch body {
        case .message(let m): return m.encodedPayloadLength
        case .data(let endpoint, let body): return 2 + endpoint.utf8.count + body.readableBytes
        case .encoded(let b): return b.readableBytes
        case .forwarded(let f): return f.payload.readableBytes
        case .run(_, let payloadBytes): return payloadBytes
        }
    }
}

extension OutboundMessage {
    /// A run of pre-encoded frames (all of class `qos`, priority band of `priority`).
    public init(run: ByteBuffer, payloadBytes: Int, qos: QoSClass, priority: FramePriority) {
        self.type = .data
        self.flags = .oneWay
        self.qos = qos
        self.priority = priority
        self.source = .unassigned
        self.destination = .unassigned
        self.correlation = 0
        self.body = .run(run, payloadBytes: payloadBytes)
    }
}
