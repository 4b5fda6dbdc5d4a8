import Foundation
import Hummingbird
import HummingbirdAuth
import Logging

/// The API's request context: Hummingbird's core context plus the caller, once
/// ``BearerTokenAuthenticator`` has checked the token.
public struct APIRequestContext: AuthRequestContext, RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The caller, when the request carried a valid API token.
    public var identity: Caller?
    /// Why the request has no caller (a bad token, the store unreachable); nil when it sent none.
    var authenticationFailure: APIError?

    public init(source: Source) {
        coreContext = .init(source: source)
    }

    /// The caller; 401 without one (``RequireCallerMiddleware`` refuses such requests earlier).
    func caller() throws -> Caller {
        guard let identity else { throw authenticationFailure ?? RequireCallerMiddleware.noToken }
        return identity
    }

    /// The caller, when it may do `permission` in `tenant` (nil: bus-wide); else 403 naming `what`.
    func require(_ permission: Caller.Permission, in tenant: String?, _ what: String) throws -> Caller {
        let caller = try caller()
        guard caller.may(permission, in: tenant) else { throw caller.forbidden(what, in: tenant) }
        return caller
    }

    /// The caller, when its role grants `permission` in some tenant; else 403 naming `what`.
    /// Routes that learn the tenant later (from a body or a record) check it then.
    func requireRole(_ permission: Caller.Permission, _ what: String) throws -> Caller {
        let caller = try caller()
        guard Caller.allows(caller.role, permission) else { throw caller.forbidden(what, in: nil) }
        return caller
    }
}

/// Reads `Authorization: Bearer <token>` and, when the token is a valid API token, sets the
/// context's identity. Never refuses a request itself: ``RequireCallerMiddleware`` does, inside
/// the error and audit middleware, so refusals are enveloped and audited.
struct BearerTokenAuthenticator: AuthenticatorMiddleware {
    typealias Context = APIRequestContext
    typealias Identity = Caller
    let tokens: TokenStore

    func authenticate(request: Request, context: Context) async throws -> Caller? {
        guard let token = Self.bearer(request.headers[.authorization]) else { return nil }
        return try await tokens.authenticate(token).map(Caller.init)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        do {
            context.identity = try await authenticate(request: request, context: context)
            if context.identity == nil, let header = request.headers[.authorization] {
                context.authenticationFailure = Self.bearer(header) == nil ? RequireCallerMiddleware.notBearer : RequireCallerMiddleware.invalidToken
            }
        } catch {
            context.logger.error("cannot check a bearer token", metadata: ["error": "\(error)"])
            context.authenticationFailure = APIError(.unavailable, "cannot check the bearer token: the store did not answer")
        }
        return try await next(request, context)
    }

    /// The token of an `Authorization: Bearer <token>` header (the scheme in any case, RFC 7235).
    static func bearer(_ header: String?) -> String? {
        guard let header, header.utf8.count <= 512 else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}

/// Refuses, with 401, every request without a caller but those to ``publicPaths`` (the OpenAPI
/// document). Runs inside ``APIErrorMiddleware``, which adds `WWW-Authenticate: Bearer`.
struct RequireCallerMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    /// Paths answered without a token.
    static let publicPaths: Set<String> = ["/v1/openapi.json"]

    static let noToken = APIError(.unauthorized, "no bearer token: send Authorization: Bearer <token> (`backplane up` writes one to the client config; `backplane token create` makes more)")
    static let notBearer = APIError(.unauthorized, "the Authorization header must be 'Bearer <token>'")
    static let invalidToken = APIError(.unauthorized, "the bearer token is not valid: unknown, revoked, expired, malformed, or a join token (those are for cards only)")

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if context.identity == nil && !Self.publicPaths.contains(request.uri.path) {
            throw context.authenticationFailure ?? Self.noToken
        }
        return try await next(request, context)
    }
}
