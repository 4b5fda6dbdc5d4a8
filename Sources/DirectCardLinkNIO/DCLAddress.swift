@_exported import BackplaneModel
@_exported import DirectCardLink
import NIOCore

/// Where a DCL node listens or connects.
public enum DCLAddress: Hashable, Sendable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    public var description: String {
        switch self {
        case .tcp(let host, let port): return "tcp://\(host):\(port)"
        case .unix(let path): return "unix://\(path)"
        }
    }
}

/// A failure of a DCL operation, with the protocol status behind it.
public struct DCLError: Error, Hashable, Sendable, CustomStringConvertible {
    public var status: DCLStatus
    public var message: String

    public init(_ status: DCLStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status): \(message)" }
}
