import BackplaneModel
import BusSecurity
import Crypto
import DirectCardLink
import DirectCardLinkNIO
import Foundation
import Logging
import NIOCore
import ShardSDK
import Sharding
import Synchronization

/// CardOS's shard host (ARCHITECTURE.md, "Sharding and migration"; docs/shard-sdk.md).
///
/// - Apps of sharded instances link to it over a Unix socket the card gives their containers
///   (DCL framing); a per-instance token, in the instance's environment, says which instance an
///   app is.
/// - It delivers shard-routed requests (``ShardProtocol/request``) to the app of the instance
///   that owns the key's shard, counting requests per shard. A request for a shard this card no
///   longer owns (an older epoch routed it here) is passed on through the BMC; a request for a
///   fenced shard (being cut over) is held until the cut-over ends, not failed.
/// - It runs its side of every migration step the BMC's Migration Engine sends.
public final class ShardHost: Sendable {
    /// One shard of a workload as this card sees it.
    struct ShardState {
        /// Requests are held (a cut-over is under way).
        var fenced = false
        /// Requests inside the app now (the fence waits for them).
        var inFlight = 0
        var requests: UInt64 = 0
        /// Source side: the snapshot region, and the card allowed to fetch changes.
        var region: UInt32?
        var target: CardID?
        /// The source instance whose changes the target may fetch.
        var source: String?
        /// Target side: a prepared copy that is not (yet) owned, and the source sequence it holds.
        var incoming: String?
        var applied: UInt64 = 0
        /// When the BMC sent the step that fenced it or made the copy (``ShardProtocol/Step/issued``).
        var issued: UInt64 = 0
        /// The range a migration step named (source: at the snapshot; target: at prepare), for
        /// the calls that clean up after it.
        var range: ShardRange?
    }

    struct WorkloadState {
        var assignment: ShardProtocol.Assignment
        var table: ShardTable.Entry
        var shards: [UInt32: ShardState] = [:]
    }

    struct State {
        /// Instance → the app's link (its CardID on the local node).
        var apps: [String: CardID] = [:]
        var workloads: [String: WorkloadState] = [:]
        var nextRegion: UInt32 = 1
        /// Resumed whenever anything above changes (a map, a fence, an app link).
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
        var nextAppID: UInt64 = CardID.firstAssignable.rawValue
    }

    /// The directory holding the socket (mounted into containers; nothing else is in it).
    public let directory: String
    /// Instance tokens are HMAC-SHA256(secret, instance id): they survive a restart of the card
    /// agent, whose adopted instances keep the environment they were started with.
    private let secret: SymmetricKey
    public var socketPath: String { directory + "/shard.sock" }
    /// Where containers see the socket's directory (runc); process instances use ``directory``.
    public static let containerDirectory = "/tmp/.backplane-shard"
    let group: any EventLoopGroup
    let logger: Logger
    private let state = Mutex(State())
    private let local = Mutex<DCLNode?>(nil)
    private let bmc = Mutex<DCLNode?>(nil)
    /// How long a request waits for a held shard, an app link or a newer map.
    let holdLimit: Duration

    /// `stateDirectory`: the card's; the socket goes in `shard-socket/` below it, the secret
    /// tokens are made from in `shard-secret` (0600, made on first use).
    public init(stateDirectory: String, group: any EventLoopGroup, holdLimit: Duration = .seconds(10), logger: Logger = Logger(label: "backplane.shards")) throws {
        self.directory = stateDirectory + "/shard-socket"
        let secretPath = stateDirectory + "/shard-secret"
        if let data = FileManager.default.contents(atPath: secretPath), data.count == 32 {
            secret = SymmetricKey(data: data)
        } else {
            let key = SymmetricKey(size: .bits256)
            try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
            try SecureFiles.write(key.withUnsafeBytes { Data($0) }, to: secretPath)
            secret = key
        }
        self.group = group
        self.holdLimit = holdLimit
        self.logger = logger
    }

    // MARK: Apps

    /// Listens for apps. Call once before sharded instances start.
    public func start() async throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        chmod(directory, 0o755)
        var config = DCLNode.Configuration(cardID: .firstAssignable, role: .controller)
        config.newestLinkWins = true
        config.deadAfter = .seconds(5)
        config.acceptsForwardedFrames = false
        config.admission = Admission { [weak self] hello in
            self?.admit(hello) ?? .reject(.shuttingDown, reason: "the shard host stopped")
        }
        config.linkEvents = { [weak self] _ in self?.changed() }
        let node = DCLNode(configuration: config, group: group)
        try await node.listen(on: .unix(path: socketPath))
        chmod(socketPath, 0o666)  // any container's root may connect; the token says who it is
        local.withLock { $0 = node }
    }

    /// An app links: its token must be its instance's.
    private func admit(_ hello: Hello) -> AdmissionDecision {
        guard let instance = hello.metadata[ShardAppWire.instanceKey], ContainerID.isValidInstanceID(instance),
              Self.sameToken(hello.token, Self.token(for: instance, secret: secret)) else {
            return .reject(.unauthorized, reason: "shard token rejected: an app links with the token its instance was given")
        }
        return state.withLock { s in
            let id = s.apps[instance] ?? CardID(s.nextAppID + 1)
            if s.apps[instance] == nil { s.nextAppID += 1 }
            s.apps[instance] = id
            return .accept(id)
        }
    }

    public func shutdown() async {
        await local.withLock { $0 }?.shutdown()
        state.withLock { s in
            for (_, w) in s.waiters { w.resume() }
            s.waiters = [:]
        }
    }

    /// What a sharded instance's container needs: environment variables naming the socket (as
    /// the container sees it), its token and its instance id. `inContainer`: runc (the socket's
    /// directory is mounted at ``containerDirectory``); else the host path.
    public func register(instance: String, inContainer: Bool) -> [String: String] {
        let token = Self.token(for: instance, secret: secret)
        let socket = inContainer ? Self.containerDirectory + "/shard.sock" : socketPath
        return [ShardAppWire.socketVariable: socket, ShardAppWire.tokenVariable: token, ShardAppWire.instanceVariable: instance]
    }

    /// The instance ended: its app's link closes.
    public func unregister(instance: String) {
        let app = state.withLock { $0.apps.removeValue(forKey: instance) }
        if let app { local.withLock { $0 }?.disconnect(app, status: .normalClose, reason: "instance \(instance) ended") }
        changed()
    }

    static func token(for instance: String, secret: SymmetricKey) -> String {
        Data(HMAC<SHA256>.authenticationCode(for: Data(instance.utf8), using: secret)).map { String(format: "%02x", $0) }.joined()
    }

    /// Compares without an early exit.
    static func sameToken(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    // MARK: Waiting

    /// Wakes every waiter (something they wait for may have happened).
    private func changed() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for w in waiters { w.resume() }
    }

    /// Waits until `ready` holds (checked under the lock at each change) or `limit` passes.
    private func wait(upTo limit: Duration, until ready: (inout State) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while true {
            if state.withLock({ ready(&$0) }) { return true }
            if ContinuousClock.now >= deadline || Task.isCancelled { return false }
            // Woken by a change, or by the deadline's timer.
            let id = state.withLock { s -> UInt64 in
                s.nextWaiter += 1
                return s.nextWaiter
            }
            let timer = group.next().scheduleTask(deadline: .now() + .nanoseconds(max(0, (deadline - ContinuousClock.now).nanoseconds))) { [weak self] in
                self?.wake(id)
            }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if ready(&s) { return true }
                    s.waiters[id] = c
                    return false
                }
                if resumeNow { c.resume() }
            }
            timer.cancel()
        }
    }

    private func wake(_ id: UInt64) {
        state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
    }

    // MARK: The BMC's link

    /// Serves shard requests and migration steps on a new link to the BMC.
    public func attach(to node: DCLNode) {
        bmc.withLock { $0 = node }
        node.onRequest(ShardProtocol.request, async: { [self] d in try await serveRouted(d) })
        node.onRequest(ShardProtocol.map, async: { [self] d in
            try CardAgent.fromBMC(d)
            try applyMap(try decode(ShardProtocol.Assignment.self, d.body))
            return ByteBuffer()
        })
        node.onRequest(ShardProtocol.prepare, async: { [self] d in
            try CardAgent.fromBMC(d)
            let step = try decode(ShardProtocol.Step.self, d.body)
            let owner = state.withLock { $0.workloads[step.workload]?.assignment.ranges.first { $0.shard == step.shard }?.owner }
            guard owner != step.instance else { throw DCLError(.protocolError, "\(step.instance) owns shard \(step.shard) of \(step.workload): it cannot be a migration's target (prepare would empty it)") }
            let range = try range(of: step)
            _ = try await callApp(step.instance, ShardAppWire.prepare, ShardAppWire.rangeBody(range))
            try update(step) { s in
                s.incoming = step.instance
                s.applied = 0
                s.issued = step.issued ?? 0
                s.range = range
            }
            return ByteBuffer()
        })
        node.onRequest(ShardProtocol.snapshot, async: { [self] d in
            try CardAgent.fromBMC(d)
            guard let node = self.bmc.withLock({ $0 }) else { throw DCLError(.shuttingDown, "no link to the BMC") }
            return try await encode(snapshot(try decode(ShardProtocol.Step.self, d.body), node: node))
        })
        node.onRequest(ShardProtocol.pull, async: { [self] d in
            try CardAgent.fromBMC(d)
            guard let node = self.bmc.withLock({ $0 }) else { throw DCLError(.shuttingDown, "no link to the BMC") }
            return try await encode(pull(try decode(ShardProtocol.Pull.self, d.body), node: node))
        })
        node.onRequest(ShardProtocol.catchUp, async: { [self] d in
            try CardAgent.fromBMC(d)
            guard let node = self.bmc.withLock({ $0 }) else { throw DCLError(.shuttingDown, "no link to the BMC") }
            return try await encode(catchUp(try decode(ShardProtocol.Step.self, d.body), node: node))
        })
        node.onRequest(ShardProtocol.changes, async: { [self] d in
            // From the migration's target card (the BMC named it in the snapshot step).
            let step = try decode(ShardProtocol.Step.self, d.body)
            let shard = state.withLock { s in s.workloads[step.workload]?.shards[step.shard] }
            guard let shard, shard.target == d.source, let source = shard.source, let range = shard.range else {
                throw DCLError(.unauthorized, "\(d.source) is not the target of a migration of \(step.workload) shard \(step.shard)")
            }
            var body = ShardAppWire.rangeBody(range)
            body.writeInteger(step.since ?? 0)
            // The instance recorded at the snapshot, whatever the request names.
            return try await callApp(source, ShardAppWire.changes, body)
        })
        node.onRequest(ShardProtocol.fence, async: { [self] d in
            try CardAgent.fromBMC(d)
            return try await encode(fence(try decode(ShardProtocol.Step.self, d.body)))
        })
        node.onRequest(ShardProtocol.commit, async: { [self] d in
            try CardAgent.fromBMC(d)
            commit(try decode(ShardProtocol.Step.self, d.body))
            return ByteBuffer()
        })
        node.onRequest(ShardProtocol.abort, async: { [self] d in
            try CardAgent.fromBMC(d)
            guard let node = self.bmc.withLock({ $0 }) else { throw DCLError(.shuttingDown, "no link to the BMC") }
            try await abort(try decode(ShardProtocol.Step.self, d.body), node: node)
            return ByteBuffer()
        })
        node.onRequest(ShardProtocol.drop, async: { [self] d in
            try CardAgent.fromBMC(d)
            let step = try decode(ShardProtocol.Step.self, d.body)
            _ = try await callApp(step.instance, ShardAppWire.drop, ShardAppWire.rangeBody(try range(of: step)))
            if let node = self.bmc.withLock({ $0 }) { release(step, node: node) }
            return ByteBuffer()
        })
        node.onRequest(ShardProtocol.stats, async: { [self] d in
            try CardAgent.fromBMC(d)
            return try encode(await stats())
        })
    }

    // MARK: Requests

    enum Route {
        case serve(instance: String, shard: ShardRange)
        case hold
        case waitForMap
        case pass
    }

    /// A shard-routed request that reached this card.
    func serveRouted(_ d: Delivery) async throws -> ByteBuffer {
        guard let (workload, key, epoch) = d.shard else { throw DCLError(.protocolError, "\(ShardProtocol.request) is only for shard-routed requests") }
        guard key.readableBytes <= ShardAppWire.maximumKeyLength else {
            throw DCLError(.protocolError, "key of \(key.readableBytes) bytes: at most \(ShardAppWire.maximumKeyLength)")
        }
        let me = bmc.withLock { $0?.cardID }
        let deadline = ContinuousClock.now + holdLimit
        while true {
            let route = state.withLock { s -> Route in
                guard let w = s.workloads[workload], w.assignment.epoch >= epoch else { return .waitForMap }
                let i = w.table.index(of: KeyHash.of(key.readableBytesView))
                let shard = w.table.shards[i]
                if w.shards[shard]?.fenced == true { return .hold }
                // The table is built from the ranges in order: the same index, else a search.
                let owner = i < w.assignment.ranges.count && w.assignment.ranges[i].shard == shard ? w.assignment.ranges[i] : w.assignment.ranges.first { $0.shard == shard }
                guard let owner, owner.card == me else { return .pass }
                s.workloads[workload]!.shards[shard, default: ShardState()].inFlight += 1
                s.workloads[workload]!.shards[shard]!.requests += 1
                return .serve(instance: owner.owner, shard: ShardRange(id: shard, lower: owner.lower, upper: owner.upper))
            }
            switch route {
            case .serve(let instance, let shard):
                defer {
                    state.withLock { s in s.workloads[workload]?.shards[shard.id]?.inFlight -= 1 }
                    changed()
                }
                return try await callApp(instance, ShardAppWire.serve, ShardAppWire.serveBody(shard, key: key, request: d.body))
            case .pass:
                // Another card owns it now: through the BMC, which routes by the newest map.
                guard let node = bmc.withLock({ $0 }) else { throw DCLError(.noRoute, "no link to the BMC") }
                return try await node.request(workload: workload, shardKey: key, endpoint: ShardProtocol.request, body: d.body, via: .bmc, qos: d.qos)
            case .hold, .waitForMap:
                let remaining = deadline - ContinuousClock.now
                let ready = await wait(upTo: remaining) { s in
                    guard let w = s.workloads[workload], w.assignment.epoch >= epoch else { return false }
                    let shard = w.table.shards[w.table.index(of: KeyHash.of(key.readableBytesView))]
                    return w.shards[shard]?.fenced != true
                }
                if !ready {
                    if case .waitForMap = route {
                        throw DCLError(.noShardOwner, "\(workload): this card has no map at epoch \(epoch) after \(holdLimit)")
                    }
                    throw DCLError(.timeout, "\(workload): the key's shard stayed fenced for \(holdLimit) (a cut-over that did not finish)")
                }
            }
        }
    }

    /// Calls the app of `instance`, waiting (up to the hold limit) for it to link.
    func callApp(_ instance: String, _ endpoint: String, _ body: ByteBuffer, timeout: Duration? = nil) async throws -> ByteBuffer {
        var app = state.withLock { $0.apps[instance] }
        if app == nil {
            _ = await wait(upTo: holdLimit) { $0.apps[instance] != nil }
            app = state.withLock { $0.apps[instance] }
        }
        guard let app, let node = local.withLock({ $0 }) else {
            throw DCLError(.noShardOwner, "the app of instance \(instance) has not linked to this card's shard host")
        }
        return try await node.request(to: app, endpoint: endpoint, body: body, timeout: timeout ?? .seconds(30))
    }

    // MARK: Maps

    func applyMap(_ a: ShardProtocol.Assignment) throws {
        guard let entry = ShardTable.Entry(epoch: a.epoch, ranges: a.ranges.map { ($0.lower, $0.shard, $0.card ?? .unassigned) }) else {
            throw DCLError(.protocolError, "shard map of \(a.workload) at epoch \(a.epoch): its ranges do not start at 0 or overlap")
        }
        var stale: [(instance: String, shard: ShardRange)] = []
        var released: [(instance: String, shard: ShardRange, region: UInt32?)] = []
        state.withLock { s in
            // Older maps, and the same epoch issued earlier (pushes may arrive out of order), lose.
            if let current = s.workloads[a.workload], current.assignment.epoch > a.epoch || (current.assignment.epoch == a.epoch && current.assignment.issued > a.issued) { return }
            var w = s.workloads[a.workload] ?? WorkloadState(assignment: a, table: entry)
            w.assignment = a
            w.table = entry
            for (id, shard) in w.shards {
                let owner = a.ranges.first { $0.shard == id }?.owner
                // A copy whose instance the map now names owner is the shard itself.
                if let incoming = shard.incoming, incoming == owner { w.shards[id]!.incoming = nil }
                // What an interrupted migration left (the BMC restarted, a step was lost):
                // fences lift, copies go, the source's snapshot and change log are released.
                guard !a.migrating.contains(id), a.issued > shard.issued else { continue }
                if shard.fenced { w.shards[id]!.fenced = false }
                if let incoming = shard.incoming, incoming != owner {
                    if let range = shard.range { stale.append((incoming, range)) }
                    w.shards[id]!.incoming = nil
                }
                if shard.region != nil || shard.target != nil, let source = shard.source ?? owner {
                    if let range = shard.range {
                        released.append((source, range, shard.region))
                    } else if let region = shard.region {
                        _ = bmc.withLock({ $0 })?.regions.deregister(region)
                    }
                    w.shards[id]!.region = nil
                    w.shards[id]!.target = nil
                    w.shards[id]!.source = nil
                }
            }
            s.workloads[a.workload] = w
        }
        changed()
        // Best effort, in the background: the map no longer routes to what is cleaned up.
        for (instance, shard) in stale {
            logger.info("dropping the copy of an abandoned migration", metadata: ["workload": "\(a.workload)", "shard": "\(shard.id)"])
            Task { [self] in _ = try? await callApp(instance, ShardAppWire.drop, ShardAppWire.rangeBody(shard)) }
        }
        for (instance, shard, region) in released {
            if let region { _ = bmc.withLock({ $0 })?.regions.deregister(region) }
            Task { [self] in _ = try? await callApp(instance, ShardAppWire.release, ShardAppWire.rangeBody(shard)) }
        }
    }

    /// Changes one shard's state. Throws when this card has no map of the workload yet.
    private func update(_ step: ShardProtocol.Step, _ change: (inout ShardState) -> Void) throws(DCLError) {
        let known = state.withLock { s -> Bool in
            guard s.workloads[step.workload] != nil else { return false }
            change(&s.workloads[step.workload]!.shards[step.shard, default: ShardState()])
            return true
        }
        changed()
        guard known else { throw DCLError(.noShardOwner, "this card has no map of \(step.workload) yet") }
    }

    /// The range a step is about: the one the BMC named, else this card's map's.
    func range(of step: ShardProtocol.Step) throws(DCLError) -> ShardRange {
        if let lower = step.lower, let upper = step.upper {
            guard lower <= upper else { throw DCLError(.protocolError, "step of \(step.workload) shard \(step.shard): lower \(lower) is above upper \(upper)") }
            return ShardRange(id: step.shard, lower: lower, upper: upper)
        }
        let r = state.withLock { $0.workloads[step.workload]?.assignment.ranges.first { $0.shard == step.shard } }
        guard let r else { throw DCLError(.noShardOwner, "this card's map of \(step.workload) has no shard \(step.shard)") }
        return ShardRange(id: step.shard, lower: r.lower, upper: r.upper)
    }

    // MARK: Migration steps

    func snapshot(_ step: ShardProtocol.Step, node: DCLNode) async throws -> ShardProtocol.Snapshot {
        guard let target = step.peer else { throw DCLError(.protocolError, "snapshot: the step names no target card") }
        let range = try range(of: step)
        let reply = try await callApp(step.instance, ShardAppWire.snapshot, ShardAppWire.rangeBody(range), timeout: .seconds(120))
        let (sequence, data) = try ShardAppWire.decodeSequenced(reply)
        let id = state.withLock { s -> UInt32 in
            defer { s.nextRegion &+= 1 }
            return s.nextRegion
        }
        let key = UInt64.random(in: 1...UInt64.max)
        node.regions.register(MemoryRegion(id: id, key: key, access: .remoteRead, contents: Array(data.readableBytesView)))
        var old: UInt32?
        try update(step) { s in
            old = s.region
            s.region = id
            s.target = target
            s.source = step.instance
            s.issued = max(s.issued, step.issued ?? 0)
            s.range = range
        }
        if let old { _ = node.regions.deregister(old) }
        return ShardProtocol.Snapshot(region: id, key: key, length: UInt64(data.readableBytes), sequence: sequence)
    }

    /// Bytes per one-sided read of a snapshot (bulk class; fragments keep heartbeats moving).
    static let pullChunk = 1 << 20

    func pull(_ p: ShardProtocol.Pull, node: DCLNode) async throws -> ShardProtocol.Progress {
        guard let source = p.step.peer else { throw DCLError(.protocolError, "pull: the step names no source card") }
        // The restore goes to the app as one DCL message: no larger snapshot can be used.
        let limit = UInt64(node.configuration.maxMessageBytes)
        guard p.snapshot.length <= limit else { throw DCLError(.messageTooLarge, "snapshot of \(p.snapshot.length) bytes: at most \(limit) (one message to the app)") }
        var data = ByteBuffer()
        data.reserveCapacity(Int(p.snapshot.length))
        var offset: UInt64 = 0
        let clock = ContinuousClock()
        let began = clock.now
        // Smaller chunks when the copy is paced, so that it flows rather than bursts.
        let chunk = p.bytesPerSecond.map { Int(min(UInt64(Self.pullChunk), max(64 << 10, $0 / 20))) } ?? Self.pullChunk
        while offset < p.snapshot.length {
            let length = Int(min(UInt64(chunk), p.snapshot.length - offset))
            var part = try await node.remoteRead(from: source, region: p.snapshot.region, key: p.snapshot.key, offset: offset, length: length, qos: .bulk, timeout: .seconds(30))
            guard part.readableBytes == length else { throw DCLError(.protocolError, "read \(part.readableBytes) bytes of \(length) at \(offset)") }
            data.writeBuffer(&part)
            offset += UInt64(length)
            if let rate = p.bytesPerSecond, rate > 0 {
                // Pacing: the bytes so far may not have taken less than bytes / rate.
                let due = Duration.nanoseconds(Int64(clamping: offset.multipliedReportingOverflow(by: 1_000_000_000).partialValue / rate))
                let ahead = due - (clock.now - began)
                if ahead > .zero { try await Task.sleep(for: ahead) }  // the copy's rate limit
            }
        }
        _ = try await callApp(p.step.instance, ShardAppWire.restore, ShardAppWire.rangeBody(try range(of: p.step), data), timeout: .seconds(120))
        try update(p.step) { $0.applied = p.snapshot.sequence }
        return ShardProtocol.Progress(sequence: p.snapshot.sequence, bytes: p.snapshot.length)
    }

    func catchUp(_ step: ShardProtocol.Step, node: DCLNode) async throws -> ShardProtocol.Progress {
        guard let source = step.peer else { throw DCLError(.protocolError, "catch-up: the step names no source card") }
        let since = state.withLock { $0.workloads[step.workload]?.shards[step.shard]?.applied } ?? 0
        // Ask the source card for the changes of its instance (the step's peer) after `since`.
        var ask = step
        ask.since = since
        ask.instance = step.peerInstance ?? step.instance
        let reply = try await node.request(to: source, endpoint: ShardProtocol.changes, body: try encode(ask), qos: .bulk, timeout: .seconds(30))
        let (sequence, changes) = try ShardAppWire.decodeSequenced(reply)
        guard sequence >= since else { throw DCLError(.protocolError, "the source answered sequence \(sequence), behind \(since)") }
        if sequence > since {
            _ = try await callApp(step.instance, ShardAppWire.apply, ShardAppWire.rangeBody(try range(of: step), changes), timeout: .seconds(60))
        }
        try update(step) { $0.applied = sequence }
        return ShardProtocol.Progress(sequence: sequence, sourceSequence: sequence, bytes: UInt64(changes.readableBytes))
    }

    func fence(_ step: ShardProtocol.Step) async throws -> ShardProtocol.Progress {
        try update(step) { s in
            s.fenced = true
            s.issued = max(s.issued, step.issued ?? 0)
        }
        let drained = await wait(upTo: holdLimit) { s in (s.workloads[step.workload]?.shards[step.shard]?.inFlight ?? 0) == 0 }
        guard drained else {
            try? update(step) { $0.fenced = false }
            throw DCLError(.timeout, "requests inside the app did not finish within \(holdLimit)")
        }
        var out = try await callApp(step.instance, ShardAppWire.sequence, ShardAppWire.rangeBody(try range(of: step)))
        guard let sequence = out.readInteger(as: UInt64.self) else { throw DCLError(.protocolError, "the app's sequence answer is not 8 bytes") }
        return ShardProtocol.Progress(sequence: sequence)
    }

    /// The commit happened: the shard's range now names the new owner; held requests go on
    /// (through the BMC) to it.
    func commit(_ step: ShardProtocol.Step) {
        state.withLock { s in
            guard var w = s.workloads[step.workload], let epoch = step.epoch, let card = step.peer, let newOwner = step.peerInstance else { return }
            if epoch > w.assignment.epoch, let i = w.assignment.ranges.firstIndex(where: { $0.shard == step.shard }) {
                w.assignment.ranges[i].owner = newOwner
                w.assignment.ranges[i].card = card
                w.assignment.epoch = epoch
                if let entry = ShardTable.Entry(epoch: epoch, ranges: w.assignment.ranges.map { ($0.lower, $0.shard, $0.card ?? .unassigned) }) { w.table = entry }
            }
            w.shards[step.shard, default: ShardState()].fenced = false
            s.workloads[step.workload] = w
        }
        changed()
    }

    func abort(_ step: ShardProtocol.Step, node: DCLNode) async throws {
        let (incoming, hadRegion, recorded) = state.withLock { s -> (String?, Bool, ShardRange?) in
            guard var shard = s.workloads[step.workload]?.shards[step.shard] else { return (nil, false, nil) }
            let owner = s.workloads[step.workload]?.assignment.ranges.first { $0.shard == step.shard }?.owner
            // Never the owner's own data (a copy that became the shard).
            let incoming = shard.incoming == owner ? nil : shard.incoming
            let hadRegion = shard.region != nil || shard.target != nil
            shard.fenced = false
            shard.incoming = nil
            shard.applied = 0
            s.workloads[step.workload]!.shards[step.shard] = shard
            return (incoming, hadRegion, shard.range)
        }
        changed()
        let range = try recorded ?? range(of: step)
        if let incoming {
            _ = try await callApp(incoming, ShardAppWire.drop, ShardAppWire.rangeBody(range))
        }
        if hadRegion {
            release(step, node: node)
            _ = try? await callApp(step.instance, ShardAppWire.release, ShardAppWire.rangeBody(range))
        }
    }

    /// Forgets the source side of a migration (its region, its target).
    private func release(_ step: ShardProtocol.Step, node: DCLNode) {
        var region: UInt32?
        try? update(step) { s in
            region = s.region
            s.region = nil
            s.target = nil
            s.source = nil
        }
        if let region { _ = node.regions.deregister(region) }
    }

    func stats() async -> ShardProtocol.Stats {
        let me = bmc.withLock { $0?.cardID }
        let (owned, apps) = state.withLock { s -> ([(workload: String, range: ShardRange, instance: String, requests: UInt64)], Set<String>) in
            var rows: [(workload: String, range: ShardRange, instance: String, requests: UInt64)] = []
            for (workload, w) in s.workloads {
                for r in w.assignment.ranges where r.card == me {
                    rows.append((workload, ShardRange(id: r.shard, lower: r.lower, upper: r.upper), r.owner, w.shards[r.shard]?.requests ?? 0))
                }
            }
            return (rows, Set(s.apps.keys))
        }
        // Each instance is asked for its own ranges, in parallel, a second each: one hung app
        // blanks only its own rows.
        let byInstance = Dictionary(grouping: owned.indices.filter { apps.contains(owned[$0].instance) }, by: { owned[$0].instance })
        let sizes = await withTaskGroup(of: [(Int, UInt64)].self) { group in
            for (instance, rows) in byInstance {
                let ranges = rows.map { owned[$0].range }
                group.addTask { [self] in
                    guard let reply = try? await callApp(instance, ShardAppWire.sizes, ShardAppWire.sizesRequest(ranges), timeout: .seconds(1)),
                          let answer = try? ShardAppWire.decodeSizesAnswer(reply, count: ranges.count) else { return [] }
                    return Array(zip(rows, answer))
                }
            }
            var sizes: [Int: UInt64] = [:]
            for await answers in group { for (row, bytes) in answers { sizes[row] = bytes } }
            return sizes
        }
        return ShardProtocol.Stats(shards: owned.indices.map { i in
            ShardProtocol.ShardStats(workload: owned[i].workload, shard: owned[i].range.id, instance: owned[i].instance, requests: owned[i].requests, bytes: sizes[i])
        })
    }

    private func decode<T: Decodable>(_ type: T.Type, _ body: ByteBuffer) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch {
            throw DCLError(.protocolError, "\(T.self) does not decode: \(error)")
        }
    }

    private func encode<T: Encodable>(_ value: T) throws -> ByteBuffer {
        ByteBuffer(bytes: try JSONEncoder().encode(value))
    }
}
