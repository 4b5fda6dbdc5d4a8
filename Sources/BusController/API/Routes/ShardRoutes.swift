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
        routes.post("workloads/:name/shards/:shard/split") { request, context in
            let (tenant, name, shard, object) = try await self.shardChange(request, context, "split shards", allowed: ["at"])
            var point: UInt64?
            if let at = object["at"], !(at is NSNull) {
                guard let text = at as? String, !text.isEmpty, text.count <= 16, let value = UInt64(text, radix: 16) else {
                    throw APIError(.badRequest, "at: must be a key hash of 1 to 16 hex digits, such as 8000000000000000", details: ["at": "is not 1 to 16 hex digits"])
                }
                point = value
            }
            do {
                return try Self.encode(try await self.bmc.shards.split(workload: WorkloadSpec.key(tenant: tenant, name: name), shard: shard, at: point))
            } catch let refused as ShardService.MigrationRefused {
                throw APIError(.conflict, refused.message, details: ["reason": refused.message])
            }
        }
        routes.post("workloads/:name/shards/:shard/merge") { request, context in
            let (tenant, name, shard, _) = try await self.shardChange(request, context, "merge shards", allowed: [])
            do {
                return try Self.encode(try await self.bmc.shards.merge(workload: WorkloadSpec.key(tenant: tenant, name: name), shard: shard))
            } catch let refused as ShardService.MigrationRefused {
                throw APIError(.conflict, refused.message, details: ["reason": refused.message])
            }
        }
        return routes
    }

    /// The common part of a change to one shard: the workload (sharded), the caller's right,
    /// the shard id, and a body that is empty or an object with only the `allowed` keys.
    private func shardChange(_ request: Request, _ context: APIRequestContext, _ action: String, allowed: Set<String>) async throws -> (String, String, UInt32, [String: Any]) {
        let (tenant, name) = try await existingWorkload(request, context)
        _ = try context.require(.change, in: tenant, action)
        let shardText = try context.parameters.require("shard")
        guard let shard = UInt32(shardText) else {
            throw APIError(.badRequest, "shard: '\(Quantity.excerpt(shardText))' is not a shard id (a whole number from 0 to \(UInt32.max))", details: ["shard": "is not a shard id"])
        }
        let body = try await request.body.collect(upTo: Self.bodyLimit)
        var object: [String: Any] = [:]
        if body.readableBytes > 0 {
            let form = allowed.isEmpty ? "empty or {}" : "an object with only " + allowed.sorted().map { "\"\($0)\"" }.joined(separator: ", ")
            guard let parsed = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any], parsed.keys.allSatisfy(allowed.contains) else {
                throw APIError(.badRequest, "body: must be \(form)", details: ["body": "must be \(form)"])
            }
            object = parsed
        }
        guard (try await bmc.registry.workload(tenant: tenant, name: name))?.shards != nil else { throw Self.notSharded(tenant: tenant, name: name) }
        return (tenant, name, shard, object)
    }

    static func notSharded(tenant: String, name: String) -> APIError {
        APIError(.conflict, "\(tenant)/\(name) is not sharded (its spec has no `shards:`)", details: ["shards": "not sharded"])
    }
}
