/// Status codes carried by close, error-reply and region-completion messages. Append-only.
public struct DCLStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let ok = DCLStatus(rawValue: 0)
    public static let normalClose = DCLStatus(rawValue: 1)
    public static let protocolError = DCLStatus(rawValue: 2)
    public static let versionMismatch = DCLStatus(rawValue: 3)
    public static let unauthorized = DCLStatus(rawValue: 4)
    public static let peerDead = DCLStatus(rawValue: 5)
    public static let shuttingDown = DCLStatus(rawValue: 6)
    public static let noRoute = DCLStatus(rawValue: 7)
    public static let noSuchEndpoint = DCLStatus(rawValue: 8)
    public static let handlerFailed = DCLStatus(rawValue: 9)
    public static let timeout = DCLStatus(rawValue: 10)
    public static let regionNotFound = DCLStatus(rawValue: 11)
    public static let regionKeyMismatch = DCLStatus(rawValue: 12)
    public static let regionOutOfBounds = DCLStatus(rawValue: 13)
    public static let regionAccessDenied = DCLStatus(rawValue: 14)
    public static let hopLimitExceeded = DCLStatus(rawValue: 15)
    public static let messageTooLarge = DCLStatus(rawValue: 16)
    public static let noShardOwner = DCLStatus(rawValue: 17)
    public static let flowControlViolation = DCLStatus(rawValue: 18)
    public static let handshakeTimeout = DCLStatus(rawValue: 19)

    public var description: String {
        switch self {
        case .ok: return "ok"
        case .normalClose: return "normalClose"
        case .protocolError: return "protocolError"
        case .versionMismatch: return "versionMismatch"
        case .unauthorized: return "unauthorized"
        case .peerDead: return "peerDead"
        case .shuttingDown: return "shuttingDown"
        case .noRoute: return "noRoute"
        case .noSuchEndpoint: return "noSuchEndpoint"
        case .handlerFailed: return "handlerFailed"
        case .timeout: return "timeout"
        case .regionNotFound: return "regionNotFound"
        case .regionKeyMismatch: return "regionKeyMismatch"
        case .regionOutOfBounds: return "regionOutOfBounds"
        case .regionAccessDenied: return "regionAccessDenied"
        case .hopLimitExceeded: return "hopLimitExceeded"
        case .messageTooLarge: return "messageTooLarge"
        case .noShardOwner: return "noShardOwner"
        case .flowControlViolation: return "flowControlViolation"
        case .handshakeTimeout: return "handshakeTimeout"
        default: return "status(\(rawValue))"
        }
    }
}
