import BackplaneModel
import Foundation
import Hummingbird
import NIOCore

extension APIServer {
    /// Tenant quotas: `GET /v1/quotas`, `PUT /v1/quotas/:tenant`, `DELETE /v1/quotas/:tenant`.
    func quotaRoutes() -> RouteCollection<BasicRequestContext> {
        let routes = RouteCollection(context: BasicRequestContext.self)
        routes.get("quotas") { _, _ in
            try Self.encode(try await self.bmc.registry.read().snapshot.quotas.values.sorted { $0.tenant < $1.tenant })
        }
        routes.put("quotas/:tenant") { request, context in
            let tenant = try Self.tenantParameter(context)
            let body = try await request.body.collect(upTo: Self.bodyLimit)
            let quota = try Quota.parse(tenant: tenant, body: Data(body.readableBytesView))
            try await self.bmc.registry.putQuota(quota)
            self.bmc.record("quota.set", "tenant \(tenant): cpu \(Quantity.formatCPU(quota.cpuMillis)), memory \(Quantity.formatBytes(quota.memoryBytes))\(quota.gpuMilli.map { ", gpu \($0)m" } ?? "")")
            self.bmc.poke()
            return try Self.encode(quota)
        }
        routes.delete("quotas/:tenant") { _, context in
            let tenant = try Self.tenantParameter(context)
            guard try await self.bmc.registry.deleteQuota(tenant: tenant) else {
                throw APIError(.notFound, "tenant '\(tenant)' has no quota")
            }
            self.bmc.record("quota.deleted", "tenant \(tenant)")
            self.bmc.poke()
            return Response(status: .noContent)
        }
        return routes
    }

    static func tenantParameter(_ context: BasicRequestContext) throws -> String {
        let tenant = try context.parameters.require("tenant")
        if let problem = WorkloadSpec.nameProblem(tenant) {
            throw APIError(.badRequest, "tenant: \(problem)", details: ["tenant": problem])
        }
        return tenant
    }
}
