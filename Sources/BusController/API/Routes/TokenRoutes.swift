import BackplaneModel
import Foundation
import Hummingbird
import NIOCore

extension APIServer {
    /// Tokens: `POST /v1/tokens` (answers the token once), `GET /v1/tokens` (never a secret or
    /// hash), `DELETE /v1/tokens/:id`. A bus-admin manages every token; a tenant-admin those of
    /// its tenant (tenant-admin, operator, viewer). Another tenant's token is 404.
    func tokenRoutes() -> RouteCollection<APIRequestContext> {
        let routes = RouteCollection(context: APIRequestContext.self)
        routes.post("tokens") { request, context in
            let caller = try context.requireRole(.manageTokens, "create tokens")
            let body = try await request.body.collect(upTo: Self.bodyLimit)
            var wanted = try TokenRequest.parse(Data(body.readableBytesView))
            if wanted.role.isTenantScoped && wanted.tenant == nil {
                guard let own = caller.tenant else {
                    throw APIError(.badRequest, "tenant: is required for a \(wanted.role.rawValue) token", details: ["tenant": "is required for a \(wanted.role.rawValue) token"])
                }
                wanted.tenant = own
            }
            _ = try context.require(.manageTokens, in: wanted.tenant, "create \(wanted.role.rawValue) tokens")
            let issued = try await self.tokens.issue(role: wanted.role, tenant: wanted.tenant, ttl: wanted.ttl, description: wanted.description)
            self.bmc.record("token.created", "\(issued.role.rawValue) token \(issued.id)\(issued.tenant.map { " of \($0)" } ?? "") by \(caller.tokenID)", tenant: issued.tenant)
            var response = try Self.encode(issued, status: .created)
            response.headers[.cacheControl] = "no-store"
            return response
        }
        routes.get("tokens") { request, context in
            let scope = try Self.listScope(request, context, .manageTokens, "list tokens")
            return try Self.encode(try await self.tokens.records().filter { scope == nil || $0.tenant == scope }.map(\.info))
        }
        routes.delete("tokens/:id") { _, context in
            let caller = try context.requireRole(.manageTokens, "revoke tokens")
            let id = try context.parameters.require("id")
            guard TokenStore.isID(id) else {
                throw APIError(.badRequest, "id: '\(Quantity.excerpt(id))' is not a token id (16 hex digits, as `backplane token list` shows)", details: ["id": "is not a token id (16 hex digits)"])
            }
            guard let record = try await self.tokens.record(id), caller.may(.manageTokens, in: record.tenant), try await self.tokens.revoke(id) else {
                throw APIError(.notFound, "no token '\(id)'")
            }
            self.bmc.record("token.revoked", "\(record.role.rawValue) token \(id)\(record.tenant.map { " of \($0)" } ?? "") by \(caller.tokenID)", tenant: record.tenant)
            return Response(status: .noContent)
        }
        return routes
    }
}

/// The body of `POST /v1/tokens`: `{"role": "operator", "tenant": "team-a", "ttl": "7d",
/// "description": "CI"}`. Every bad field is named; nothing else is accepted.
struct TokenRequest: Sendable, Equatable {
    var role: TokenRole
    var tenant: String?
    /// nil: never expires (a join token: ``defaultJoinTTL``).
    var ttl: Duration?
    var description: String

    static let fields = ["description", "role", "tenant", "ttl"]
    /// A join token without a ttl lives this long.
    static let defaultJoinTTL = Duration.seconds(3600)
    /// What `ttl` accepts (the OpenAPI document's pattern): 1 to 9999 seconds, minutes, hours or days.
    static let ttlPattern = "^[1-9][0-9]{0,3}[smhd]$"

    static func parse(_ body: Data) throws -> TokenRequest {
        guard let object = try? JSONDecoder().decode([String: Quota.FieldValue].self, from: body) else {
            throw APIError(.badRequest, "the body must be a JSON object such as {\"role\": \"operator\", \"tenant\": \"team-a\", \"ttl\": \"7d\"}",
                           details: ["(body)": "must be a JSON object such as {\"role\": \"operator\", \"tenant\": \"team-a\", \"ttl\": \"7d\"}"])
        }
        var details: [String: String] = [:]
        for key in object.keys.sorted() where !fields.contains(key) {
            details[Quantity.excerpt(key)] = "is not a token field (role, tenant, ttl, description)"
        }
        func text(_ field: String) -> String? {
            switch object[field] {
            case nil: return nil
            case .text(let text)?: return text
            default: details[field] = "must be text"; return nil
            }
        }
        let role = text("role").flatMap { text in
            TokenRole(rawValue: text) ?? { details["role"] = "'\(Quantity.excerpt(text))' is not a role (bus-admin, tenant-admin, operator, viewer, join)"; return nil }()
        }
        if object["role"] == nil { details["role"] = "is required (bus-admin, tenant-admin, operator, viewer or join)" }
        let tenant = text("tenant")
        if let tenant, let problem = WorkloadSpec.nameProblem(tenant) { details["tenant"] = problem }
        if tenant != nil, let role, !role.isTenantScoped { details["tenant"] = "a \(role.rawValue) token has no tenant" }
        let ttl = text("ttl").flatMap { text in
            parseTTL(text) ?? { details["ttl"] = "'\(Quantity.excerpt(text))' is not a duration such as 30m, 1h or 7d (1 to 9999 of s, m, h or d)"; return nil }()
        }
        let description = text("description") ?? ""
        if let problem = descriptionProblem(description) { details["description"] = problem }
        guard details.isEmpty, let role else {
            throw APIError(.badRequest, details.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; "), details: details)
        }
        return TokenRequest(role: role, tenant: tenant, ttl: ttl ?? (role == .join ? defaultJoinTTL : nil), description: description)
    }

    /// `30s`, `15m`, `1h`, `7d`: 1 to 9999 of a unit, nothing else (so it never overflows).
    static func parseTTL(_ text: String) -> Duration? {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        guard let unit = text.last.flatMap({ units[$0] }), text.utf8.count <= 5 else { return nil }
        let digits = text.dropLast()
        guard let first = digits.first, first != "0", digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int64(digits) else { return nil }
        return .seconds(n * unit)
    }

    /// At most ``TokenStore/maximumDescriptionLength`` characters, none a control character.
    static func descriptionProblem(_ text: String) -> String? {
        if text.unicodeScalars.count > TokenStore.maximumDescriptionLength { return "is longer than \(TokenStore.maximumDescriptionLength) characters" }
        // Control characters (C0, DEL, C1) and the invisible ones that reorder or hide text in a
        // listing (zero-width, bidirectional overrides, BOM): the OpenAPI pattern's exact ranges.
        let refused: [ClosedRange<UInt32>] = [0...0x1F, 0x7F...0x9F, 0x200B...0x200F, 0x202A...0x202E, 0x2066...0x2069, 0xFEFF...0xFEFF]
        if text.unicodeScalars.contains(where: { scalar in refused.contains { $0.contains(scalar.value) } }) {
            return "must not hold control, zero-width or bidirectional-override characters"
        }
        return nil
    }
}
