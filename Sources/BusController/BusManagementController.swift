import BackplaneModel
import ClusterStore
import ControlPlane
import DirectCardLinkNIO
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import WorkloadBalancer

/// The Bus Management Controller: admits cards over DCL (assigning CardIDs it persists), keeps
/// their state (ready while linked, lost when the link dies), reconciles workloads into
/// instances, and tells cards to start and stop them.
///
/// Everything that changes the bus goes through one loop (``run()``): link events, card health
/// transitions, card reports, instance exits and command results arrive as ``Event``s and are
/// applied in order; after each the reconciler plans and the plan applier commits with
/// compare-and-swap; then commands go out. The decisions are pure state machines
/// (``CardHealth``, ``Adoption``, ``Reconciler``); this class carries out what they decide.
public final class BusManagementController: Service, Sendable {
    public struct Configuration: Sendable {
        public var listen: DCLAddress
        public var token: String
        public var reconcileInterval: Duration = .seconds(1)
        /// Card heartbeats, leases and the failure detector (see ``CardHealth``).
        public var health = CardHealth.Configuration()
        /// How often card health is evaluated (suspicion, lease lapses).
        public var healthTick: Duration = .milliseconds(50)
        /// DCL link liveness (independent of leases: a link with no frames this long closes).
        public var heartbeatInterval: Duration = .seconds(1)
        public var deadAfter: Duration = .seconds(5)
        public var stopGrace: Duration = .seconds(5)
        /// How often usage history (1-minute means) is written to the store.
        public var persistMetricsInterval: Duration = .seconds(300)
        /// Store revisions kept for watchers; older history is compacted (etcd's
        /// `--auto-compaction-mode=revision`).
        public var keepRevisions: Int64 = 10_000
        /// Mutual TLS on every DCL link (nil: plain TCP, only behind `--insecure`).
        public var security: BusLinkSecurity?
        /// Admits data clients (`backplane load`, the Redis gateway): a link with hello role
        /// `client`, metadata ``CardProtocol/purposeKey`` = ``CardProtocol/dataPurpose`` and an
        /// API token in the hello's token. Returns the tenant the token is scoped to ("" for
        /// every tenant), or nil to refuse. Nil: no data clients.
        public var authenticateClient: (@Sendable (String) async -> String?)?
        /// How fast a shard migration copies its snapshot, bytes a second (nil: unpaced).
        public var migrationCopyRate: UInt64?
        /// The Resource Allocator (interval, guardrails, horizons).
        public var allocator = AllocatorService.Configuration()
        public init(listen: DCLAddress, token: String) {
            self.listen = listen
            self.token = token
        }
    }

    enum Event: Sendable {
        case tick
        case cardJoined(CardID, name: String, capacity: Resources, inventory: Inventory?, gpus: [String])
        case health([CardHealth.Transition])
        case report(CardID, CardProtocol.Heartbeat)
        case instanceExited(CardProtocol.InstanceExited, card: CardID)
        case started(CardProtocol.StartedInstance)
        case startFailed(id: String, incarnation: UInt64, message: String)
        /// No answer (timeout, or the link closed first): the card may run it (see ``sendStart``).
        case startUnanswered(id: String, incarnation: UInt64, card: CardID, message: String)
        case stopped(id: String, incarnation: UInt64)
        /// The allocator's interval: plan and carry out.
        case allocate
        /// A card made (or refused) an in-place resize the allocator asked for.
        case resized(VerticalPlanner.Resize, incarnation: UInt64, outcome: ResizeOutcome)
    }

    /// Commands the loop sends after handling an event.
    enum Action: Sendable {
        /// A copy the BMC did not ask for (unknown, stale or placed elsewhere): stop it.
        case stopStray(CardProtocol.RunningInstance, card: CardID)
        /// An in-place resize the allocator decided (its room is reserved in the record).
        case resize(VerticalPlanner.Resize, incarnation: UInt64)
        /// The provisioner hook: executable and arguments.
        case provision(String, [String])
    }

    public let configuration: Configuration
    public let registry: Registry
    public let node: DCLNode
    /// Usage of instances and workloads, and their forecasts.
    public let monitor: Monitor
    let reconciler: Reconciler
    private let events: AsyncStream<Event>
    let sink: AsyncStream<Event>.Continuation
    /// Instance ids with a start or stop command on its way.
    /// `<id>.<incarnation>` of each command on its way (per incarnation: a new incarnation's
    /// start never waits for an old one's command to a dead card to time out).
    let inFlight = Mutex<Set<String>>([])
    /// Starts sent and not answered, by `<id>.<incarnation>` (see ``Event/startUnanswered``).
    private let unanswered = Mutex<[String: Int]>([:])
    /// After this many unanswered starts on a linked card, the instance is stopped there (a
    /// confirmed stop, or the lease lapsing, frees it) and placed again with backoff.
    static let maximumUnansweredStarts = 3
    static func flight(_ id: String, _ incarnation: UInt64) -> String { "\(id).\(incarnation)" }
    /// Hello metadata between admission and the link's establishment.
    /// Recent things that happened on the bus, newest last (at most 1,000).
    let recentEvents: LockedBox<[BusEvent]>
    /// Links admitted without a certificate, to enroll (they may do nothing else).
    let enrolling = LockedBox<Set<CardID>>([])
    /// Data clients' links and the tenant each may use ("" for all).
    let clients = LockedBox<[CardID: String]>([:])
    /// Shard maps, routing and the Migration Engine.
    public let shards: ShardService
    /// The Resource Allocator's memory (resize times, replica recommendations) and settings.
    public let allocator: AllocatorService
    private let joining = LockedBox<[CardID: (name: String, capacity: Resources, inventory: Inventory?, gpus: [String])]>([:])
    /// Liveness and leases of every card (pure; the heartbeat handler and the health ticker
    /// feed it, the loop persists its transitions).
    let health: LockedBox<CardHealth>
    /// The last report seen per card (a digest), so unchanged heartbeats skip the loop.
    private let lastReport = LockedBox<[CardID: Int]>([:])
    /// The monotonic clock's origin for ``CardHealth`` times.
    let origin = ContinuousClock.now
    /// When state metrics were last recorded, and the DCL traffic counted then.
    let metricsState = LockedBox<(lastRecorded: ContinuousClock.Instant?, traffic: [QoSClass: DCLTraffic.Counts])>((nil, [:]))
    let logger = Logger(label: "backplane.bmc")
    private let bound = Mutex<(address: DCLAddress?, waiters: [CheckedContinuation<DCLAddress, Never>])>((nil, []))

    public init(configuration: Configuration, store: any ClusterStore, group: any EventLoopGroup, reconciler: Reconciler = Reconciler(), monitor: Monitor = Monitor()) {
        self.configuration = configuration
        self.monitor = monitor
        self.registry = Registry(store: store)
        self.reconciler = reconciler
        self.allocator = AllocatorService(configuration: configuration.allocator)
        (events, sink) = AsyncStream.makeStream()
        let health = LockedBox(CardHealth(configuration: configuration.health))
        self.health = health
        let origin = self.origin
        let lastReport = self.lastReport
        @Sendable func monotonic() -> Duration { ContinuousClock.now - origin }
        var config = DCLNode.Configuration(cardID: .bmc, role: .controller)
        config.heartbeatInterval = configuration.heartbeatInterval
        config.deadAfter = configuration.deadAfter
        config.newestLinkWins = true
        let registry = self.registry
        let token = configuration.token
        let joining = self.joining
        let security = configuration.security
        let enrolling = self.enrolling
        let clients = self.clients
        let authenticateClient = configuration.authenticateClient
        config.admission = Admission { hello, link in
            var assigned: CardID?
            if hello.role == .client, hello.metadata[CardProtocol.purposeKey] == CardProtocol.dataPurpose {
                guard link.peerCertificate == nil, let authenticateClient, let tenant = await authenticateClient(hello.token) else {
                    return .reject(.unauthorized, reason: "data client refused: link with an API token of a role that may use workloads (operator, tenant-admin, bus-admin)")
                }
                let id = CardID(UInt64.random(in: 1 << 62...UInt64.max - 1))
                clients.withLock { $0[id] = tenant }
                return .accept(id)
            }
            if security != nil {
                switch CardAdmission.decide(hello, certificate: link.peerCertificate) {
                case .refuse(let reason):
                    return .reject(.unauthorized, reason: reason)
                case .enrollment:
                    let joinAccepted = CardAdmission.sameSecret(hello.token, token) ? true : await security?.verifyJoin(hello.token) ?? false
                    guard !hello.token.isEmpty, joinAccepted else { return .reject(.unauthorized, reason: "join token rejected") }
                    let id = CardID(UInt64.random(in: 1 << 62...UInt64.max - 1))
                    enrolling.withLock { _ = $0.insert(id) }
                    return .accept(id)
                case .card(let id):
                    if (try? await registry.isRevoked(id)) != false { return .reject(.unauthorized, reason: "card \(id) was removed: its certificate is revoked") }
                    assigned = id
                }
            } else {
                guard CardAdmission.sameSecret(hello.token, token) else { return .reject(.unauthorized, reason: "join token rejected") }
            }
            guard hello.role == .card else { return .accept(hello.cardID == .unassigned ? CardID(UInt64.random(in: 1 << 62...UInt64.max - 1)) : hello.cardID) }
            let capacity = hello.metadata[CardProtocol.capacityKey].flatMap { try? JSONDecoder().decode(Resources.self, from: Data($0.utf8)) }
            guard let capacity else { return .reject(.protocolError, reason: "hello is missing the card's capacity") }
            let id: CardID
            do {
                if let assigned {
                    id = assigned
                } else {
                    id = hello.cardID == .unassigned || hello.cardID.isReserved ? try await registry.assignCardID() : hello.cardID
                }
            } catch {
                return .reject(.shuttingDown, reason: "cannot assign a CardID: \(error)")
            }
            let inventory = hello.metadata[CardProtocol.inventoryKey].flatMap { try? JSONDecoder().decode(Inventory.self, from: Data($0.utf8)) }
            let gpus = hello.metadata[CardProtocol.gpusKey].map { $0.split(separator: ",").map(String.init) } ?? []
            joining.withLock { $0[id] = (hello.metadata[CardProtocol.nameKey] ?? "\(id)", capacity, inventory, gpus) }
            return .accept(id)
        }
        let sink = self.sink
        let logger = self.logger
        // Set once the node exists (the link events need it to cut a slow enrollment).
        let nodeBox = LockedBox<DCLNode?>(nil)
        let shardsBox = LockedBox<ShardService?>(nil)
        // Clients use only their tenant's workloads; cards and the BMC route anything.
        config.mayRoute = { source, workload in
            guard let tenant = clients.withLock({ $0[source] }) else { return true }
            return tenant.isEmpty || workload.hasPrefix(tenant + "/")
        }
        let enrollmentWindow = configuration.security?.enrollmentWindow ?? .seconds(30)
        config.linkEvents = { event in
            switch event {
            case .established(let peer, .client) where enrolling.withLock({ $0.contains(peer) }):
                // An enrolling link has this long to enroll; then it is cut (a join token must
                // not buy a link that stays open doing nothing).
                guard let node = nodeBox.withLock({ $0 }) else { return }
                node.group.next().scheduleTask(in: .nanoseconds(enrollmentWindow.nanoseconds)) {
                    if enrolling.withLock({ $0.contains(peer) }) {
                        node.disconnect(peer, status: .timeout, reason: "no enrollment within \(enrollmentWindow)")
                    }
                }
            case .established(let peer, let role) where role == .card:
                if let info = joining.withLock({ $0.removeValue(forKey: peer) }) {
                    sink.yield(.cardJoined(peer, name: info.name, capacity: info.capacity, inventory: info.inventory, gpus: info.gpus))
                }
                lastReport.withLock { _ = $0.removeValue(forKey: peer) }
                shardsBox.withLock { $0 }?.cardLinked(peer)
                if let t = health.withLock({ $0.linked(peer, stored: nil, now: monotonic()) }) { sink.yield(.health([t])) }
            case .closed(let peer, _):
                enrolling.withLock { _ = $0.remove(peer) }
                clients.withLock { _ = $0.removeValue(forKey: peer) }
                if let t = health.withLock({ $0.linkClosed(peer, now: monotonic()) }) { sink.yield(.health([t])) }
            default:
                break
            }
        }
        let dclNode = DCLNode(configuration: config, group: group)
        node = dclNode
        nodeBox.withLock { $0 = dclNode }
        let recentEvents = LockedBox<[BusEvent]>([])
        self.recentEvents = recentEvents
        shards = ShardService(registry: registry, node: dclNode, copyRate: configuration.migrationCopyRate, linkedCards: {
            let notCards = enrolling.withLock { $0 }.union(clients.withLock { Set($0.keys) })
            return Set(dclNode.connectedPeers).subtracting(notCards)
        }, record: { kind, message, tenant in
            Self.append(BusEvent(time: Self.wallClock(), kind: kind, message: message, tenant: tenant), to: recentEvents)
        })
        let shardService = shards
        shardsBox.withLock { $0 = shardService }
        // On a mutual-TLS bus, card messages come only from certified card links (not from a
        // link that is enrolling).
        let fromCard: @Sendable (CardID) -> Bool = { source in
            !enrolling.withLock { $0.contains(source) } && clients.withLock { $0[source] == nil }
        }
        node.onMessage(CardProtocol.instanceExited) { d in
            guard fromCard(d.source) else { return }
            do {
                sink.yield(.instanceExited(try JSONDecoder().decode(CardProtocol.InstanceExited.self, from: Data(d.body.readableBytesView)), card: d.source))
            } catch {
                logger.warning("undecodable instance.exited event", metadata: ["card": "\(d.source)", "error": "\(error)"])
            }
        }
        // Heartbeats renew leases: answered at once (not through the loop); a changed report
        // goes to the loop.
        node.onRequest(CardProtocol.heartbeat) { d in
            guard fromCard(d.source) else { throw DCLError(.unauthorized, "an enrolling link cannot heartbeat") }
            let beat = try JSONDecoder().decode(CardProtocol.Heartbeat.self, from: Data(d.body.readableBytesView))
            let rtt = beat.rttMicros.flatMap { (0...60_000_000).contains($0) ? Duration.microseconds($0) : nil }
            let (grant, transition) = health.withLock { $0.heartbeatReceived(d.source, rtt: rtt, now: monotonic()) }
            if let transition { sink.yield(.health([transition])) }
            guard let grant else { throw APIError(.conflict, "card \(d.source) is not linked") }
            var hasher = Hasher()
            hasher.combine(beat.running)
            hasher.combine(beat.exited)
            let digest = hasher.finalize()
            let changed = lastReport.withLock { last in
                defer { last[d.source] = digest }
                return last[d.source] != digest
            }
            if beat.sequence == 0 || changed { sink.yield(.report(d.source, beat)) }
            return ByteBuffer(bytes: try JSONEncoder().encode(CardProtocol.LeaseGrant(leaseMilliseconds: grant.lease.milliseconds, heartbeatMilliseconds: grant.heartbeatInterval.milliseconds)))
        }
        node.onMessage(ShardProtocol.telemetry) { [shardService] d in
            guard fromCard(d.source) else { return }
            do {
                shardService.ingest(try JSONDecoder().decode(ShardProtocol.Stats.self, from: Data(d.body.readableBytesView)), from: d.source, at: Self.wallSeconds())
            } catch {
                logger.warning("undecodable shard report dropped", metadata: ["card": "\(d.source)", "error": "\(error)"])
            }
        }
        node.onMessage(CardProtocol.telemetry) { d in
            guard fromCard(d.source) else { return }
            do {
                monitor.ingest(try JSONDecoder().decode(CardProtocol.TelemetryBatch.self, from: Data(d.body.readableBytesView)).points, from: d.source)
            } catch {
                logger.warning("undecodable telemetry batch dropped", metadata: ["card": "\(d.source)", "error": "\(error)"])
            }
        }
    }

    /// Where the BMC listens (the real port once ``run()`` has bound it).
    public var address: DCLAddress? { bound.withLock { $0.address } }

    /// Returns once ``run()`` listens, with the bound address.
    public func listening() async -> DCLAddress {
        await withCheckedContinuation { continuation in
            let ready = bound.withLock { state -> DCLAddress? in
                if let address = state.address { return address }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    private func monotonic() -> Duration { ContinuousClock.now - origin }

    /// What the failure detector and the lease say about a card now.
    public func health(of card: CardID) -> CardHealth.Status? {
        let now = monotonic()
        return health.withLock { $0.status(of: card, now: now) }
    }

    /// Listens for cards and runs the control loop until graceful shutdown or cancellation;
    /// then closes every link.
    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                try await self.serve()
            }
        } catch is CancellationError {
            // Graceful shutdown or cancellation: not an error.
        }
        await shutdown()
    }

    func serve() async throws {
        registry.quarantine.observe { [weak self] q in
            self?.record("workload.quarantined", "\(q.tenant)/\(q.name) is quarantined (kept aside, not run): \(q.reason)", tenant: q.tenant)
        }
        // A card that may hold a lease from an earlier BMC is suspect until it links again, and
        // lost only once that lease has surely lapsed.
        let stored = try await registry.read().snapshot.cards
        for t in health.withLock({ $0.restored(stored, now: monotonic()) }) {
            if var card = stored.first(where: { $0.id == t.card }) {
                card.state = t.to
                try await registry.putCard(card)
            }
        }
        try await restoreMetrics()
        let address = try await node.listen(on: configuration.listen, tls: try configuration.security?.dclContext())
        if let security = configuration.security { serveEnrollment(security) }
        let waiters = bound.withLock { state in
            state.address = address
            defer { state.waiters = [] }
            return state.waiters
        }
        for w in waiters { w.resume(returning: address) }
        try await withThrowingDiscardingTaskGroup { tasks in
            tasks.addTask { await self.node.run() }
            tasks.addTask {
                while !Task.isCancelled {
                    try await Task.sleep(for: self.configuration.reconcileInterval)
                    self.sink.yield(.tick)
                }
            }
            tasks.addTask { try await self.monitorLoop() }
            if let interval = self.configuration.allocator.interval, interval > .zero {
                tasks.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: interval)
                        self.sink.yield(.allocate)
                    }
                }
            }
            tasks.addTask {
                while !Task.isCancelled {
                    try await Task.sleep(for: self.configuration.healthTick)
                    let transitions = self.health.withLock { $0.tick(now: self.monotonic()) }
                    if !transitions.isEmpty { self.sink.yield(.health(transitions)) }
                }
            }
            defer { tasks.cancelAll() }
            for await event in events {
                if Task.isCancelled { break }  // shutting down: no more planning
                do {
                    for action in try await handle(event) {
                        switch action {
                        case .stopStray(let running, let card):
                            tasks.addTask { await self.sendStop(running.id, incarnation: running.incarnation, to: card, confirm: false) }
                        case .resize(let resize, let incarnation):
                            tasks.addTask { await self.sendResize(resize, incarnation: incarnation) }
                        case .provision(let executable, let arguments):
                            tasks.addTask { await self.runProvisioner(executable, arguments) }
                        }
                    }
                    try await reconcile(tasks: &tasks)
                } catch {
                    // The store failed (disk full, I/O) or a record did not decode: what was not
                    // committed is planned again on the next event or tick.
                    logger.error("control loop step failed; will retry", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// Closes every link. Call after cancelling ``run()``.
    public func shutdown() async {
        sink.finish()
        await node.shutdown()
    }

    /// Asks for a reconciliation now (after a workload change through the API).
    public func poke() { sink.yield(.tick) }

    static func wallSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Closes usage buckets every step; persists 1-minute history, forgets deleted workloads
    /// and compacts the store's history every ``Configuration/persistMetricsInterval``.
    private func monitorLoop() async throws {
        let step = Duration.seconds(monitor.configuration.step)
        var sincePersist = Duration.zero
        while !Task.isCancelled {
            try await Task.sleep(for: step)
            monitor.advance(to: Self.wallSeconds())
            sincePersist += step
            if sincePersist >= configuration.persistMetricsInterval {
                sincePersist = .zero
                do {
                    try await persistMetrics()
                } catch {
                    logger.error("usage history not persisted; will try again", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// Writes each workload's 1-minute history to the store and drops deleted workloads' series.
    public func persistMetrics() async throws {
        let existing = Set(try await registry.read().snapshot.workloads.map(\.key))
        for key in monitor.forget(allBut: existing) { _ = try await registry.store.delete(Monitor.storeKey(workload: key)) }
        for (workload, record) in monitor.persistable() {
            _ = try await registry.store.put(Monitor.storeKey(workload: workload), Registry.encode(record))
        }
        let revision = try await registry.store.revision()
        if revision > configuration.keepRevisions { try await registry.store.compact(upTo: revision - configuration.keepRevisions) }
    }

    func restoreMetrics() async throws {
        for kv in try await registry.store.range(prefix: "/metrics/").kvs {
            guard let record = try? JSONDecoder().decode(Monitor.Persisted.self, from: Data(kv.value)) else {
                logger.warning("undecodable usage history skipped (it is rebuilt from new points)", metadata: ["key": "\(kv.key)"])
                continue
            }
            monitor.restore(workload: String(kv.key.dropFirst("/metrics/".count)), record)
        }
    }

    static func wallClock() -> Instant {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Instant(nanoseconds: UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec))
    }

    /// Keeps an event for `GET /v1/events`; `tenant` names whose it is (nil: the bus's, such as a
    /// card joining), which decides who may read it.
    func record(_ kind: String, _ message: String, tenant: String? = nil) {
        Self.append(BusEvent(time: Self.wallClock(), kind: kind, message: message, tenant: tenant), to: recentEvents)
    }

    static func append(_ event: BusEvent, to events: LockedBox<[BusEvent]>) {
        events.withLock { events in
            events.append(event)
            if events.count > 1000 { events.removeFirst(events.count - 1000) }
        }
    }

    /// Stops placing on a card and moves its instances elsewhere; once its link closes it is
    /// removed. Returns the updated card.
    public func drain(_ id: CardID) async throws -> Card {
        guard var card = try await registry.card(id) else { throw APIError(.notFound, "no card \(id)") }
        guard card.state == .ready || card.state == .draining || card.state == .joining else {
            throw APIError(.conflict, "card \(id) is \(card.state.rawValue); only a ready card can be drained", details: ["state": card.state.rawValue])
        }
        card.state = .draining
        try await registry.putCard(card)
        health.withLock { $0.stateSet(id, to: .draining) }
        record("card.draining", "\(id) (\(card.name)) is draining")
        poke()
        return card
    }

    /// The tail of an instance's output, from its card.
    public func logs(of id: String) async throws -> ByteBuffer {
        guard let r = try await registry.instance(id) else { throw APIError(.notFound, "no instance '\(id)'") }
        guard let card = r.instance.card else { throw APIError(.conflict, "instance '\(id)' is not placed on a card", details: ["state": r.instance.state.rawValue]) }
        return try await node.command(to: card, name: CardProtocol.instanceLogs, body: ByteBuffer(string: id), timeout: .seconds(10))
    }

    private func handle(_ event: Event) async throws -> [Action] {
        switch event {
        case .tick:
            break
        case .cardJoined(let id, let name, let capacity, let inventory, let gpus):
            var card = try await registry.card(id) ?? Card(id: id, name: name, state: .ready, capacity: capacity)
            card.name = name
            card.capacity = capacity
            card.gpus = gpus.isEmpty ? nil : gpus
            card.inventory = inventory
            card.state = health.withLock { $0.state(of: id) } ?? .ready
            try await registry.putCard(card)
            record("card.joined", "\(id) (\(name)) joined with \(capacity)\(gpus.isEmpty ? "" : " and GPUs \(gpus.joined(separator: ","))")")
        case .health(let transitions):
            for t in transitions {
                logger.notice("card state changed", metadata: ["card": "\(t.card)", "from": "\(t.from.rawValue)", "to": "\(t.to.rawValue)", "phi": "\(t.phi)", "reason": "\(t.reason)"])
                record("card.\(t.to.rawValue)", t.description)
                guard var card = try await registry.card(t.card), card.state != t.to else { continue }
                card.state = t.to
                try await registry.putCard(card)
            }
        case .report(let card, let beat):
            return try await apply(report: beat, from: card)
        case .instanceExited(let exit, let card):
            try await apply(exit, from: card)
        case .started(let started):
            unanswered.withLock { _ = $0.removeValue(forKey: Self.flight(started.id, started.incarnation)) }
            inFlight.withLock { _ = $0.remove(Self.flight(started.id, started.incarnation)) }
            try await updateInstance(started.id) { r in
                guard r.instance.state == .starting, r.instance.incarnation == started.incarnation else { return false }
                r.instance.state = .running
                r.instance.pid = started.pid
                r.instance.runtime = started.runtime
                r.instance.containerID = started.containerID
                return true
            }
            record("instance.started", "\(started.id) running as pid \(started.pid) (\(started.runtime), container \(started.containerID))", tenant: InstanceRecord.tenant(ofInstance: started.id))
        case .startFailed(let id, let incarnation, let message):
            inFlight.withLock { _ = $0.remove(Self.flight(id, incarnation)) }
            record("instance.failed", "\(id) could not start: \(message)", tenant: InstanceRecord.tenant(ofInstance: id))
            try await updateInstance(id) { r in
                guard r.instance.state == .starting, r.instance.incarnation == incarnation else { return false }
                r.instance.state = .exited
                r.instance.exitCode = -1
                r.instance.exitReason = "could not start: \(message.prefix(300))"
                r.exitedAt = Self.wallClock()
                return true
            }
        case .startUnanswered(let id, let incarnation, let card, let message):
            let key = Self.flight(id, incarnation)
            inFlight.withLock { _ = $0.remove(key) }
            let attempts = unanswered.withLock { counts in
                counts[key, default: 0] += 1
                if counts.count > 10_000 { counts.removeAll() }  // bounded: a stale entry only shortens a later count
                return counts[key]!
            }
            guard attempts >= Self.maximumUnansweredStarts else {
                record("instance.start-unanswered", "\(id) (incarnation \(incarnation)): \(card) did not answer the start (\(message.prefix(200))); it stays there until the card answers or its lease lapses", tenant: InstanceRecord.tenant(ofInstance: id))
                break
            }
            unanswered.withLock { _ = $0.removeValue(forKey: key) }
            record("instance.start-unanswered", "\(id) (incarnation \(incarnation)): \(card) answered none of \(attempts) starts (\(message.prefix(200))); stopping it there, to place it again", tenant: InstanceRecord.tenant(ofInstance: id))
            // Stopping, not exited: a stop the card confirms (or its lease lapsing) proves no
            // copy runs there before the instance is placed anywhere else.
            try await updateInstance(id) { r in
                guard r.instance.state == .starting, r.instance.incarnation == incarnation, r.instance.card == card else { return false }
                r.instance.state = .stopping
                r.instance.exitReason = "its card answered none of \(attempts) starts"
                return true
            }
        case .allocate:
            return try await allocate()
        case .resized(let resize, let incarnation, let outcome):
            try await finishResize(resize, incarnation: incarnation, outcome: outcome)
        case .stopped(let id, let incarnation):
            inFlight.withLock { _ = $0.remove(Self.flight(id, incarnation)) }
            try await updateInstance(id) { r in
                guard r.instance.state == .stopping, r.instance.incarnation == incarnation else { return false }
                r.instance.state = .stopped
                return true
            }
        }
        return []
    }

    /// An instance ended on a card: applied once, and only to the incarnation that ended there.
    private func apply(_ exit: CardProtocol.InstanceExited, from card: CardID) async throws {
        var applied = false
        try await updateInstance(exit.id) { r in
            guard Adoption.applies(exit, from: card, to: r.instance) else { return false }
            r.instance.state = r.instance.state == .stopping ? .stopped : .exited
            r.instance.exitCode = exit.code
            r.instance.exitReason = exit.reason
            r.exitedAt = Self.wallClock()
            if exit.oomKilled { r.instance.pendingReason = nil }
            applied = true
            return true
        }
        if applied {
            record("instance.exited", "\(exit.id) (incarnation \(exit.incarnation)) on \(card): \(exit.reason)", tenant: InstanceRecord.tenant(ofInstance: exit.id))
        }
    }

    /// What a card reports it runs: recorded exits, then adoption (see ``Adoption``).
    private func apply(report beat: CardProtocol.Heartbeat, from card: CardID) async throws -> [Action] {
        for exit in beat.exited { try await apply(exit, from: card) }
        let instances = try await registry.read().snapshot.instances.map(\.instance)
        let decision = Adoption.decide(card: card, report: beat.running, initial: beat.sequence == 0, instances: instances, inFlight: Set(inFlight.withLock { $0 }.map { String($0[..<($0.lastIndex(of: ".") ?? $0.endIndex)]) }))
        for running in decision.adopt {
            try await updateInstance(running.id) { r in
                guard r.instance.card == card, r.instance.incarnation == running.incarnation, [.starting, .running].contains(r.instance.state) else { return false }
                r.instance.state = .running
                r.instance.pid = running.pid
                r.instance.containerID = running.containerID
                return true
            }
            record("instance.adopted", "\(running.id) (incarnation \(running.incarnation)) adopted on \(card): still running as pid \(running.pid)", tenant: InstanceRecord.tenant(ofInstance: running.id))
        }
        // Readiness verdicts of the copies the records expect there.
        let byID = Dictionary(instances.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for running in beat.running {
            guard let expected = byID[running.id], expected.card == card, expected.incarnation == running.incarnation, expected.ready != running.ready,
                  [.starting, .running].contains(expected.state) else { continue }
            try await updateInstance(running.id) { r in
                guard r.instance.card == card, r.instance.incarnation == running.incarnation, r.instance.ready != running.ready else { return false }
                r.instance.ready = running.ready
                return true
            }
            if let ready = running.ready { record("instance.\(ready ? "ready" : "unready")", "\(running.id) on \(card) is \(ready ? "ready" : "not ready") (readiness probe)", tenant: InstanceRecord.tenant(ofInstance: running.id)) }
        }
        for id in decision.missing {
            try await updateInstance(id) { r in
                guard r.instance.card == card, r.instance.state == .running else { return false }
                r.instance.state = .exited
                r.instance.exitCode = -1
                r.instance.exitReason = "not running on its card when the card linked again"
                r.exitedAt = Self.wallClock()
                return true
            }
            record("instance.exited", "\(id) was not running on \(card) when it linked again", tenant: InstanceRecord.tenant(ofInstance: id))
        }
        for id in decision.stopped {
            try await updateInstance(id) { r in
                guard r.instance.card == card, r.instance.state == .stopping else { return false }
                r.instance.state = .stopped
                return true
            }
        }
        for stray in decision.stop {
            record("instance.stray", "\(card) runs \(stray.containerID) (pid \(stray.pid)) that the BMC did not ask for there: stopping it")
        }
        return decision.stop.map { .stopStray($0, card: card) }
    }

    /// Read-modify-write of one instance with compare-and-swap, retried on conflict.
    func updateInstance(_ id: String, _ change: (inout InstanceRecord) -> Bool) async throws {
        for _ in 0..<10 {
            guard var r = try await registry.instance(id) else { return }
            guard change(&r) else { return }
            if try await registry.updateInstance(r) { return }
        }
    }

    private func reconcile(tasks: inout ThrowingDiscardingTaskGroup<any Error>) async throws {
        var state = try await registry.read()
        for _ in 0..<5 {
            let changes = await time(Metric.reconcile) { reconciler.reconcile(state.snapshot, now: Self.wallClock()) }
            if changes.isEmpty { break }
            let committed = try await time(Metric.commit) { try await registry.apply(changes, readAt: state) }
            if !committed { planConflicted() }  // stale: read again, re-plan
            state = try await registry.read()
        }
        recordStateMetrics(state.snapshot)
        do {
            try await shards.sync(state.snapshot)
        } catch {
            logger.error("shard maps not synchronised; will retry", metadata: ["error": "\(error)"])
        }
        let linked = Set(node.connectedPeers)
        let sharded = Set(state.snapshot.workloads.filter { $0.shards != nil }.map(\.key))
        let envs = Dictionary(state.snapshot.workloads.map { ($0.key, $0.env) }, uniquingKeysWith: { first, _ in first })
        for r in state.snapshot.instances {
            guard let card = r.instance.card, linked.contains(card) else { continue }
            switch r.instance.state {
            case .starting where claim(Self.flight(r.instance.id, r.instance.incarnation)):
                guard let env = envs[r.workloadKey] else {
                    // Its workload is gone (it will be stopped): nothing to start.
                    inFlight.withLock { _ = $0.remove(Self.flight(r.instance.id, r.instance.incarnation)) }
                    continue
                }
                if let gpu = r.instance.gpu {
                    record("instance.gpu", "\(r.instance.id): \(gpu) reserved on \(card) (devices \(r.instance.gpuDevices ?? [])) by accounting only: CardOS does not yet pass GPU devices into containers")
                }
                var command = CardProtocol.StartInstance(id: r.instance.id, incarnation: r.instance.incarnation, image: r.image, command: r.command, env: env, resources: r.instance.requested, workload: r.workloadKey)
                command.liveness = r.liveness
                command.readiness = r.readiness
                if sharded.contains(r.workloadKey) { command.sharded = true }
                tasks.addTask { await self.sendStart(command, to: card) }
            case .stopping where claim(Self.flight(r.instance.id, r.instance.incarnation)):
                let id = r.instance.id
                let incarnation = r.instance.incarnation
                tasks.addTask { await self.sendStop(id, incarnation: incarnation, to: card, confirm: true) }
            default:
                break
            }
        }
    }

    private func claim(_ id: String) -> Bool { inFlight.withLock { $0.insert(id).inserted } }

    private func sendStart(_ command: CardProtocol.StartInstance, to card: CardID) async {
        do {
            let body = ByteBuffer(bytes: try JSONEncoder().encode(command))
            let reply = try await node.command(to: card, name: CardProtocol.startInstance, body: body, timeout: .seconds(30))
            sink.yield(.started(try JSONDecoder().decode(CardProtocol.StartedInstance.self, from: Data(reply.readableBytesView))))
        } catch let error as DCLError where error.status == .handlerFailed || error.status == .noSuchEndpoint {
            // The card answered: it did not start it.
            sink.yield(.startFailed(id: command.id, incarnation: command.incarnation, message: "\(error)"))
        } catch let error as DecodingError {
            sink.yield(.startFailed(id: command.id, incarnation: command.incarnation, message: "the card's answer does not decode: \(error)"))
        } catch {
            // No answer: the card may have started it (its link closed, or it is slow). Taking
            // that as a failure and placing the instance elsewhere ran two copies (a fault test
            // caught it once failed requests stopped waiting for their timeout). It stays
            // `starting` on the card: the start is sent again while the card is linked (a card
            // starts one incarnation once), its report adopts it, and if the card is lost its
            // lease lapses, the shim fences it, and only then is it placed elsewhere.
            sink.yield(.startUnanswered(id: command.id, incarnation: command.incarnation, card: card, message: "\(error)"))
        }
    }

    /// Tells a card to stop one incarnation of an instance; `confirm` reports it to the loop
    /// (for instances the records say are stopping).
    private func sendStop(_ id: String, incarnation: UInt64, to card: CardID, confirm: Bool) async {
        do {
            let body = ByteBuffer(bytes: try JSONEncoder().encode(CardProtocol.StopInstance(id: id, incarnation: incarnation, graceMilliseconds: configuration.stopGrace.milliseconds)))
            _ = try await node.command(to: card, name: CardProtocol.stopInstance, body: body, timeout: configuration.stopGrace + .seconds(15))
            if confirm { sink.yield(.stopped(id: id, incarnation: incarnation)) }
        } catch {
            // The card failed or is gone: the stop is sent again on the next tick while the card
            // is linked; once its lease lapses the copy is fenced anyway.
            logger.warning("stop not confirmed", metadata: ["instance": "\(id)", "card": "\(card)", "error": "\(error)"])
            if confirm { inFlight.withLock { _ = $0.remove(Self.flight(id, incarnation)) } }
        }
    }
}

/// A value behind a lock that closures can share (a `Mutex` itself cannot be captured).
final class LockedBox<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R { try mutex.withLock { try body(&$0) } }
}

/// Something that happened on the bus (for `backplane events`).
public struct BusEvent: Codable, Hashable, Sendable {
    /// Wall-clock nanoseconds since 1970.
    public var time: Instant
    public var kind: String
    public var message: String
    /// The tenant whose workload or instance it concerns; nil for the bus's own (cards): those
    /// only a bus-admin reads.
    public var tenant: String?
}
