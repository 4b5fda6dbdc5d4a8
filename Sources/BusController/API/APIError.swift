/// An API failure, sent as `{"error": {"code", "message", "details"}}`.
public struct APIError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        case badRequest = "bad_request"
        case invalidSpec = "invalid_spec"
        /// No token, or one that is malformed, unknown, revoked, expired or not an API token.
        case unauthorized
        /// A valid token whose role or tenant does not allow the request.
        case forbidden
        case notFound = "not_found"
        case methodNotAllowed = "method_not_allowed"
        case conflict
        case payloadTooLarge = "payload_too_large"
        case unavailable
        case internalError = "internal"

        var status: Int {
            switch self {
            case .badRequest, .invalidSpec: return 400
            case .unauthorized: return 401
            case .forbidden: return 403
            case .notFound: return 404
            case .methodNotAllowed: return 405
            case .conflict: return 409
            case .payloadTooLarge: return 413
            case .unavailable: return 503
            case .internalError: return 500
            }
        }
    }

    public var code: Code
    public var message: String
    public var details: [String: String]

    public init(_ code: Code, _ message: String, details: [String: String] = [:]) {
        self.code = code
        self.message = message
        self.details = details
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
