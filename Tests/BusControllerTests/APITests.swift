import BackplaneModel
import ClusterStore
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import Testing
@testable import BusController

@Suite("BMC HTTP API")
struct APITests {
    func withAPI(_ body: @Sendable (any TestClientProtocol, BusManagementController) async throws -> Void) async throws {
        let bmc = BusManagementController(configuration: .init(listen: .tcp(host: "127.0.0.1", port: 0), token: "t"), store: InMemoryClusterStore(), group: MultiThreadedEventLoopGroup.singleton)
        try await APIServer(bmc: bmc).testAsBusAdmin { client in try await body(client, bmc) }
    }

    func error(_ response: TestResponse) throws -> (code: String, message: String, details: [String: String]) {
        struct Body: Decodable { struct Inner: Decodable { var code: String; var message: String; var details: [String: String] }; var error: Inner }
        let b = try JSONDecoder().decode(Body.self, from: Data(response.body.readableBytesView))
        return (b.error.code, b.error.message, b.error.details)
    }

    @Test("a bad spec is refused with every bad field named, and nothing is stored")
    func badSpec() async throws {
        try await withAPI { client, bmc in
            try await client.execute(uri: "/v1/workloads", method: .post, headers: [.contentType: "application/yaml"], body: ByteBuffer(string: "name: Web\nimage: busybox\ncommand: [httpd]\nresources: {cpu: lots, memory: 64Mi}\nreplicaz: 2\n")) { response in
                #expect(response.status == .badRequest)
                let e = try error(response)
                #expect(e.code == "invalid_spec" && e.details.keys.contains("replicaz"), "\(e)")
            }
            try await client.execute(uri: "/v1/workloads", method: .post, headers: [.contentType: "application/yaml"], body: ByteBuffer(string: "name: Web\nimage: busybox\ncommand: [httpd]\nresources: {cpu: lots, memory: 64Mi}\n")) { response in
                let e = try error(response)
                #expect(Set(e.details.keys) == ["name", "resources.cpu"], "\(e)")
            }
            #expect(try await bmc.registry.read().snapshot.workloads.isEmpty)
        }
    }

    @Test("the allocator's plan: a spec's vertical and autoscale (a bare YAML off is off), and a card request for what waits for room")
    func plan() async throws {
        try await withAPI { client, bmc in
            try await bmc.registry.putCard(Card(id: CardID(0x1_000000), name: "small", state: .ready, capacity: Resources(cpuMillis: 1000, memoryBytes: 1 << 30)))
            let yaml = "name: db\nimage: busybox\ncommand: sleep 1000\nresources:\n  cpu: 800m\n  memory: 64Mi\nreplicas: 3\nvertical: off\n"
            try await client.execute(uri: "/v1/workloads", method: .post, headers: [.contentType: "application/yaml"], body: ByteBuffer(string: yaml)) { response in
                #expect(response.status == .created)
            }
            #expect(try await bmc.registry.workload(tenant: "default", name: "db")?.vertical == .off)
            let bad = "name: api\nimage: busybox\ncommand: sleep 1000\nresources: {cpu: 100m, memory: 16Mi}\nautoscale: {min: 3, max: 2, target: 5}\n"
            try await client.execute(uri: "/v1/workloads", method: .post, headers: [.contentType: "application/yaml"], body: ByteBuffer(string: bad)) { response in
                #expect(response.status == .badRequest)
                let e = try error(response)
                #expect(e.details.keys.contains("autoscale.target"), "\(e)")
            }
            let state = try await bmc.registry.read()
            #expect(try await bmc.registry.apply(bmc.reconciler.reconcile(state.snapshot, now: BusManagementController.wallClock()), readAt: state))
            try await client.execute(uri: "/v1/plan", method: .get) { response in
                #expect(response.status == .ok)
                let plan = try JSONDecoder().decode(AllocatorService.Report.self, from: Data(response.body.readableBytesView))
                // One 800m replica fits the 1-core card; two wait: two more cards of its shape.
                #expect(plan.cardRequest?.count == 2 && plan.cardRequest?.shape == Resources(cpuMillis: 1000, memoryBytes: 1 << 30), "\(plan)")
                #expect(plan.forecasts.map(\.workload) == ["default/db"] && plan.resizes.isEmpty && plan.idleCards.isEmpty)
            }
            try await client.execute(uri: "/v1/plan?tenant=BAD_", method: .get) { response in #expect(response.status == .badRequest) }
        }
    }

    @Test("YAML deploy, status with the pending reason, scale, delete")
    func lifecycle() async throws {
        try await withAPI { client, bmc in
            try await bmc.registry.putCard(Card(id: CardID(0x1_000000), name: "small", state: .ready, capacity: Resources(cpuMillis: 1000, memoryBytes: 256 << 20)))
            let yaml = "name: db\nimage: busybox\ncommand: sleep 1000\nresources:\n  cpu: 250m\n  memory: 512Mi\n"
            try await client.execute(uri: "/v1/workloads", method: .post, headers: [.contentType: "application/yaml"], body: ByteBuffer(string: yaml)) { response in
                #expect(response.status == .created)
            }
            let state = try await bmc.registry.read()
            let changes = bmc.reconciler.reconcile(state.snapshot, now: BusManagementController.wallClock())
            #expect(try await bmc.registry.apply(changes, readAt: state))
            try await client.execute(uri: "/v1/workloads/db", method: .get) { response in
                let status = try JSONDecoder().decode(APIServer.WorkloadStatus.self, from: Data(response.body.readableBytesView))
                #expect(status.pending == 1 && status.pendingReason == "insufficient memory on 1 of 1 cards (requested 512Mi, largest free 256Mi)")
            }
            try await client.execute(uri: "/v1/workloads/db/scale", method: .post, body: ByteBuffer(string: #"{"replicas": 3}"#)) { response in
                #expect(response.status == .ok)
            }
            #expect(try await bmc.registry.workload(tenant: "default", name: "db")?.replicas == 3)
            try await client.execute(uri: "/v1/workloads/db/scale", method: .post, body: ByteBuffer(string: #"{"replicas": -1}"#)) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/v1/workloads/db", method: .delete) { response in #expect(response.status == .noContent) }
            try await client.execute(uri: "/v1/workloads/db", method: .delete) { response in
                #expect(response.status == .notFound)
                let e = try error(response)
                #expect(e.code == "not_found")
            }
        }
    }

    @Test("explain: a pending instance names the refusing filter per card class; a fitting workload shows the best cards")
    func explain() async throws {
        try await withAPI { client, bmc in
            for i in 0..<3 {
                try await bmc.registry.putCard(Card(id: CardID(0x1_000000 + UInt64(i)), name: "card-\(i)", state: i == 2 ? .lost : .ready, capacity: Resources(cpuMillis: 1000, memoryBytes: 256 << 20)))
            }
            try await bmc.registry.putWorkload(WorkloadSpec(name: "big", image: "busybox", command: ["sleep", "1"], resources: Resources(cpuMillis: 100, memoryBytes: 512 << 20)))
            try await bmc.registry.putWorkload(WorkloadSpec(name: "small", image: "busybox", command: ["sleep", "1"], resources: Resources(cpuMillis: 100, memoryBytes: 64 << 20)))
            let state = try await bmc.registry.read()
            #expect(try await bmc.registry.apply(bmc.reconciler.reconcile(state.snapshot, now: BusManagementController.wallClock()), readAt: state))
            try await client.execute(uri: "/v1/workloads/big/explain", method: .get) { response in
                let e = try JSONDecoder().decode(APIServer.WorkloadExplanation.self, from: Data(response.body.readableBytesView))
                #expect(e.instance == "big-0" && !e.hypothetical && e.feasibleCards == 0 && e.cards == 3)
                #expect(e.decision.hasPrefix("pending: insufficient memory on 2 of"), "\(e.decision)")
                #expect(e.refusedBy["insufficient memory"] == 2 && e.refusedBy["card not ready"] == 1, "\(e.refusedBy)")
                #expect(e.top.isEmpty)
            }
            try await client.execute(uri: "/v1/workloads/small/explain", method: .get) { response in
                let e = try JSONDecoder().decode(APIServer.WorkloadExplanation.self, from: Data(response.body.readableBytesView))
                #expect(e.instance == "small-1" && e.hypothetical, "small-0 is placed, so one more replica is explained")
                #expect(e.decision.hasPrefix("place on c-0001-00000"), "\(e.decision)")
                #expect(e.feasibleCards == 2 && !e.top.isEmpty && e.top.count <= 2)
            }
            try await client.execute(uri: "/v1/workloads/nope/explain", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test("the OpenAPI document is served and lists every route")
    func openAPI() async throws {
        try await withAPI { client, _ in
            try await client.execute(uri: "/v1/openapi.json", method: .get) { response in
                let doc = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
                let paths = (doc?["paths"] as? [String: Any]).map { Set($0.keys) } ?? []
                #expect(paths.isSuperset(of: ["/v1/cards", "/v1/workloads", "/v1/workloads/{name}", "/v1/workloads/{name}/scale", "/v1/instances", "/v1/instances/{id}/logs", "/v1/events", "/v1/metrics", "/v1/workloads/{name}/metrics", "/v1/workloads/{name}/forecast", "/v1/workloads/{name}/explain"]))
            }
            try await client.execute(uri: "/v1/nothing-here", method: .get) { response in
                #expect(response.status == .notFound)
                let e = try error(response)
                #expect(e.code == "not_found")
            }
        }
    }
}
