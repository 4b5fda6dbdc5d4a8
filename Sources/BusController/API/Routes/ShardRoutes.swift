import BackplaneModel
import Foundation
import Hummingbird
import NIOCore

extension APIServer {
    /// Shards of sharded workloads: the map with each shard's load (`GET …/shards`) and live
    /// migration of one shard (`POST …/shards/:shard/migrate`, answered when it is done or
    /// aborted, with each step's duration).
    func shardRoutes() -> RouteCollection<APIRequestContext> {
        let routes = RouteCollection(context: APIRequestContext.self)
        routes.get("workloads/:name/shards") { request, context in
            let (tenant, name) = try await self.existingWorkload(request, context)
            let spec = try await self.bmc.registry.workload(tenant: tenant, name: name)
            guard spec?.shards != nil else { throw Self.notSharded(tenant: tenant, name: name) }
            guard let view = try await self.bmc.shards.view(WorkloadSpec.key(tenant: tenant, name: name), limit: spec?.shards?.maxShardBytes) else {
                throw APIError(.conflict, "\(tenant)/\(name) has no shard map yet: it is made once the workload has replicas", details: ["state": "no map"])
            }
            return try Self.encode(view)
        }
        routes.post("workloads/:name/shards/:shard/migrate") { request, context in
            let (tenant, name) = try await self.existingWorkload(request, context)
            _ = try context.require(.change, in: tenant, "migrate shards")
            let shardText = try context.parameters.require("shard")
            guard let shard = UInt32(shardText) else {
                throw APIError(.badRequest, "shard: '\(Quantity.excerpt(shardText))' is not a shard id (a whole number from 0 to \(UInt32.max))", details: ["shard": "is not a shard id"])
            }
            let body = try await request.body.collect(upTo: Self.bodyLimit)
            // Exactly the documented form: an object with optional "to" and "instance" (strings or null).
            var to: String?, instance: String?
            if body.readableBytes > 0 {
                guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
                      object.keys.allSatisfy({ $0 == "to" || $0 == "instance" }),
                      object.values.allSatisfy({ $0 is String || $0 is NSNull }) else {
                    throw APIError(.badRequest, "body: must be {\"to\": CARD} or {\"instance\": INSTANCE} (or empty: the instance with the fewest shards)", details: ["body": "must be {\"to\": CARD} or {\"instance\": INSTANCE}"])
                }
                to = object["to"] as? String
                instance = object["instance"] as? String
            }
            struct Move { var to: String?; var instance: String? }
            let move = Move(to: to, instance: instance)
            var card: CardID?
            if let to = move.to {
                guard let id = CardID(to) else { throw APIError(.badRequest, "to: '\(Quantity.excerpt(to))' is not a CardID such as c-0001-000000", details: ["to": "is not a CardID"]) }
                card = id
            }
            if let instance = move.instance, let problem = Self.instanceIDProblem(instance) {
                throw APIError(.badRequest, "instance: \(problem)", details: ["instance": problem])
            }
            guard (try await self.bmc.registry.workload(tenant: tenant, name: name))?.shards != nil else { throw Self.notSharded(tenant: tenant, name: name) }
            do {
                let report = try await self.bmc.shards.migrate(workload: WorkloadSpec.key(tenant: tenant, name: name), shard: shard, toCard: card, toInstance: move.instance)
                return try Self.encode(report)  // done or aborted: `outcome` says which
            } catch let refused as ShardService.MigrationRefused {
                throw APIError(.conflict, refused.message, details: ["reason": refused.message])
            }
        }
        return routes
    }

    static func notSharded(tenant: String, name: String) -> APIError {
        APIError(.conflict, "\(tenant)/\(name) is not sharded (its spec has no `shards:`)", details: ["shards": "not sharded"])
    }
}
