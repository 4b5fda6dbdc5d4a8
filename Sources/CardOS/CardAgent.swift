import BackplaneModel
import BusSecurity
import DirectCardLinkNIO
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// CardOS: joins the bus over DCL, keeps its CardID across restarts, heartbeats to the BMC (whose
/// grants renew the card's lease), and runs the instances the BMC asks for with its container
/// runtime, reporting what it runs and how each ended.
///
/// Lifetime (a swift-service-lifecycle `Service`): ``run()`` adopts what an earlier run of this
/// card left running, then links and serves until graceful shutdown or cancellation, which stop
/// every instance and leave nothing behind (no container, cgroup or bundle). A `kill -9` of the
/// agent leaves its containers to their shims: they keep running while the lease holds, are
/// fenced when it lapses, and are adopted by the next run.
public final class CardAgent: Service, Sendable {
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
        /// Until the BMC's first grant says otherwise.
        public var heartbeatInterval: Duration = .milliseconds(200)
        /// How often the card reports its shards' counts to the BMC (``ShardProtocol/telemetry``).
        public var shardReportInterval: Duration = .seconds(10)
        /// DCL link liveness (the link closes after this long without frames).
        public var deadAfter: Duration = .seconds(5)
        /// How long exits are repeated in heartbeats (the BMC applies each once).
        public var exitMemory: Duration = .seconds(30)
        /// Mutual TLS with a certificate from the bus CA (nil: plain TCP, only behind `--insecure`).
        public var security: CardLinkSecurity?

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
    let logger: Logger
    private let node = Mutex<DCLNode?>(nil)
    /// Exits not yet known to be applied, with when they happened (monotonic ns).
    private let recentExits = Mutex<[(exit: CardProtocol.InstanceExited, at: UInt64)]>([])
    /// Liveness and readiness probes of the instances it runs.
    let probes: ProbeRunner
    /// Why the agent itself stopped an instance (a failed liveness probe), by `<id>.<incarnation>`.
    private let stopReasons = LockedReasons()
    /// Serves sharded instances' apps and runs this card's side of shard migrations.
    public let shardHost: ShardHost

    public init(configuration: Configuration, runtime: any ContainerRuntime, group: any EventLoopGroup, profiler: Profiler = Profiler(), logger: Logger = Logger(label: "backplane.card")) throws {
        self.configuration = configuration
        shardHost = try ShardHost(stateDirectory: configuration.stateDirectory, group: group)
        self.runtime = runtime
        self.profiler = profiler
        self.group = group
        self.logger = logger
        let reasons = stopReasons
        probes = ProbeRunner { [runtime] handle, reason in
            reasons.set(ContainerID.make(instance: handle.id, incarnation: handle.incarnation), reason)
            do {
                try await runtime.stop(handle.id, incarnation: handle.incarnation, grace: .seconds(2))
            } catch {
                Logger(label: "backplane.card").error("cannot stop an instance whose liveness probe failed", metadata: ["instance": "\(handle.id)", "error": "\(error)"])
            }
        }
    }

    private var idFile: String { (configuration.stateDirectory as NSString).appendingPathComponent("card-id") }

    /// The CardID this card had before, if any.
    public var persistedID: CardID? {
        (try? String(contentsOfFile: idFile, encoding: .utf8)).flatMap { CardID($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// This card's CardID once it has joined.
    public var cardID: CardID? { node.withLock { $0?.cardID }.flatMap { $0 == .unassigned ? nil : $0 } }

    /// Runs until graceful shutdown (then stops every instance) or cancellation.
    /// The runtime's exit watchers and the probes run beside the agent's link as its children;
    /// they end after the last act, stopping every instance, which runs to its end even when
    /// this task was cancelled.
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { parts in
            parts.addTask { await self.runtime.run() }
            parts.addTask { await self.probes.run() }
            var failure: (any Error)?
            do {
                try await cancelWhenGracefulShutdown {
                    try await self.serve()
                }
            } catch is CancellationError {
                // Graceful shutdown or cancellation: stop everything below, not an error.
            } catch {
                failure = error
            }
            await uncancelled { await self.stopAll() }
            if let failure { throw failure }
        }
    }

    func serve() async throws {
        try FileManager.default.createDirectory(atPath: configuration.stateDirectory, withIntermediateDirectories: true)
        try await shardHost.start()
        let adoption = try await runtime.adopt(onExit: exitHandler())
        for handle in adoption.adopted {
            profiler.track(instance: handle.id, workload: handle.workload, cgroupPath: handle.cgroupPath, pid: handle.pid)
            watchProbes(handle)
        }
        for exit in adoption.ended { remember(exit) }
        if !adoption.adopted.isEmpty || !adoption.ended.isEmpty || !adoption.removed.isEmpty {
            logger.notice("adopted what an earlier run left", metadata: [
                "adopted": "\(adoption.adopted.map(\.containerID))", "ended": "\(adoption.ended.map { "\($0.id).\($0.incarnation)" })", "removed": "\(adoption.removed)",
            ])
        }
        try await withThrowingDiscardingTaskGroup { tasks in
            defer { tasks.cancelAll() }
            tasks.addTask {
                await self.profiler.run { points in
                    // Through whichever link is current; points measured while the BMC is
                    // unreachable are dropped (usage history is best effort, not a log).
                    guard let body = try? JSONEncoder().encode(CardProtocol.TelemetryBatch(points: points)) else { return }
                    do {
                        try self.node.withLock({ $0 })?.send(to: .bmc, endpoint: CardProtocol.telemetry, body: ByteBuffer(bytes: body), qos: .telemetry)
                    } catch {
                        self.logger.debug("telemetry not sent", metadata: ["error": "\(error)"])
                    }
                }
            }
            tasks.addTask {
                // Each shard's counts, for its rate and forecast at the BMC (best effort).
                while !Task.isCancelled {
                    do { try await Task.sleep(for: self.configuration.shardReportInterval) } catch { break }
                    let stats = await self.shardHost.stats()
                    guard !stats.shards.isEmpty, let body = try? JSONEncoder().encode(stats) else { continue }
                    try? self.node.withLock({ $0 })?.send(to: .bmc, endpoint: ShardProtocol.telemetry, body: ByteBuffer(bytes: body), qos: .telemetry)
                }
            }
            var attempt = 0
            while !Task.isCancelled {
                var credentials: CardCredentials?
                if let security = configuration.security {
                    do {
                        credentials = try await self.credentials(security)
                    } catch let error as DCLError where error.status != .unauthorized && error.status != .versionMismatch {
                        // The BMC is not up yet, or the link failed mid-enrollment: try again.
                        logger.warning("cannot enroll with the BMC", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                        attempt += 1
                        try await Task.sleep(for: .milliseconds(min(2000, 50 << min(attempt, 6))))
                        continue
                    }
                }
                let (node, links) = makeNode(cardID: credentials?.cardID)
                tasks.addTask { await node.run() }
                do {
                    if let credentials {
                        try await node.connect(to: configuration.bmc, tls: try BusTLS.cardClient(credentials), serverHostname: BusCA.bmcServerName)
                    } else {
                        try await node.connect(to: configuration.bmc)
                    }
                    attempt = 0
                    try "\(node.cardID)\n".write(toFile: idFile, atomically: true, encoding: .utf8)
                    logger.info("linked to the BMC", metadata: ["card": "\(node.cardID)"])
                    // Heartbeat (and so hold the lease) until the link to the BMC closes.
                    try await withThrowingTaskGroup(of: Void.self) { link in
                        link.addTask { try await self.heartbeat(over: node) }
                        if let security = self.configuration.security {
                            link.addTask { try await self.renewWhenDue(over: node, security) }
                        }
                        link.addTask {
                            for await event in links {
                                if case .closed(let peer, _) = event, peer == .bmc { return }
                            }
                        }
                        _ = try await link.next()
                        link.cancelAll()
                    }
                    logger.warning("the link to the BMC closed; reconnecting")
                } catch is CancellationError {
                    await node.shutdown()
                    break
                } catch {
                    if let error = error as? DCLError, error.status == .unauthorized || error.status == .versionMismatch { throw error }
                    logger.warning("cannot link to the BMC", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                }
                await node.shutdown()
                if Task.isCancelled { break }
                attempt += 1
                try await Task.sleep(for: .milliseconds(min(2000, 50 << min(attempt, 6))))  // reconnect backoff
            }
        }
    }

    /// Sends a heartbeat every interval; each grant renews the lease from when its heartbeat was
    /// sent. Returns (throws) when the link fails.
    func heartbeat(over node: DCLNode) async throws {
        var sequence: UInt64 = 0
        var interval = configuration.heartbeatInterval
        var rtt: Int64?
        let clock = ContinuousClock()
        while !Task.isCancelled {
            let started = clock.now
            let sentAt = LeaseFile.now()
            let report = CardProtocol.Heartbeat(sequence: sequence, rttMicros: rtt, running: runtime.running().map {
                CardProtocol.RunningInstance(id: $0.id, incarnation: $0.incarnation, pid: $0.pid, containerID: $0.containerID, ready: probes.ready(instance: $0.id, incarnation: $0.incarnation))
            }, exited: exitsToReport(now: sentAt))
            do {
                let reply = try await node.command(to: .bmc, name: CardProtocol.heartbeat, body: ByteBuffer(bytes: try JSONEncoder().encode(report)), timeout: .seconds(2))
                let grant = try JSONDecoder().decode(CardProtocol.LeaseGrant.self, from: Data(reply.readableBytesView))
                guard (1...3_600_000).contains(grant.leaseMilliseconds), (1...60_000).contains(grant.heartbeatMilliseconds) else {
                    throw RuntimeError("the BMC granted an out-of-range lease (\(grant.leaseMilliseconds) ms, heartbeat \(grant.heartbeatMilliseconds) ms)")
                }
                try runtime.lease?.renew(until: sentAt + UInt64(grant.leaseMilliseconds) * 1_000_000)
                interval = .milliseconds(grant.heartbeatMilliseconds)
                rtt = Int64((LeaseFile.now() - sentAt) / 1000)
                sequence += 1
            } catch let error as DCLError where error.status == .timeout {
                logger.warning("heartbeat timed out", metadata: ["sequence": "\(sequence)"])
            } catch let error as DCLError where [.noRoute, .shuttingDown, .peerDead].contains(error.status) {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                logger.warning("heartbeat failed", metadata: ["error": "\(error)"])
            }
            let elapsed = clock.now - started
            if elapsed < interval { try await Task.sleep(for: interval - elapsed) }  // the heartbeat period
        }
    }

    private func exitsToReport(now: UInt64) -> [CardProtocol.InstanceExited] {
        let keep = UInt64(configuration.exitMemory.components.seconds) * 1_000_000_000
        return recentExits.withLock { exits in
            exits.removeAll { now > $0.at && now - $0.at > keep }
            return exits.map(\.exit)
        }
    }

    private func watchProbes(_ handle: ContainerHandle) {
        let runtime = self.runtime
        probes.watch(handle, liveness: handle.liveness, readiness: handle.readiness) { command, timeout in
            await runtime.exec(handle, command: command, timeout: timeout)
        }
    }

    private func remember(_ exit: ContainerExit) {
        let report = CardProtocol.InstanceExited(id: exit.id, incarnation: exit.incarnation, code: exit.code, oomKilled: exit.oomKilled, fenced: exit.fenced, reason: exit.reason)
        recentExits.withLock { exits in
            exits.append((report, LeaseFile.now()))
            if exits.count > 1000 { exits.removeFirst(exits.count - 1000) }
        }
    }

    /// What happens when an instance ends: the profiler forgets it, the BMC hears at once (and
    /// again in the next heartbeats, in case this event is lost).
    private func exitHandler() -> @Sendable (ContainerExit) -> Void {
        { [weak self] exit in
            guard let self else { return }
            var exit = exit
            if let reason = self.stopReasons.take(ContainerID.make(instance: exit.id, incarnation: exit.incarnation)) { exit.reason = reason }
            self.probes.forget(instance: exit.id, incarnation: exit.incarnation)
            self.shardHost.unregister(instance: exit.id)
            self.profiler.untrack(exit.id)
            self.remember(exit)
            self.logger.info("instance ended", metadata: ["instance": "\(exit.id)", "incarnation": "\(exit.incarnation)", "reason": "\(exit.reason)"])
            let body = (try? JSONEncoder().encode(CardProtocol.InstanceExited(id: exit.id, incarnation: exit.incarnation, code: exit.code, oomKilled: exit.oomKilled, fenced: exit.fenced, reason: exit.reason))) ?? Data()
            do {
                try self.node.withLock({ $0 })?.emit(event: CardProtocol.instanceExited, to: .bmc, body: ByteBuffer(bytes: body))
            } catch {
                self.logger.info("exit event not sent now; the next heartbeats carry it", metadata: ["instance": "\(exit.id)", "error": "\(error)"])
            }
        }
    }

    /// Stops every instance (for card shutdown).
    public func stopAll() async {
        probes.stopAll()
        await runtime.shutdown()
        await node.withLock { $0 }?.shutdown()
        await shardHost.shutdown()
    }

    /// A node for one link to the BMC, and its link events.
    /// `cardID`: the one the card's certificate carries (on a mutual-TLS bus).
    private func makeNode(cardID: CardID?) -> (DCLNode, AsyncStream<LinkEvent>) {
        var config = DCLNode.Configuration(cardID: cardID ?? persistedID ?? .unassigned, role: .card)
        config.token = configuration.token
        config.heartbeatInterval = .seconds(1)
        config.deadAfter = configuration.deadAfter
        let capacity = (try? String(decoding: JSONEncoder().encode(configuration.capacity), as: UTF8.self)) ?? "{}"
        let inventory = InventoryReader.read(diskPaths: [configuration.stateDirectory])
        let inventoryJSON = (try? String(decoding: JSONEncoder().encode(inventory), as: UTF8.self)) ?? "{}"
        config.metadata = [CardProtocol.nameKey: configuration.name, CardProtocol.capacityKey: capacity, CardProtocol.runtimeKey: runtime.kind, CardProtocol.inventoryKey: inventoryJSON]
        if !configuration.gpus.isEmpty { config.metadata[CardProtocol.gpusKey] = configuration.gpus.joined(separator: ",") }
        let (links, sink) = AsyncStream.makeStream(of: LinkEvent.self)
        config.linkEvents = { sink.yield($0) }
        let node = DCLNode(configuration: config, group: group)
        // Every other card is reached through the BMC (replies to a card's request included).
        node.setDefaultRoute(.bmc)
        let runtime = self.runtime
        let onExit = exitHandler()
        node.onRequest(CardProtocol.startInstance, async: { [weak self] d in
            try Self.fromBMC(d)
            let start = try JSONDecoder().decode(CardProtocol.StartInstance.self, from: Data(d.body.readableBytesView))
            var spec = ContainerSpec(id: start.id, incarnation: start.incarnation, image: start.image, command: start.command, env: start.env, resources: start.resources)
            spec.workload = start.workload
            spec.liveness = start.liveness
            spec.readiness = start.readiness
            if start.sharded == true, let host = self?.shardHost {
                let inContainer = runtime.kind == "runc"
                spec.env.merge(host.register(instance: start.id, inContainer: inContainer)) { _, shard in shard }
                if inContainer { spec.bindMounts.append(BindMount(source: host.directory, destination: ShardHost.containerDirectory)) }
            }
            let handle = try await runtime.start(spec, onExit: onExit)
            self?.watchProbes(handle)
            // It may have ended before its probes were watched (the exit forgot them first).
            if !runtime.running().contains(where: { $0.containerID == handle.containerID }) {
                self?.probes.forget(instance: handle.id, incarnation: handle.incarnation)
            }
            self?.profiler.track(instance: start.id, workload: start.workload, cgroupPath: handle.cgroupPath, pid: handle.pid)
            let started = CardProtocol.StartedInstance(id: start.id, incarnation: start.incarnation, pid: handle.pid, runtime: runtime.kind, containerID: handle.containerID, cgroupPath: handle.cgroupPath)
            return ByteBuffer(bytes: try JSONEncoder().encode(started))
        })
        let stateDirectory = configuration.stateDirectory
        node.onRequest(CardProtocol.instanceLogs, async: { d in
            try Self.fromBMC(d)
            let id = String(buffer: d.body)
            guard ContainerID.isValidInstanceID(id) else { throw RuntimeError("'\(id.prefix(80))' is not an instance id") }
            var out = ByteBuffer()
            for stream in ["out", "err"] {
                let path = "\(stateDirectory)/runtime/logs/\(id).\(stream)"
                guard let handle = FileHandle(forReadingAtPath: path) else { continue }
                defer { try? handle.close() }
                let size = (try? handle.seekToEnd()) ?? 0
                try handle.seek(toOffset: size > 32_768 ? size - 32_768 : 0)
                out.writeBytes(try handle.readToEnd() ?? Data())
            }
            return out
        })
        node.onRequest(CardProtocol.stopInstance, async: { d in
            try Self.fromBMC(d)
            let stop = try JSONDecoder().decode(CardProtocol.StopInstance.self, from: Data(d.body.readableBytesView))
            try await runtime.stop(stop.id, incarnation: stop.incarnation, grace: .milliseconds(max(0, min(stop.graceMilliseconds, 600_000))))
            return ByteBuffer()
        })
        node.onRequest(CardProtocol.resizeInstance, async: { d in
            try Self.fromBMC(d)
            let resize = try JSONDecoder().decode(CardProtocol.ResizeInstance.self, from: Data(d.body.readableBytesView))
            guard ContainerID.isValidInstanceID(resize.id) else { throw RuntimeError("'\(resize.id.prefix(80))' is not an instance id") }
            try await runtime.resize(resize.id, incarnation: resize.incarnation, to: resize.resources)
            return ByteBuffer()
        })
        shardHost.attach(to: node)
        self.node.withLock { $0 = node }
        return (node, links)
    }

    /// Only the BMC commands a card: a request from another card (forwarded by the BMC as data,
    /// or routed) is refused. The BMC makes sure a frame's source is its sender's own CardID.
    static func fromBMC(_ delivery: Delivery) throws {
        guard delivery.source == .bmc else {
            throw DCLError(.unauthorized, "only the BMC commands cards (this came from \(delivery.source))")
        }
    }
}

/// Reasons by key, shared with the probe runner's callback.
final class LockedReasons: Sendable {
    private let reasons = Mutex<[String: String]>([:])
    func set(_ key: String, _ reason: String) { reasons.withLock { $0[key] = reason } }
    func take(_ key: String) -> String? { reasons.withLock { $0.removeValue(forKey: key) } }
}
