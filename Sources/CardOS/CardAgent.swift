import BackplaneModel
import DirectCardLinkNIO
import Foundation
import NIOCore
import Synchronization

/// CardOS: joins the bus over DCL, keeps its CardID across restarts, and runs instances the
/// BMC asks for with its container runtime, reporting their exits.
///
/// Lifetime: ``run()`` until cancelled; cancellation stops every instance and leaves nothing
/// behind (no container, cgroup or bundle).
public final class CardAgent: Sendable {
    public struct Configuration: Sendable {
        public var name: String
        public var stateDirectory: String
        public var bmc: DCLAddress
        public var token: String
        /// The slice of the host this card offers.
        public var capacity: Resources
        /// Models of the GPU devices this card declares (accounting only: CardOS does not yet
        /// pass devices into containers).
        public var gpus: [String] = []
        public var heartbeatInterval: Duration = .seconds(1)
        public var deadAfter: Duration = .seconds(5)

        public init(name: String, stateDirectory: String, bmc: DCLAddress, token: String, capacity: Resources) {
            self.name = name
            self.stateDirectory = stateDirectory
            self.bmc = bmc
            self.token = token
            self.capacity = capacity
        }
    }

    public let configuration: Configuration
    public let runtime: any ContainerRuntime
    /// Measures every running instance and ships its usage to the BMC.
    public let profiler: Profiler
    let group: any EventLoopGroup
    private let node = Mutex<DCLNode?>(nil)
    private let links: AsyncStream<LinkEvent>
    private let linkSink: AsyncStream<LinkEvent>.Continuation

    public init(configuration: Configuration, runtime: any ContainerRuntime, group: any EventLoopGroup, profiler: Profiler = Profiler()) {
        self.configuration = configuration
        self.runtime = runtime
        self.profiler = profiler
        self.group = group
        (links, linkSink) = AsyncStream.makeStream()
    }

    private var idFile: String { (configuration.stateDirectory as NSString).appendingPathComponent("card-id") }

    /// The CardID this card had before, if any.
    public var persistedID: CardID? {
        (try? String(contentsOfFile: idFile, encoding: .utf8)).flatMap { CardID($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// This card's CardID once it has joined.
    public var cardID: CardID? { node.withLock { $0?.cardID }.flatMap { $0 == .unassigned ? nil : $0 } }

    public func run() async throws {
        try FileManager.default.createDirectory(atPath: configuration.stateDirectory, withIntermediateDirectories: true)
        _ = try await runtime.cleanUpLeftovers()
        try await withThrowingDiscardingTaskGroup { tasks in
            defer { tasks.cancelAll() }
            tasks.addTask {
                await self.profiler.run { points in
                    // Through whichever link is current; points measured while the BMC is
                    // unreachable are dropped (usage history is best effort, not a log).
                    guard let body = try? JSONEncoder().encode(CardProtocol.TelemetryBatch(points: points)) else { return }
                    try? self.node.withLock({ $0 })?.send(to: .bmc, endpoint: CardProtocol.telemetry, body: ByteBuffer(bytes: body), qos: .telemetry)
                }
            }
            var attempt = 0
            while !Task.isCancelled {
                let node = makeNode()
                tasks.addTask { await node.run() }
                do {
                    try await node.connect(to: configuration.bmc)
                    attempt = 0
                    try "\(node.cardID)\n".write(toFile: idFile, atomically: true, encoding: .utf8)
                    // Serve until the link to the BMC closes.
                    for await event in links {
                        if case .closed(let peer, _) = event, peer == .bmc { break }
                    }
                } catch {
                    if let error = error as? DCLError, error.status == .unauthorized || error.status == .versionMismatch { throw error }
                }
                await node.shutdown()
                if Task.isCancelled { break }
                attempt += 1
                try await Task.sleep(for: .milliseconds(min(5000, 100 << min(attempt, 6))))  // reconnect backoff
            }
        }
    }

    /// Stops every instance (for card shutdown).
    public func stopAll() async {
        await runtime.shutdown()
        await node.withLock { $0 }?.shutdown()
    }

    private func makeNode() -> DCLNode {
        var config = DCLNode.Configuration(cardID: persistedID ?? .unassigned, role: .card)
        config.token = configuration.token
        config.heartbeatInterval = configuration.heartbeatInterval
        config.deadAfter = configuration.deadAfter
        let capacity = (try? String(decoding: JSONEncoder().encode(configuration.capacity), as: UTF8.self)) ?? "{}"
        let inventory = InventoryReader.read(diskPaths: [configuration.stateDirectory])
        let inventoryJSON = (try? String(decoding: JSONEncoder().encode(inventory), as: UTF8.self)) ?? "{}"
        config.metadata = [CardProtocol.nameKey: configuration.name, CardProtocol.capacityKey: capacity, CardProtocol.runtimeKey: runtime.kind, CardProtocol.inventoryKey: inventoryJSON]
        if !configuration.gpus.isEmpty { config.metadata[CardProtocol.gpusKey] = configuration.gpus.joined(separator: ",") }
        let sink = linkSink
        config.linkEvents = { sink.yield($0) }
        let node = DCLNode(configuration: config, group: group)
        let runtime = self.runtime
        node.onRequest(CardProtocol.startInstance, async: { [weak self] d in
            let agent = self
            let start = try JSONDecoder().decode(CardProtocol.StartInstance.self, from: Data(d.body.readableBytesView))
            let spec = ContainerSpec(id: start.id, image: start.image, command: start.command, env: start.env, resources: start.resources)
            let profiler = agent?.profiler
            let handle = try await runtime.start(spec) { [agent] exit in
                profiler?.untrack(exit.id)
                let body = (try? JSONEncoder().encode(CardProtocol.InstanceExited(id: exit.id, code: exit.code, oomKilled: exit.oomKilled))) ?? Data()
                // Through whichever link is current: the card may have reconnected meanwhile.
                try? agent?.node.withLock({ $0 })?.emit(event: CardProtocol.instanceExited, to: .bmc, body: ByteBuffer(bytes: body))
            }
            profiler?.track(instance: start.id, workload: start.workload, cgroupPath: handle.cgroupPath, pid: handle.pid)
            let started = CardProtocol.StartedInstance(id: start.id, pid: handle.pid, runtime: runtime.kind, containerID: handle.id, cgroupPath: handle.cgroupPath)
            return ByteBuffer(bytes: try JSONEncoder().encode(started))
        })
        let stateDirectory = configuration.stateDirectory
        node.onRequest(CardProtocol.instanceLogs, async: { d in
            let id = String(buffer: d.body)
            var out = ByteBuffer()
            for stream in ["out", "err"] {
                for directory in ["runtime/logs"] {
                    let path = "\(stateDirectory)/\(directory)/\(id).\(stream)"
                    guard let handle = FileHandle(forReadingAtPath: path) else { continue }
                    defer { try? handle.close() }
                    let size = (try? handle.seekToEnd()) ?? 0
                    try? handle.seek(toOffset: size > 32_768 ? size - 32_768 : 0)
                    out.writeBytes((try? handle.readToEnd()) ?? Data())
                }
            }
            return out
        })
        node.onRequest(CardProtocol.stopInstance, async: { d in
            let stop = try JSONDecoder().decode(CardProtocol.StopInstance.self, from: Data(d.body.readableBytesView))
            try await runtime.stop(stop.id, grace: .milliseconds(stop.graceMilliseconds))
            return ByteBuffer()
        })
        self.node.withLock { $0 = node }
        return node
    }
}
