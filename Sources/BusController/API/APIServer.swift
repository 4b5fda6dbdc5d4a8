import BackplaneModel
import DirectCardLinkNIO
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOSSL
import NIOCore
import WorkloadBalancer
import Yams

/// The BMC's HTTP API under `/v1` (JSON; workload specs also as YAML). Errors are
/// `{"error": {"code", "message", "details"}}`. The OpenAPI document is at `/v1/openapi.json`.
///
/// Hostile input is answered, never fatal: bodies over ``bodyLimit`` get 413, a known path with
/// another method 405 with `Allow`, an unknown path 404, bad names and values 400 naming the
/// field — all with the error envelope (see ``APIErrorMiddleware``). `GET /metrics` serves
/// ``BusMetrics`` in Prometheus text format; every request is counted there by route.
///
/// Every route but `GET /v1/openapi.json` needs `Authorization: Bearer <token>` (401 without a
/// valid API token, 403 when its role or tenant does not allow the request; see ``Caller``).
/// Reads are scoped to the caller's tenant: another tenant's named object is 404, another
/// tenant's list or a change there 403.
public struct APIServer: Sendable {
    public let bmc: BusManagementController
    public let metrics: BusMetrics
    /// Every change asked of the API (see ``APIAuditMiddleware``).
    public let audit: AuditLog
    /// The bearer tokens callers present.
    public let tokens: TokenStore
    public init(bmc: BusManagementController, metrics: BusMetrics = .process, tokens: TokenStore? = nil) {
        self.bmc = bmc
        self.metrics = metrics
        self.audit = AuditLog(store: bmc.registry.store)
        self.tokens = tokens ?? TokenStore(store: bmc.registry.store)
    }

    /// The largest request body accepted (413 above).
    public static let bodyLimit = 1 << 20

    /// Every route: method and path (`:x` is a parameter). ``APIErrorMiddleware`` answers 405
    /// with `Allow` from this table; a test checks it against the router and the OpenAPI document.
    public static let routes: [(method: HTTPRequest.Method, path: String)] = [
        (.get, "/metrics"), (.get, "/v1/openapi.json"), (.get, "/v1/cards"), (.post, "/v1/cards/:id/drain"), (.delete, "/v1/cards/:id"),
        (.get, "/v1/instances"), (.get, "/v1/instances/:id/logs"), (.get, "/v1/events"),
        (.get, "/v1/workloads"), (.post, "/v1/workloads"), (.get, "/v1/workloads/:name"), (.delete, "/v1/workloads/:name"),
        (.get, "/v1/metrics"), (.get, "/v1/workloads/:name/metrics"), (.get, "/v1/workloads/:name/forecast"),
        (.get, "/v1/workloads/:name/explain"), (.post, "/v1/workloads/:name/scale"),
        (.get, "/v1/quotas"), (.put, "/v1/quotas/:tenant"), (.delete, "/v1/quotas/:tenant"), (.get, "/v1/audit"),
        (.get, "/v1/tokens"), (.post, "/v1/tokens"), (.delete, "/v1/tokens/:id"),
        (.get, "/v1/workloads/:name/shards"), (.post, "/v1/workloads/:name/shards/:shard/migrate"),
        (.post, "/v1/workloads/:name/shards/:shard/split"), (.post, "/v1/workloads/:name/shards/:shard/merge"),
        (.get, "/v1/plan"),
    ]

    public func router() -> Router<APIRequestContext> {
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: APIMetricsMiddleware(metrics: metrics))
        // Before the audit (which records the caller); refusing is RequireCallerMiddleware's job.
        router.add(middleware: BearerTokenAuthenticator(tokens: tokens))
        router.add(middleware: APIAuditMiddleware(audit: audit))
        router.add(middleware: APIErrorMiddleware(routes: Self.routes, bodyLimit: Self.bodyLimit))
        router.add(middleware: RequireCallerMiddleware())
        // Bus-wide counters without tenant names: any API token may scrape them.
        router.get("metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: BusMetrics.contentType], body: .init(byteBuffer: ByteBuffer(bytes: self.metrics.exposition())))
        }
        router.get("v1/openapi.json") { _, _ in Self.json(OpenAPIDocument.text) }
        // One route collection per resource (API/Routes).
        router.addRoutes(cardRoutes(), atPath: "/v1")
        router.addRoutes(instanceRoutes(), atPath: "/v1")
        router.addRoutes(workloadRoutes(), atPath: "/v1")
        router.addRoutes(insightRoutes(), atPath: "/v1")
        router.addRoutes(quotaRoutes(), atPath: "/v1")
        router.addRoutes(auditRoutes(), atPath: "/v1")
        router.addRoutes(tokenRoutes(), atPath: "/v1")
        router.addRoutes(shardRoutes(), atPath: "/v1")
        return router
    }

    /// Runs the API on `host:port` until cancelled.
    public func run(host: String, port: Int, tls: TLSConfiguration? = nil) async throws {
        try await application(host: host, port: port, tls: tls).runService(gracefulShutdownSignals: [])
    }

    /// The HTTP/1.1 server (HTTPS with `tls`): the router, plus ``APIConnectionHandler`` so that
    /// requests NIO's parser rejects get an enveloped 400 and a closed connection.
    public func application(host: String, port: Int, tls: TLSConfiguration? = nil) throws -> some ApplicationProtocol {
        let http1 = HTTPServerBuilder.http1(configuration: .init(additionalChannelHandlers: [APIConnectionHandler()], idleTimeout: .seconds(60)))
        return Application(
            router: router(),
            server: try tls.map { try .tls(http1, tlsConfiguration: $0) } ?? http1,
            configuration: .init(address: .hostname(host, port: port), serverName: "backplane-bmc"))
    }

    /// A workload the caller may read: 404 when it does not exist, is another tenant's, or is
    /// quarantined (409).
    func existingWorkload(_ request: Request, _ context: APIRequestContext) async throws -> (tenant: String, name: String) {
        let (tenant, name) = try readableWorkloadName(request, context)
        switch try await bmc.registry.workloadRecord(tenant: tenant, name: name) {
        case nil: throw Self.noWorkload(tenant: tenant, name: name)
        case .quarantined(let q)?: throw Self.quarantinedError(q)
        case .valid?: return (tenant, name)
        }
    }

    /// ``workloadName(_:_:)`` of a workload the caller may read; another tenant's is 404 (its
    /// existence is not revealed).
    func readableWorkloadName(_ request: Request, _ context: APIRequestContext) throws -> (tenant: String, name: String) {
        let caller = try context.caller()
        let (tenant, name) = try Self.workloadName(request, context)
        guard caller.may(.read, in: tenant) else { throw Self.noWorkload(tenant: tenant, name: name) }
        return (tenant, name)
    }

    static func noWorkload(tenant: String, name: String) -> APIError {
        APIError(.notFound, "no workload '\(name)' in tenant '\(tenant)'")
    }

    /// The `{name}` path parameter and the `tenant` query parameter (default: the caller's
    /// tenant; bus-admin's is `default`), each a valid name (else 400: a name can never be longer
    /// than ``WorkloadSpec/maximumNameLength``).
    static func workloadName(_ request: Request, _ context: APIRequestContext) throws -> (tenant: String, name: String) {
        let name = try context.parameters.require("name")
        if let problem = WorkloadSpec.nameProblem(name) { throw APIError(.badRequest, "name: \(problem)", details: ["name": problem]) }
        return (try tenantQuery(request) ?? context.caller().defaultTenant, name)
    }

    /// The `tenant` query parameter, when given (400 for a bad name).
    static func tenantQuery(_ request: Request) throws -> String? {
        guard let tenant = request.uri.queryParameters["tenant"].map(String.init) else { return nil }
        if let problem = WorkloadSpec.nameProblem(tenant) { throw APIError(.badRequest, "tenant: \(problem)", details: ["tenant": problem]) }
        return tenant
    }

    /// Which tenant a list shows: `?tenant=` or the caller's own; nil (every tenant) for a
    /// bus-admin that names none. 403 for a tenant the caller may not do `permission` in.
    static func listScope(_ request: Request, _ context: APIRequestContext, _ permission: Caller.Permission, _ what: String) throws -> String? {
        let tenant = try tenantQuery(request) ?? context.caller().tenant
        _ = try context.require(permission, in: tenant, what)
        return tenant
    }

    /// Instance ids are `<workload>-<ordinal>`.
    static func instanceIDProblem(_ id: String) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-_")
        guard !id.isEmpty, id.count <= 2 * WorkloadSpec.maximumNameLength + 22, id.allSatisfy(allowed.contains) else {
            return "'\(Quantity.excerpt(id))' is not an instance id such as web-0 (or team-a_web-0 in tenant team-a)"
        }
        return nil
    }

    static func quarantinedError(_ q: QuarantinedWorkload) -> APIError {
        APIError(.conflict, "workload '\(q.name)' in tenant '\(q.tenant)' is quarantined: \(q.reason). Delete it, or deploy a valid spec of that name.",
                 details: ["state": "quarantined", "reason": q.reason])
    }

    static func parseHorizon(_ text: String, allowed: [WorkloadSeries.Horizon]) throws -> WorkloadSeries.Horizon {
        let units: [(String, Int)] = [("h", 3600), ("m", 60), ("s", 1)]
        var seconds: Int?
        if let n = Int(text) { seconds = n }
        for (suffix, factor) in units where seconds == nil && text.hasSuffix(suffix) {
            seconds = Int(text.dropLast()).map { $0 * factor }
        }
        let names = allowed.map(\.description).joined(separator: ", ")
        guard let seconds, let horizon = allowed.first(where: { $0.seconds == seconds }) else {
            throw APIError(.badRequest, "horizon: '\(Quantity.excerpt(text))' is not one the BMC keeps models for (\(names))", details: ["horizon": "one of \(names)"])
        }
        return horizon
    }

    static func parseQuantiles(_ text: String) throws -> [Double] {
        let parts = text.split(separator: ",")
        guard !parts.isEmpty, parts.count <= 9 else {
            throw APIError(.badRequest, "quantiles: give 1 to 9 comma-separated numbers such as 0.5,0.9,0.99", details: ["quantiles": "give 1 to 9 comma-separated numbers such as 0.5,0.9,0.99"])
        }
        return try parts.map { part in
            guard let q = Double(part.trimmingCharacters(in: .whitespaces)), q > 0, q < 1 else {
                throw APIError(.badRequest, "quantiles: '\(Quantity.excerpt(String(part)))' is not a number between 0 and 1 (exclusive)", details: ["quantiles": "each must be a number between 0 and 1 (exclusive)"])
            }
            return q
        }
    }

    // MARK: Helpers

    /// A spec from a request body; one without `tenant` goes to `defaultTenant`.
    static func parseSpec(_ body: ByteBuffer, contentType: String?, defaultTenant: String = WorkloadSpec.defaultTenant) throws -> WorkloadSpec {
        let text = String(buffer: body)
        let isJSON = contentType.map { $0.lowercased().contains("json") } ?? text.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("{")
        var document: WorkloadSpec.Document
        do {
            if isJSON {
                document = try JSONDecoder().decode(WorkloadSpec.Document.self, from: Data(text.utf8))
            } else {
                if let problem = yamlNestingProblem(text) { throw specError(SpecErrors(errors: [SpecError(field: "(document)", message: problem)])) }
                document = try WorkloadSpecYAML.decode(text)
            }
        } catch let error as APIError {
            throw error
        } catch let error as YamlError {
            throw yamlError(error)
        } catch DecodingError.typeMismatch(_, let context) where context.codingPath.isEmpty {
            throw specError(SpecErrors(errors: [SpecError(field: "(document)", message: "must be a map of spec fields (name, image, command, resources, ...)")]))
        } catch DecodingError.dataCorrupted(let context) where context.underlyingError is YamlError {
            throw yamlError(context.underlyingError as! YamlError)
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            let reason = context.underlyingError.map { "\($0)" } ?? context.debugDescription
            throw specError(SpecErrors(errors: [SpecError(field: "(document)", message: "is not valid \(isJSON ? "JSON" : "YAML"): \(Quantity.excerpt(reason, limit: 300))")]))
        } catch {
            throw specError(SpecErrors(decoding: error))
        }
        if document.tenant == nil && !document.problems.contains(where: { $0.field == "tenant" }) { document.tenant = defaultTenant }
        do {
            return try WorkloadSpec(validating: document)
        } catch {
            throw specError(error)
        }
    }

    /// A YAML syntax error, with its line and column.
    static func yamlError(_ error: YamlError) -> APIError {
        let located: (problem: String, mark: Mark?) = {
            switch error {
            case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _), .composer(let context, let problem, let mark, _):
                return ((context.map { "\($0.text): " } ?? "") + problem, mark)
            case .reader(let problem, _, _, _):
                return (problem, nil)
            case .duplicatedKeysInMapping(let duplicates, let context):
                return ("duplicated key(s) \(duplicates.sorted().map { "'\(Quantity.excerpt($0))'" }.joined(separator: ", "))", context.mark)
            default:
                return ("\(error)", nil)
            }
        }()
        let at = located.mark.map { " at line \($0.line), column \($0.column)" } ?? ""
        let message = "is not valid YAML: \(Quantity.excerpt(located.problem, limit: 200))\(at)"
        var details = ["(document)": message]
        if let mark = located.mark {
            details["line"] = String(mark.line)
            details["column"] = String(mark.column)
        }
        return APIError(.invalidSpec, "(document): \(message)", details: details)
    }

    /// Specs are flat; deeper nesting than this is refused before the YAML parser (which
    /// recurses per level) sees it.
    static let maximumYAMLDepth = 32

    static func yamlNestingProblem(_ text: String) -> String? {
        var depth = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") {
                depth += 1
                if depth > maximumYAMLDepth { return "nests lists or maps more than \(maximumYAMLDepth) deep" }
            } else if byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}") {
                depth = max(0, depth - 1)
            }
        }
        var line = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: "\n") { line = 0; continue }
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "\t") {
                line += 1
                if line > 4 * maximumYAMLDepth { return "is indented more than \(4 * maximumYAMLDepth) columns" }
            } else {
                line = Int.min / 2
            }
        }
        return nil
    }

    /// Every bad field, in `message` (joined by `; `) and in `details` (field → message).
    static func specError(_ e: SpecErrors) -> APIError {
        APIError(.invalidSpec, e.errors.map(\.description).joined(separator: "; "),
                 details: Dictionary(e.errors.map { ($0.field, $0.message) }, uniquingKeysWith: { a, b in "\(a); \(b)" }))
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        return e
    }()

    static func encode<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        json(String(decoding: try encoder.encode(value), as: UTF8.self), status: status)
    }

    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
