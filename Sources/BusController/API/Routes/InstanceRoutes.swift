import BackplaneModel
import DirectCardLinkNIO
import Foundation
import Hummingbird
import NIOCore
import WorkloadBalancer

extension APIServer {
    /// Instances and events: `GET /v1/instances`, `GET /v1/instances/:id/logs`, `GET /v1/events`.
    func instanceRoutes() -> RouteCollection<BasicRequestContext> {
        let routes = RouteCollection(context: BasicRequestContext.self)
        routes.get("instances") { _, _ in
            let state = try await self.bmc.registry.read()
            return try Self.encode(state.snapshot.instances.map(\.instance).sorted { $0.id < $1.id })
        }
        routes.get("instances/:id/logs") { _, context in
            let id = try context.parameters.require("id")
            if let problem = Self.instanceIDProblem(id) { throw APIError(.badRequest, "id: \(problem)", details: ["id": problem]) }
            var body = try await self.bmc.logs(of: id)
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: body.readSlice(length: body.readableBytes)!))
        }
        routes.get("events") { _, _ in try Self.encode(self.bmc.recentEvents.withLock { $0 }) }
        return routes
    }
}
