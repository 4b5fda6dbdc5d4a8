import BackplaneModel
import Foundation
import Hummingbird

extension APIServer {
    /// `GET /v1/audit?since=SECONDS&limit=N&tenant=T`: the changes asked of the API, oldest
    /// first. A tenant-admin reads those of its tenant's tokens; a bus-admin every one.
    func auditRoutes() -> RouteCollection<APIRequestContext> {
        let routes = RouteCollection(context: APIRequestContext.self)
        routes.get("audit") { request, context in
            let tenant = try Self.listScope(request, context, .readAudit, "read the audit log")
            var since: UInt64 = 0
            if let text = request.uri.queryParameters["since"] {
                // Bounded so that nanoseconds fit a UInt64 (1e11 s trapped the BMC: schemathesis).
                guard let seconds = Double(String(text)), seconds.isFinite, seconds >= 0, seconds <= 1e10 else {
                    throw APIError(.badRequest, "since: '\(Quantity.excerpt(String(text)))' is not a time in seconds since 1970 (0 to 1e10)", details: ["since": "is not a time in seconds since 1970 (0 to 1e10)"])
                }
                since = UInt64(seconds * 1e9)
            }
            var limit = 1000
            if let text = request.uri.queryParameters["limit"] {
                guard let n = Int(String(text)), (1...10_000).contains(n) else {
                    throw APIError(.badRequest, "limit: '\(Quantity.excerpt(String(text)))' is not a whole number from 1 to 10000", details: ["limit": "must be a whole number from 1 to 10000"])
                }
                limit = n
            }
            return try Self.encode(try await self.audit.entries(since: since, count: limit, tenant: tenant))
        }
        return routes
    }
}
