import BackplaneModel
import Foundation
import Hummingbird
import NIOCore

extension APIServer {
    /// Tenant quotas: `GET /v1/quotas` (a tenant's roles read its own), `PUT /v1/quotas/:tenant`
    /// and `DELETE /v1/quotas/:tenant` (bus-admin).
    func quotaRoutes() -> RouteCollection<APIRequestContext> {
        let routes = RouteCollection(context: APIRequestContext.self)
        routes.get("quotas") { request, context in
            let scope = try Self.listScope(request, context, .read, "read quotas")
            let quotas = try await self.bmc.registry.read().snapshot.quotas.values.filter { scope == nil || $0.tenant == scope }
            return try Self.encode(quotas.sorted { $0.tenant < $1.tenant })
        }
        routes.put("quotas/:tenant") { request, context in
            _ = try context.require(.setQuota, in: nil, "set quotas")
            let tenant = try Self.tenantParameter(context)
            let body = try await request.body.collect(upTo: Self.bodyLimit)
            let quota = try Quota.parse(tenant: tenant, body: Data(body.readableBytesView))
            try await self.bmc.registry.putQuota(quota)
            self.bmc.record("quota.set", "tenant \(tenant): cpu \(Quantity.formatCPU(quota.cpuMillis)), memory \(Quantity.formatBytes(quota.memoryBytes))\(quota.gpuMilli.map { ", gpu \($0)m" } ?? "")", tenant: tenant)
            self.bmc.poke()
            return try Self.encode(quota)
        }
        routes.delete("quotas/:tenant") { _, context in
            _ = try context.require(.setQuota, in: nil, "remove quotas")
            let tenant = try Self.tenantParameter(context)
            guard try await self.bmc.registry.deleteQuota(tenant: tenant) else {
                throw APIError(.notFound, "tenant '\(tenant)' has no quota")
            }
            self.bmc.record("quota.deleted", "tenant \(tenant)", tenant: tenant)
            self.bmc.poke()
            return Response(status: .noContent)
        }
        return routes
    }

    static func tenantParameter(_ context: APIRequestContext) throws -> String {
        let tenant = try context.parameters.require("tenant")
        if let problem = WorkloadSpec.nameProblem(tenant) {
            throw APIError(.badRequest, "tenant: \(problem)", details: ["tenant": problem])
        }
        return tenant
    }
}
