/// A byte stream that is not valid DCL. The connection that produced it must be closed with
/// ``reason`` sent to the peer; the process must carry on.
public struct FrameDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        case badMagic
        case unsupportedVersion
        case payloadTooLarge
        case checksumMismatch
        case unknownMessageType
        case unknownQoSClass
        case badFragmentInfo
        case truncated
    }

    public var code: Code
    /// Says which field or byte offset is wrong and what was expected.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// A frame whose payload does not hold the fields its message type requires.
public struct PayloadDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    public var type: MessageType
    public var field: String
    public var reason: String

    public init(type: MessageType, field: String, reason: String) {
        self.type = type
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(type) payload: field '\(field)' \(reason)" }
}
