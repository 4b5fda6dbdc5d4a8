import BackplaneModel
import DirectCardLinkNIO
import Foundation
import Hummingbird
import NIOCore
import WorkloadBalancer

extension APIServer {
    /// Cards: `GET /v1/cards` (state, capacity, allocation, health: every role),
    /// `POST /v1/cards/:id/drain` and `DELETE /v1/cards/:id` (remove: revokes its certificate;
    /// bus-admin).
    func cardRoutes() -> RouteCollection<APIRequestContext> {
        let routes = RouteCollection(context: APIRequestContext.self)
        routes.get("cards") { _, _ in try Self.encode(try await self.cards()) }
        routes.post("cards/:id/drain") { _, context in
            _ = try context.require(.drainCard, in: nil, "drain cards")
            let id = try Self.cardID(context)
            return try Self.encode(try await self.bmc.drain(id))
        }
        routes.delete("cards/:id") { _, context in
            _ = try context.require(.drainCard, in: nil, "remove cards")
            let id = try Self.cardID(context)
            guard let card = try await self.bmc.removeCard(id) else { throw APIError(.notFound, "no card \(id)") }
            return try Self.encode(card)
        }
        return routes
    }

    /// The `:id` path parameter as a CardID (else 400 naming `id`).
    static func cardID(_ context: APIRequestContext) throws -> CardID {
        let text = try context.parameters.require("id")
        guard let id = CardID(text) else {
            throw APIError(.badRequest, "id: '\(Quantity.excerpt(text))' is not a CardID such as c-0001-000000", details: ["id": "is not a CardID such as c-0001-000000"])
        }
        return id
    }

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
}
