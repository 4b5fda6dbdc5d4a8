/// The message type carried in every frame header.
///
/// Wire values are append-only: a value, once released, keeps its meaning forever; new messages
/// take new values. An unknown value is a protocol error (the peer speaks a version we did not
/// negotiate). See `docs/dcl.md`.
public struct MessageType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    // Control signalling (0x00xx).
    public static let hello = MessageType(rawValue: 0x0001)
    public static let welcome = MessageType(rawValue: 0x0002)
    public static let heartbeat = MessageType(rawValue: 0x0003)
    public static let command = MessageType(rawValue: 0x0004)
    public static let event = MessageType(rawValue: 0x0005)
    public static let close = MessageType(rawValue: 0x0006)
    public static let credit = MessageType(rawValue: 0x0007)
    // Data transfer (0x01xx).
    public static let data = MessageType(rawValue: 0x0101)
    public static let reply = MessageType(rawValue: 0x0102)
    public static let errorReply = MessageType(rawValue: 0x0103)
    // One-sided operations (0x02xx).
    public static let regionRegister = MessageType(rawValue: 0x0201)
    public static let regionWrite = MessageType(rawValue: 0x0202)
    public static let regionRead = MessageType(rawValue: 0x0203)
    public static let regionReadResponse = MessageType(rawValue: 0x0204)
    public static let regionCompletion = MessageType(rawValue: 0x0205)
    // Shard-routed requests (0x03xx).
    public static let routedRequest = MessageType(rawValue: 0x0301)

    /// Every type this version of the library understands.
    public static let known: [MessageType] = [
        .hello, .welcome, .heartbeat, .command, .event, .close, .credit,
        .data, .reply, .errorReply,
        .regionRegister, .regionWrite, .regionRead, .regionReadResponse, .regionCompletion,
        .routedRequest,
    ]

    @inlinable
    public var isKnown: Bool {
        switch rawValue {
        case 0x0001...0x0007, 0x0101...0x0103, 0x0201...0x0205, 0x0301: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .hello: return "hello"
        case .welcome: return "welcome"
        case .heartbeat: return "heartbeat"
        case .command: return "command"
        case .event: return "event"
        case .close: return "close"
        case .credit: return "credit"
        case .data: return "data"
        case .reply: return "reply"
        case .errorReply: return "errorReply"
        case .regionRegister: return "regionRegister"
        case .regionWrite: return "regionWrite"
        case .regionRead: return "regionRead"
        case .regionReadResponse: return "regionReadResponse"
        case .regionCompletion: return "regionCompletion"
        case .routedRequest: return "routedRequest"
        default: return "unknown(0x\(String(rawValue, radix: 16)))"
        }
    }
}
