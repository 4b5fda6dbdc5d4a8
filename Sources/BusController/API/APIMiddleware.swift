import BackplaneModel
import ClusterStore
import DirectCardLinkNIO
import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1

/// Turns every failure into `{"error": {"code", "message", "details"}}`, and answers what no
/// route should see:
///
/// - `CONNECT` → 405, connection closed (its "body" is a tunnel that never ends);
/// - a declared `Content-Length` over the limit → 413 before reading, connection closed; a
///   chunked body over it → 413 when reading passes the limit;
/// - a path no route has → 404; a path some route has with another method → 405 with `Allow`;
/// - a body NIO's parser rejects mid-request (a bad chunk size) → 400, connection closed.
///
/// Responses that close the connection carry `Connection: close`; ``APIConnectionHandler``
/// closes after writing them.
struct APIErrorMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let routes: [(method: HTTPRequest.Method, path: String)]
    let bodyLimit: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.method == .connect {
            return Self.response(APIError(.methodNotAllowed, "CONNECT is not supported: the BMC is not a proxy"), headers: [.allow: Self.allMethods, .connection: "close"])
        }
        if let length = request.headers[.contentLength], Int(length).map({ $0 > bodyLimit }) ?? (length.count > 18) {
            return Self.tooLarge(bodyLimit)
        }
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return Self.response(error)
        } catch let error as HTTPError where error.status == .notFound && (context.endpointPath ?? "NotFound") == "NotFound" {
            let allowed = allowedMethods(request.uri.path)
            guard !allowed.isEmpty else {
                return Self.response(APIError(.notFound, "no route \(request.method.rawValue.prefix(16)) \(Quantity.excerpt(request.uri.path)); see /v1/openapi.json"))
            }
            let allow = allowed.map(\.rawValue).joined(separator: ", ")
            return Self.response(APIError(.methodNotAllowed, "\(Quantity.excerpt(request.method.rawValue)) is not allowed here; allowed: \(allow)", details: ["allow": allow]), headers: [.allow: allow])
        } catch let error as HTTPError {
            let code: APIError.Code = error.status == .notFound ? .notFound : error.status.code >= 500 ? .internalError : .badRequest
            return Self.response(APIError(code, error.body ?? "\(error.status.reasonPhrase)"), status: error.status)
        } catch is NIOTooManyBytesError {
            return Self.tooLarge(bodyLimit)
        } catch let error as HTTPParserError {
            return Self.response(APIError(.badRequest, "malformed HTTP request: \(error)"), headers: [.connection: "close"])
        } catch let error as StoreError where error.code == .invalidKey {
            return Self.response(APIError(.badRequest, "a name in the request is too long or empty: \(error.message)"))
        } catch let error as DCLError {
            return Self.response(APIError(.unavailable, "card unreachable: \(error)"))
        } catch {
            return Self.response(APIError(.internalError, "\(error)"))
        }
    }

    /// The methods of every route whose path matches `path` (`:x` matches any one segment).
    func allowedMethods(_ path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        var methods: [HTTPRequest.Method] = []
        for route in routes {
            let pattern = route.path.split(separator: "/")
            guard pattern.count == segments.count, zip(pattern, segments).allSatisfy({ $0.hasPrefix(":") || $0 == $1 }) else { continue }
            if !methods.contains(route.method) { methods.append(route.method) }
            if route.method == .get && !methods.contains(.head) { methods.append(.head) }  // Hummingbird answers HEAD for every GET
        }
        return methods
    }

    static let allMethods = "GET, HEAD, POST, DELETE"

    static func tooLarge(_ limit: Int) -> Response {
        response(APIError(.payloadTooLarge, "the request body is larger than \(limit) bytes", details: ["limit": String(limit)]), headers: [.connection: "close"])
    }

    static func response(_ error: APIError, status: HTTPResponse.Status? = nil, headers: HTTPFields = [:]) -> Response {
        struct Body: Encodable {
            struct Inner: Encodable {
                var code: String
                var message: String
                var details: [String: String]
            }
            var error: Inner
        }
        let text = (try? APIServer.encoder.encode(Body(error: .init(code: error.code.rawValue, message: error.message, details: error.details)))).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        var response = APIServer.json(text, status: status ?? HTTPResponse.Status(code: error.code.status))
        for field in headers { response.headers[field.name] = field.value }
        if error.code == .unauthorized { response.headers[.wwwAuthenticate] = #"Bearer realm="backplane""# }
        return response
    }
}

/// Counts every request in ``BusMetrics``: by the route that matched (`unmatched` when none, so
/// hostile paths never become labels), the method (`other` for unusual ones) and the status.
struct APIMetricsMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let metrics: BusMetrics

    static let methods: Set<HTTPRequest.Method> = [.get, .post, .put, .delete, .patch, .head, .options, .connect, .trace]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let method = Self.methods.contains(request.method) ? request.method.rawValue : "other"
        do {
            let response = try await next(request, context)
            metrics.apiRequestFinished(route: Self.route(context), method: method, status: response.status.code, duration: .now - start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.apiRequestFinished(route: Self.route(context), method: method, status: status, duration: .now - start)
            throw error
        }
    }

    static func route(_ context: Context) -> String {
        guard let path = context.endpointPath, path != "NotFound" else { return "unmatched" }
        return path
    }
}

/// Writes every change asked of the API — POST, PUT, DELETE and PATCH to a known route, refused
/// ones included (401 and 403 too) — to the ``AuditLog`` with the caller and the status.
struct APIAuditMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let audit: AuditLog
    static let changes: Set<HTTPRequest.Method> = [.post, .put, .delete, .patch]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.changes.contains(request.method) else { return try await next(request, context) }
        do {
            let response = try await next(request, context)
            await record(request, context, status: response.status.code)
            return response
        } catch {
            await record(request, context, status: (error as? any HTTPResponseError)?.status.code ?? 500)
            throw error
        }
    }

    private func record(_ request: Request, _ context: Context, status: Int) async {
        let route = APIMetricsMiddleware.route(context)
        guard route != "unmatched" else { return }
        let caller = context.identity
        let entry = AuditEntry(time: BusManagementController.wallClock(), who: caller?.tokenID ?? AuditEntry.anonymous, role: caller?.role.rawValue, tenant: caller?.tenant,
                               method: request.method.rawValue, route: route, target: String(request.uri.description.prefix(300)), status: status)
        do {
            try await audit.append(entry)
        } catch {
            context.logger.error("cannot write the audit log", metadata: ["error": "\(error)", "route": "\(route)"])
        }
    }
}
