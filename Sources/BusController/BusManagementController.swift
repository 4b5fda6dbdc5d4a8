import BackplaneModel
import ClusterStore
import DirectCardLinkNIO
import Foundation
import NIOCore
import Synchronization
import WorkloadBalancer

/// The Bus Management Controller: admits cards over DCL (assigning CardIDs it persists), keeps
/// their state (ready while linked, lost when the link dies), reconciles workloads into
/// instances, and tells cards to start and stop them.
///
/// Everything that changes the bus goes through one loop (``run()``): link events, instance
/// exits and command results arrive as ``Event``s and are applied in order; after each batch the
/// reconciler plans and the plan applier commits with compare-and-swap; then commands go out.
public final class BusManagementController: Sendable {
    public struct Configuration: Sendable {
        public var listen: DCLAddress
        public var token: String
        public var reconcileInterval: Duration = .seconds(1)
        public var heartbeatInterval: Duration = .seconds(1)
        public var deadAfter: Duration = .seconds(5)
        public var stopGrace: Duration = .seconds(5)
        /// How often usage history (1-minute means) is written to the store.
        public var persistMetricsInterval: Duration = .seconds(300)
        /// Store revisions kept for watchers; older history is compacted (etcd's
        /// `--auto-compaction-mode=revision`).
        public var keepRevisions: Int64 = 10_000
        public init(listen: DCLAddress, token: String) {
            self.listen = listen
            self.token = token
        }
    }

    enum Event: Sendable {
        case tick
        case cardJoined(CardID, name: String, capacity: Resources, inventory: Inventory?, gpus: [String])
        case cardLeft(CardID)
        case instanceExited(CardProtocol.InstanceExited, card: CardID)
        case started(CardProtocol.StartedInstance)
        case startFailed(id: String, message: String)
        case stopped(id: String)
    }

    public let configuration: Configuration
    public let registry: Registry
    public let node: DCLNode
    /// Usage of instances and workloads, and their forecasts.
    public let monitor: Monitor
    let reconciler: Reconciler
    private let events: AsyncStream<Event>
    private let sink: AsyncStream<Event>.Continuation
    /// Instance ids with a start or stop command on its way.
    private let inFlight = Mutex<Set<String>>([])
    /// Hello metadata between admission and the link's establishment.
    /// Recent things that happened on the bus, newest last (at most 1,000).
    let recentEvents = LockedBox<[BusEvent]>([])
    private let joining = LockedBox<[CardID: (name: String, capacity: Resources, inventory: Inventory?, gpus: [String])]>([:])
    private let bound = Mutex<(address: DCLAddress?, waiters: [CheckedContinuation<DCLAddress, Never>])>((nil, []))

    public init(configuration: Configuration, store: any ClusterStore, group: any EventLoopGroup, reconciler: Reconciler = Reconciler(), monitor: Monitor = Monitor()) {
        self.configuration = configuration
        self.monitor = monitor
        self.registry = Registry(store: store)
        self.reconciler = reconciler
        (events, sink) = AsyncStream.makeStream()
        var config = DCLNode.Configuration(cardID: .bmc, role: .controller)
        config.heartbeatInterval = configuration.heartbeatInterval
        config.deadAfter = configuration.deadAfter
        let registry = self.registry
        let token = configuration.token
        let joining = self.joining
        config.admission = Admission { hello in
            guard hello.token == token else { return .reject(.unauthorized, reason: "join token rejected") }
            guard hello.role == .card else { return .accept(hello.cardID == .unassigned ? CardID(UInt64.random(in: 1 << 62...UInt64.max - 1)) : hello.cardID) }
            let capacity = hello.metadata[CardProtocol.capacityKey].flatMap { try? JSONDecoder().decode(Resources.self, from: Data($0.utf8)) }
            guard let capacity else { return .reject(.protocolError, reason: "hello is missing the card's capacity") }
            let id: CardID
            do {
                id = hello.cardID == .unassigned || hello.cardID.isReserved ? try await registry.assignCardID() : hello.cardID
            } catch {
                return .reject(.shuttingDown, reason: "cannot assign a CardID: \(error)")
            }
            let inventory = hello.metadata[CardProtocol.inventoryKey].flatMap { try? JSONDecoder().decode(Inventory.self, from: Data($0.utf8)) }
            let gpus = hello.metadata[CardProtocol.gpusKey].map { $0.split(separator: ",").map(String.init) } ?? []
            joining.withLock { $0[id] = (hello.metadata[CardProtocol.nameKey] ?? "\(id)", capacity, inventory, gpus) }
            return .accept(id)
        }
        let sink = self.sink
        config.linkEvents = { event in
            switch event {
            case .established(let peer, let role) where role == .card:
                if let info = joining.withLock({ $0.removeValue(forKey: peer) }) {
                    sink.yield(.cardJoined(peer, name: info.name, capacity: info.capacity, inventory: info.inventory, gpus: info.gpus))
                }
            case .closed(let peer, _):
                sink.yield(.cardLeft(peer))
            default:
                break
            }
        }
        node = DCLNode(configuration: config, group: group)
        node.onMessage(CardProtocol.instanceExited) { d in
            if let exit = try? JSONDecoder().decode(CardProtocol.InstanceExited.self, from: Data(d.body.readableBytesView)) {
                sink.yield(.instanceExited(exit, card: d.source))
            }
        }
        node.onMessage(CardProtocol.telemetry) { d in
            if let batch = try? JSONDecoder().decode(CardProtocol.TelemetryBatch.self, from: Data(d.body.readableBytesView)) {
                monitor.ingest(batch.points, from: d.source)
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

    /// Listens for cards and runs the control loop until cancelled.
    public func run() async throws {
        // Every card in the store is lost until it links again.
        for card in try await registry.read().snapshot.cards where card.state == .ready || card.state == .joining {
            var lost = card
            lost.state = .lost
            try await registry.putCard(lost)
        }
        try await restoreMetrics()
        let address = try await node.listen(on: configuration.listen)
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
            defer { tasks.cancelAll() }
            for await event in events {
                try await handle(event)
                try await reconcile(tasks: &tasks)
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
                try? await persistMetrics()
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
            guard let record = try? JSONDecoder().decode(Monitor.Persisted.self, from: Data(kv.value)) else { continue }
            monitor.restore(workload: String(kv.key.dropFirst("/metrics/".count)), record)
        }
    }

    static func wallClock() -> Instant {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Instant(nanoseconds: UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec))
    }

    func record(_ kind: String, _ message: String) {
        recentEvents.withLock { events in
            events.append(BusEvent(time: Self.wallClock(), kind: kind, message: message))
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

    private func handle(_ event: Event) async throws {
        switch event {
        case .tick:
            break
        case .cardJoined(let id, let name, let capacity, let inventory, let gpus):
            var card = try await registry.card(id) ?? Card(id: id, name: name, state: .ready, capacity: capacity)
            card.name = name
            card.capacity = capacity
            card.gpus = gpus.isEmpty ? nil : gpus
            card.inventory = inventory
            if card.state != .draining { card.state = .ready }
            try await registry.putCard(card)
            record("card.joined", "\(id) (\(name)) joined with \(capacity)\(gpus.isEmpty ? "" : " and GPUs \(gpus.joined(separator: ","))")")
        case .cardLeft(let id):
            if var card = try await registry.card(id), card.state != .removed {
                // A drained card that goes away is removed; any other is lost (and may return).
                card.state = card.state == .draining ? .removed : .lost
                try await registry.putCard(card)
                record(card.state == .removed ? "card.removed" : "card.lost", "\(id) (\(card.name)) \(card.state == .removed ? "left after draining" : "lost its link")")
            }
        case .instanceExited(let exit, let card):
            record("instance.exited", "\(exit.id) exited with \(exit.code)\(exit.oomKilled ? " (OOM-killed: memory limit reached)" : "") on \(card)")
            try await updateInstance(exit.id) { r in
                guard r.instance.card == card else { return false }
                r.instance.state = r.instance.state == .stopping ? .stopped : .exited
                r.instance.exitCode = exit.code
                r.exitedAt = Self.wallClock()
                if exit.oomKilled { r.instance.pendingReason = nil }
                return true
            }
        case .started(let started):
            inFlight.withLock { _ = $0.remove(started.id) }
            record("instance.started", "\(started.id) running as pid \(started.pid) (\(started.runtime))")
            try await updateInstance(started.id) { r in
                guard r.instance.state == .starting else { return false }
                r.instance.state = .running
                r.instance.pid = started.pid
                r.instance.runtime = started.runtime
                r.instance.containerID = started.containerID
                return true
            }
        case .startFailed(let id, let message):
            inFlight.withLock { _ = $0.remove(id) }
            record("instance.failed", "\(id) could not start: \(message)")
            try await updateInstance(id) { r in
                guard r.instance.state == .starting else { return false }
                r.instance.state = .exited
                r.instance.exitCode = -1
                r.exitedAt = Self.wallClock()
                return true
            }
        case .stopped(let id):
            inFlight.withLock { _ = $0.remove(id) }
            try await updateInstance(id) { r in
                guard r.instance.state == .stopping else { return false }
                r.instance.state = .stopped
                return true
            }
        }
    }

    /// Read-modify-write of one instance with compare-and-swap, retried on conflict.
    private func updateInstance(_ id: String, _ change: (inout InstanceRecord) -> Bool) async throws {
        for _ in 0..<10 {
            guard var r = try await registry.instance(id) else { return }
            guard change(&r) else { return }
            if try await registry.updateInstance(r) { return }
        }
    }

    private func reconcile(tasks: inout ThrowingDiscardingTaskGroup<any Error>) async throws {
        var state = try await registry.read()
        for _ in 0..<5 {
            let changes = reconciler.reconcile(state.snapshot, now: Self.wallClock())
            if changes.isEmpty { break }
            _ = try await registry.apply(changes, readAt: state)  // stale: read again, re-plan
            state = try await registry.read()
        }
        let linked = Set(node.connectedPeers)
        for r in state.snapshot.instances {
            guard let card = r.instance.card, linked.contains(card) else { continue }
            switch r.instance.state {
            case .starting where claim(r.instance.id):
                if let gpu = r.instance.gpu {
                    record("instance.gpu", "\(r.instance.id): \(gpu) reserved on \(card) (devices \(r.instance.gpuDevices ?? [])) by accounting only: CardOS does not yet pass GPU devices into containers")
                }
                let command = CardProtocol.StartInstance(id: r.instance.id, image: r.image, command: r.command, env: r.env, resources: r.instance.requested, workload: r.workloadKey)
                tasks.addTask { await self.sendStart(command, to: card) }
            case .stopping where claim(r.instance.id):
                let id = r.instance.id
                tasks.addTask { await self.sendStop(id, to: card) }
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
        } catch {
            sink.yield(.startFailed(id: command.id, message: "\(error)"))
        }
    }

    private func sendStop(_ id: String, to card: CardID) async {
        do {
            let body = ByteBuffer(bytes: try JSONEncoder().encode(CardProtocol.StopInstance(id: id, graceMilliseconds: configuration.stopGrace.milliseconds)))
            _ = try await node.command(to: card, name: CardProtocol.stopInstance, body: body, timeout: configuration.stopGrace + .seconds(10))
        } catch {
            // The card is gone or failed: it will be marked lost, or the stop is retried.
        }
        sink.yield(.stopped(id: id))
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
}
