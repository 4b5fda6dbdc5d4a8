import BackplaneModel
import DirectCardLinkNIO
import Foundation
import Hummingbird
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
public struct APIServer: Sendable {
    public let bmc: BusManagementController
    public let metrics: BusMetrics
    public init(bmc: BusManagementController, metrics: BusMetrics = .process) {
        self.bmc = bmc
        self.metrics = metrics
    }

    /// The largest request body accepted (413 above).
    public static let bodyLimit = 1 << 20

    /// Every route: method and path (`:x` is a parameter). ``APIErrorMiddleware`` answers 405
    /// with `Allow` from this table; a test checks it against the router and the OpenAPI document.
    public static let routes: [(method: HTTPRequest.Method, path: String)] = [
        (.get, "/metrics"), (.get, "/v1/openapi.json"), (.get, "/v1/cards"), (.post, "/v1/cards/:id/drain"),
        (.get, "/v1/instances"), (.get, "/v1/instances/:id/logs"), (.get, "/v1/events"),
        (.get, "/v1/workloads"), (.post, "/v1/workloads"), (.get, "/v1/workloads/:name"), (.delete, "/v1/workloads/:name"),
        (.get, "/v1/metrics"), (.get, "/v1/workloads/:name/metrics"), (.get, "/v1/workloads/:name/forecast"),
        (.get, "/v1/workloads/:name/explain"), (.post, "/v1/workloads/:name/scale"),
    ]

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: APIMetricsMiddleware(metrics: metrics))
        router.add(middleware: APIErrorMiddleware(routes: Self.routes, bodyLimit: Self.bodyLimit))
        router.get("metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: BusMetrics.contentType], body: .init(byteBuffer: ByteBuffer(bytes: self.metrics.exposition())))
        }
        let v1 = router.group("v1")
        v1.get("openapi.json") { _, _ in Self.json(OpenAPIDocument.text) }
        v1.get("cards") { _, _ in try Self.encode(try await self.cards()) }
        v1.post("cards/:id/drain") { _, context in
            let text = try context.parameters.require("id")
            guard let id = CardID(text) else {
                throw APIError(.badRequest, "id: '\(Quantity.excerpt(text))' is not a CardID such as c-0001-000000", details: ["id": "is not a CardID such as c-0001-000000"])
            }
            return try Self.encode(try await self.bmc.drain(id))
        }
        v1.get("instances") { _, _ in
            let state = try await self.bmc.registry.read()
            return try Self.encode(state.snapshot.instances.map(\.instance).sorted { $0.id < $1.id })
        }
        v1.get("instances/:id/logs") { _, context in
            let id = try context.parameters.require("id")
            if let problem = Self.instanceIDProblem(id) { throw APIError(.badRequest, "id: \(problem)", details: ["id": problem]) }
            var body = try await self.bmc.logs(of: id)
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: body.readSlice(length: body.readableBytes)!))
        }
        v1.get("events") { _, _ in try Self.encode(self.bmc.recentEvents.withLock { $0 }) }
        v1.get("workloads") { _, _ in try Self.encode(try await self.workloads()) }
        v1.post("workloads") { request, context in
            let body = try await request.body.collect(upTo: Self.bodyLimit)
            let spec = try Self.parseSpec(body, contentType: request.headers[.contentType])
            try await self.bmc.registry.putWorkload(spec)
            self.bmc.record("workload.applied", "\(spec.key): \(spec.replicas) replica(s) of \(spec.resources)")
            self.bmc.poke()
            return try Self.encode(spec, status: .created)
        }
        v1.get("workloads/:name") { request, context in
            let (tenant, name) = try Self.workloadName(request, context)
            guard let status = try await self.workloads().first(where: { $0.name == name && $0.tenant == tenant }) else {
                throw APIError(.notFound, "no workload '\(name)' in tenant '\(tenant)'")
            }
            return try Self.encode(status)
        }
        v1.delete("workloads/:name") { request, context in
            let (tenant, name) = try Self.workloadName(request, context)
            guard try await self.bmc.registry.deleteWorkload(tenant: tenant, name: name) else {
                throw APIError(.notFound, "no workload '\(name)' in tenant '\(tenant)'")
            }
            self.bmc.record("workload.deleted", "\(tenant)/\(name)")
            self.bmc.poke()
            return Response(status: .noContent)
        }
        v1.get("metrics") { _, _ in try Self.encode(self.bmc.monitor.latest(now: BusManagementController.wallSeconds())) }
        v1.get("workloads/:name/metrics") { request, context in
            let (tenant, name) = try await self.existingWorkload(request, context)
            let series = self.bmc.monitor.series(WorkloadSpec.key(tenant: tenant, name: name))
            var since = -Double.infinity
            if let text = request.uri.queryParameters["since"] {
                guard let value = Double(String(text)), value.isFinite else {
                    throw APIError(.badRequest, "since: '\(Quantity.excerpt(String(text)))' is not a time in seconds since 1970", details: ["since": "is not a time in seconds since 1970"])
                }
                since = value
            }
            let key = WorkloadSpec.key(tenant: tenant, name: name)
            return try Self.encode(WorkloadMetrics(
                workload: key, stepSeconds: self.bmc.monitor.configuration.step,
                points: (series?.points ?? []).filter { $0.time > since },
                minutes: (series?.minutes ?? []).filter { $0.time > since },
                instances: self.bmc.monitor.latest(now: BusManagementController.wallSeconds()).filter { $0.point.workload == key }))
        }
        v1.get("workloads/:name/forecast") { request, context in
            let (tenant, name) = try await self.existingWorkload(request, context)
            let key = WorkloadSpec.key(tenant: tenant, name: name)
            let configuration = self.bmc.monitor.configuration
            let horizon = try Self.parseHorizon(request.uri.queryParameters["horizon"].map(String.init) ?? "5m", allowed: configuration.horizons)
            let quantiles = try Self.parseQuantiles(request.uri.queryParameters["quantiles"].map(String.init) ?? "0.5,0.9,0.99")
            let series = self.bmc.monitor.series(key)
            let limits = series?.forecast(horizon: horizon, quantiles: quantiles) ?? []
            let limit = series?.limit(horizon: horizon)
            let observed = series?.observed ?? 0
            let historyPoints = Int(Double(horizon.seconds) / configuration.step)
            return try Self.encode(WorkloadForecast(
                workload: key, horizon: horizon.description, horizonSeconds: horizon.seconds, stepSeconds: configuration.step,
                model: configuration.model.rawValue, observedPoints: observed,
                limit: observed == 0 ? nil : limit.map { .init(quantile: configuration.quantile, cpuMillicores: $0.cpuMillicores, memoryBytes: $0.memoryBytes) },
                quantiles: observed == 0 ? [] : limits.map { .init(quantile: $0.quantile, cpuMillicores: $0.cpuMillicores, memoryBytes: $0.memoryBytes) },
                history: Array((series?.points ?? []).suffix(max(historyPoints, 30))),
                message: observed == 0 ? "no usage received yet: points arrive every \(Int(configuration.step)) s from running instances" : nil))
        }
        v1.get("workloads/:name/explain") { request, context in
            let (tenant, name) = try await self.existingWorkload(request, context)
            return try Self.encode(try await self.explain(tenant: tenant, name: name))
        }
        v1.post("workloads/:name/scale") { request, context in
            let (tenant, name) = try Self.workloadName(request, context)
            let body = try await request.body.collect(upTo: Self.bodyLimit)
            struct Scale: Decodable { var replicas: Int }
            guard let scale = try? JSONDecoder().decode(Scale.self, from: Data(body.readableBytesView)) else {
                throw APIError(.badRequest, "replicas: the body must be {\"replicas\": N} with N a whole number from 0 to 1000", details: ["replicas": "must be a whole number from 0 to 1000"])
            }
            guard WorkloadSpec.replicaRange.contains(scale.replicas) else {
                throw APIError(.invalidSpec, "replicas: is \(scale.replicas); must be 0 to 1000", details: ["replicas": "must be 0 to 1000"])
            }
            var spec: WorkloadSpec
            switch try await self.bmc.registry.workloadRecord(tenant: tenant, name: name) {
            case nil: throw APIError(.notFound, "no workload '\(name)' in tenant '\(tenant)'")
            case .quarantined(let q)?: throw Self.quarantinedError(q)
            case .valid(let valid)?: spec = valid
            }
            spec.replicas = scale.replicas
            let problems = spec.problems
            guard problems.isEmpty else { throw Self.specError(SpecErrors(errors: problems)) }
            try await self.bmc.registry.putWorkload(spec)
            self.bmc.record("workload.scaled", "\(spec.key) to \(scale.replicas) replica(s)")
            self.bmc.poke()
            return try Self.encode(spec)
        }
        return router
    }

    /// Runs the API on `host:port` until cancelled.
    public func run(host: String, port: Int) async throws {
        try await application(host: host, port: port).runService(gracefulShutdownSignals: [])
    }

    /// The HTTP/1.1 server: the router, plus ``APIConnectionHandler`` so that requests NIO's
    /// parser rejects get an enveloped 400 and a closed connection.
    public func application(host: String, port: Int) -> some ApplicationProtocol {
        Application(
            router: router(),
            server: .http1(configuration: .init(additionalChannelHandlers: [APIConnectionHandler()], idleTimeout: .seconds(60))),
            configuration: .init(address: .hostname(host, port: port), serverName: "backplane-bmc"))
    }

    // MARK: Views

    public struct CardStatus: Codable, Sendable {
        public var id: CardID
        public var name: String
        public var state: Card.State
        public var capacity: Resources
        public var allocated: Resources
        /// GPU device models the card declares, and the milli-GPU its instances hold.
        public var gpus: [String]?
        public var gpuAllocatedMilli: Int?
        public var instances: Int
        /// The host's cores, memory, disks, network interfaces and PCI devices.
        public var inventory: Inventory?
        /// The failure detector's suspicion (phi-accrual; 8 and above: suspect).
        public var phi: Double?
        /// Milliseconds since the BMC last heard a heartbeat from it.
        public var heartbeatAgeMs: Int64?
        /// The card's last heartbeat round trip, in microseconds.
        public var heartbeatRttUs: Int64?
        /// Whether its DCL link to the BMC is up.
        public var linked: Bool?
    }

    func cards() async throws -> [CardStatus] {
        let state = try await bmc.registry.read()
        return state.snapshot.cards.sorted { $0.id < $1.id }.map { card in
            let mine = state.snapshot.instances.filter { $0.instance.card == card.id && $0.instance.holdsResources }
            let gpuMilli = mine.reduce(0) { sum, r in sum.saturatingAdd((r.instance.gpu?.milliPerDevice ?? 0).saturatingMultiply(r.instance.gpuDevices?.count ?? 0)) }
            let health = bmc.health(of: card.id)
            return CardStatus(id: card.id, name: card.name, state: card.state, capacity: card.capacity, allocated: mine.reduce(.zero) { $0 + $1.instance.requested },
                              gpus: card.gpus, gpuAllocatedMilli: card.gpus == nil ? nil : gpuMilli, instances: mine.count, inventory: card.inventory,
                              phi: health.map { ($0.phi * 100).rounded() / 100 }, heartbeatAgeMs: health?.heartbeatAge.map { $0.milliseconds },
                              heartbeatRttUs: health?.rtt.map { $0.components.seconds * 1_000_000 + $0.components.attoseconds / 1_000_000_000_000 }, linked: health?.linked)
        }
    }

    public struct WorkloadStatus: Codable, Sendable {
        public enum State: String, Codable, Sendable {
            /// Valid and reconciled.
            case active
            /// The stored record does not decode or validate: never reconciled (see `quarantine`).
            case quarantined
        }
        public var name: String
        public var tenant: String
        public var state: State
        /// Absent for a quarantined record.
        public var spec: WorkloadSpec?
        public var running: Int
        public var pending: Int
        /// Why instances are pending (from the balancer), when some are.
        public var pendingReason: String?
        /// Why the record is quarantined (fix: delete it, or deploy a valid spec of that name).
        public var quarantineReason: String?
        /// How its instances last ended, when one has restarted or is waiting to: the most
        /// recent exit and the next restart (a crash loop shows here).
        public var lastExit: LastExit?

        public struct LastExit: Codable, Sendable, Hashable {
            public var instance: String
            public var exitCode: Int32?
            public var reason: String?
            public var restarts: Int
            /// Wall-clock nanoseconds since 1970 of the next restart (after backoff), if one is due.
            public var nextRestart: Instant?
        }
    }

    func workloads() async throws -> [WorkloadStatus] {
        let state = try await bmc.registry.read()
        let active = state.snapshot.workloads.map { spec in
            let mine = state.snapshot.instances.filter { $0.workloadKey == spec.key }
            let pending = mine.filter { $0.instance.state == .pending }
            // The instance that restarted most, or is waiting to restart: a crash loop's why.
            let looping = mine.filter { $0.instance.restarts > 0 || $0.instance.state == .exited }
                .max { ($0.instance.restarts, $0.exitedAt ?? .zero) < ($1.instance.restarts, $1.exitedAt ?? .zero) }
            let lastExit = looping.flatMap { r -> WorkloadStatus.LastExit? in
                guard r.instance.exitCode != nil || r.instance.exitReason != nil else { return nil }
                return .init(instance: r.instance.id, exitCode: r.instance.exitCode, reason: r.instance.exitReason, restarts: r.instance.restarts,
                             nextRestart: r.instance.state == .exited ? r.restartAt : nil)
            }
            return WorkloadStatus(name: spec.name, tenant: spec.tenant, state: .active, spec: spec, running: mine.filter { $0.instance.state == .running }.count,
                                  pending: pending.count, pendingReason: pending.compactMap(\.instance.pendingReason).first?.description, lastExit: lastExit)
        }
        let quarantined = state.quarantined.map { q in
            let mine = state.snapshot.instances.filter { $0.workloadKey == WorkloadSpec.key(tenant: q.tenant, name: q.name) }
            return WorkloadStatus(name: q.name, tenant: q.tenant, state: .quarantined, spec: nil, running: mine.filter { $0.instance.state == .running }.count,
                                  pending: mine.filter { $0.instance.state == .pending }.count, quarantineReason: q.reason)
        }
        return (active + quarantined).sorted { ($0.tenant, $0.name) < ($1.tenant, $1.name) }
    }

    public struct WorkloadMetrics: Codable, Sendable {
        /// `<tenant>/<name>`.
        public var workload: String
        public var stepSeconds: Double
        /// The last hour at full resolution (CPU and memory summed over instances).
        public var points: [WorkloadSeries.Point]
        /// 1-minute means (the last day; survives BMC restarts).
        public var minutes: [WorkloadSeries.Point]
        /// Each instance's latest point.
        public var instances: [Monitor.InstanceUsage]
    }

    public struct WorkloadForecast: Codable, Sendable {
        public struct Limit: Codable, Sendable {
            public var quantile: Double
            public var cpuMillicores: Double
            public var memoryBytes: Double
        }
        public var workload: String
        public var horizon: String
        public var horizonSeconds: Int
        public var stepSeconds: Double
        public var model: String
        /// Points the models have seen; forecasts from few points are rough.
        public var observedPoints: Int
        /// The models' limit for the horizon (what the balancer would size for).
        public var limit: Limit?
        /// Per quantile q, the usage the workload's peak over the horizon stays under with
        /// probability q (the limit scaled by this workload's past peak-to-limit ratios).
        public var quantiles: [Limit]
        /// Recent points (at least the horizon's length, at least 30).
        public var history: [WorkloadSeries.Point]
        public var message: String?
    }

    /// Why a workload's instance goes where it goes, or nowhere: for its first pending instance,
    /// else for one more replica (nothing is committed).
    public struct WorkloadExplanation: Codable, Sendable {
        public struct ClassVerdict: Codable, Sendable {
            public var cards: Int
            public var example: CardID
            public var exampleName: String
            /// Empty when these cards fit.
            public var refusals: [String]
            public var score: Double?
        }
        public struct ScoredCard: Codable, Sendable {
            public var card: CardID
            public var name: String
            public var score: Double
            public var breakdown: [String: Double]
        }
        public var workload: String
        /// The instance explained, or `<name>-<n>` for a would-be replica.
        public var instance: String
        public var hypothetical: Bool
        public var policy: String
        public var requested: Resources
        public var gpu: GPUDemand?
        /// `place on <card>` or the pending reason.
        public var decision: String
        public var cards: Int
        public var feasibleCards: Int
        public var refusedBy: [String: Int]
        public var classes: [ClassVerdict]
        public var top: [ScoredCard]
    }

    func explain(tenant: String, name: String) async throws -> WorkloadExplanation {
        let state = try await bmc.registry.read()
        guard let spec = state.snapshot.workloads.first(where: { $0.tenant == tenant && $0.name == name }) else {
            throw APIError(.notFound, "no workload '\(name)' in tenant '\(tenant)'")
        }
        let mine = state.snapshot.instances.filter { $0.workloadKey == spec.key }
        let pending = mine.filter { $0.instance.state == .pending }.min { $0.ordinal < $1.ordinal }
        let instance = pending?.instance ?? InstanceRecord(spec: spec, ordinal: (mine.map(\.ordinal).max() ?? -1) + 1).instance
        let policy = bmc.reconciler.policy
        var engine = Reconciler.engine(for: state.snapshot.cards, holding: state.snapshot.instances.filter { $0.instance.holdsResources }, policy: policy)
        let e = engine.explain(Reconciler.demand(instance), top: 5)
        let decision: String
        switch e.decision {
        case .place(let p): decision = "place on \(p.card)" + (state.snapshot.cards.first { $0.id == p.card }.map { " (\($0.name))" } ?? "")
        case .pending(let why): decision = "pending: \(why)"
        }
        return WorkloadExplanation(
            workload: spec.key, instance: instance.id, hypothetical: pending == nil, policy: policy.name, requested: instance.requested, gpu: instance.gpu,
            decision: decision, cards: e.cards, feasibleCards: e.feasibleCards,
            refusedBy: Dictionary(uniqueKeysWithValues: e.refusedBy.map { ($0.key.description, $0.value) }),
            classes: e.classes.map { .init(cards: $0.cards, example: $0.example, exampleName: $0.exampleName, refusals: $0.refusals.map(\.description), score: $0.score) },
            top: e.top.map { .init(card: $0.card, name: $0.name, score: $0.score, breakdown: $0.breakdown) })
    }

    func existingWorkload(_ request: Request, _ context: BasicRequestContext) async throws -> (tenant: String, name: String) {
        let (tenant, name) = try Self.workloadName(request, context)
        switch try await bmc.registry.workloadRecord(tenant: tenant, name: name) {
        case nil: throw APIError(.notFound, "no workload '\(name)' in tenant '\(tenant)'")
        case .quarantined(let q)?: throw Self.quarantinedError(q)
        case .valid?: return (tenant, name)
        }
    }

    /// The `{name}` path parameter and the `tenant` query parameter, each a valid name (else 400:
    /// a name can never be longer than ``WorkloadSpec/maximumNameLength``).
    static func workloadName(_ request: Request, _ context: BasicRequestContext) throws -> (tenant: String, name: String) {
        let name = try context.parameters.require("name")
        let tenant = request.uri.queryParameters["tenant"].map(String.init) ?? WorkloadSpec.defaultTenant
        if let problem = WorkloadSpec.nameProblem(name) { throw APIError(.badRequest, "name: \(problem)", details: ["name": problem]) }
        if let problem = WorkloadSpec.nameProblem(tenant) { throw APIError(.badRequest, "tenant: \(problem)", details: ["tenant": problem]) }
        return (tenant, name)
    }

    /// Instance ids are `<workload>-<ordinal>`.
    static func instanceIDProblem(_ id: String) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-")
        guard !id.isEmpty, id.count <= WorkloadSpec.maximumNameLength + 21, id.allSatisfy(allowed.contains) else {
            return "'\(Quantity.excerpt(id))' is not an instance id such as web-0"
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

    static func parseSpec(_ body: ByteBuffer, contentType: String?) throws -> WorkloadSpec {
        let text = String(buffer: body)
        let isJSON = contentType.map { $0.lowercased().contains("json") } ?? text.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("{")
        let document: WorkloadSpec.Document
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
