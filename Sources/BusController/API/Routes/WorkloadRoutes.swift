import BackplaneModel
import DirectCardLinkNIO
import Foundation
import Hummingbird
import NIOCore
import WorkloadBalancer

extension APIServer {
    /// Workloads: list, apply (JSON or YAML), read, delete, scale. Reads are scoped to the
    /// caller's tenant; a viewer sees env values redacted.
    func workloadRoutes() -> RouteCollection<APIRequestContext> {
        let routes = RouteCollection(context: APIRequestContext.self)
        routes.get("workloads") { request, context in
            let scope = try Self.listScope(request, context, .read, "list workloads")
            let caller = try context.caller()
            return try Self.encode(try await self.workloads().filter { scope == nil || $0.tenant == scope }.map { Self.redacted($0, for: caller) })
        }
        routes.post("workloads") { request, context in
            let caller = try context.requireRole(.change, "deploy workloads")
            let body = try await request.body.collect(upTo: Self.bodyLimit)
            let spec = try Self.parseSpec(body, contentType: request.headers[.contentType], defaultTenant: caller.defaultTenant)
            _ = try context.require(.change, in: spec.tenant, "deploy workloads")
            try await self.bmc.registry.putWorkload(spec)
            self.bmc.record("workload.applied", "\(spec.key): \(spec.replicas) replica(s) of \(spec.resources)", tenant: spec.tenant)
            self.bmc.poke()
            return try Self.encode(spec, status: .created)
        }
        routes.get("workloads/:name") { request, context in
            let (tenant, name) = try self.readableWorkloadName(request, context)
            guard let status = try await self.workloads().first(where: { $0.name == name && $0.tenant == tenant }) else {
                throw Self.noWorkload(tenant: tenant, name: name)
            }
            return try Self.encode(Self.redacted(status, for: try context.caller()))
        }
        routes.delete("workloads/:name") { request, context in
            let (tenant, name) = try Self.workloadName(request, context)
            _ = try context.require(.change, in: tenant, "delete workloads")
            guard try await self.bmc.registry.deleteWorkload(tenant: tenant, name: name) else {
                throw Self.noWorkload(tenant: tenant, name: name)
            }
            self.bmc.record("workload.deleted", "\(tenant)/\(name)", tenant: tenant)
            self.bmc.poke()
            return Response(status: .noContent)
        }
        routes.post("workloads/:name/scale") { request, context in
            let (tenant, name) = try Self.workloadName(request, context)
            _ = try context.require(.change, in: tenant, "scale workloads")
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
            case nil: throw Self.noWorkload(tenant: tenant, name: name)
            case .quarantined(let q)?: throw Self.quarantinedError(q)
            case .valid(let valid)?: spec = valid
            }
            spec.replicas = scale.replicas
            let problems = spec.problems
            guard problems.isEmpty else { throw Self.specError(SpecErrors(errors: problems)) }
            try await self.bmc.registry.putWorkload(spec)
            self.bmc.record("workload.scaled", "\(spec.key) to \(scale.replicas) replica(s)", tenant: spec.tenant)
            self.bmc.poke()
            return try Self.encode(spec)
        }
        return routes
    }

    /// The value a caller without ``Caller/Permission/readSecrets`` sees for every env value.
    public static let redactedValue = "<redacted>"

    /// `status` as `caller` may see it: env values redacted unless it may read secrets there.
    static func redacted(_ status: WorkloadStatus, for caller: Caller) -> WorkloadStatus {
        guard !caller.may(.readSecrets, in: status.tenant), var spec = status.spec else { return status }
        spec.env = spec.env.mapValues { _ in redactedValue }
        var status = status
        status.spec = spec
        return status
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
}
