import BackplaneModel
import DirectCardLinkNIO
import Foundation
import Hummingbird
import NIOCore
import WorkloadBalancer

extension APIServer {
    /// Instances and events: `GET /v1/instances`, `GET /v1/instances/:id/logs`, `GET /v1/events`,
    /// each scoped to the caller's tenant (a bus-admin sees every tenant's, and the bus's events).
    func instanceRoutes() -> RouteCollection<APIRequestContext> {
        let routes = RouteCollection(context: APIRequestContext.self)
        routes.get("instances") { request, context in
            let scope = try Self.listScope(request, context, .read, "list instances")
            let state = try await self.bmc.registry.read()
            return try Self.encode(state.snapshot.instances.map(\.instance).filter { scope == nil || $0.tenant == scope }.sorted { $0.id < $1.id })
        }
        routes.get("instances/:id/logs") { _, context in
            let id = try context.parameters.require("id")
            if let problem = Self.instanceIDProblem(id) { throw APIError(.badRequest, "id: \(problem)", details: ["id": problem]) }
            let tenant = InstanceRecord.tenant(ofInstance: id)
            // Another tenant's instance does not exist for this caller.
            guard try context.caller().may(.read, in: tenant) else { throw APIError(.notFound, "no instance '\(id)'") }
            _ = try context.require(.readLogs, in: tenant, "read logs")
            var body = try await self.bmc.logs(of: id)
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: body.readSlice(length: body.readableBytes)!))
        }
        routes.get("events") { request, context in
            let scope = try Self.listScope(request, context, .read, "list events")
            return try Self.encode(self.bmc.recentEvents.withLock { $0 }.filter { scope == nil || $0.tenant == scope })
        }
        return routes
    }
}
