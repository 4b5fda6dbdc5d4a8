import BackplaneModel
import DirectCardLink
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// One DCL endpoint: a card, the BMC or a client. It listens and connects over TCP or Unix
/// sockets (optionally mutual TLS), and offers:
/// - `send` / `request` to named endpoints on other cards, addressed by CardID;
/// - handlers for its own endpoints (`onMessage`, `onRequest`);
/// - memory regions (`regions`) that peers read and write one-sided, without handler code;
/// - routing: frames for cards it has no link to go to the next hop in its routing table, so
///   card A reaches card C through B; shard-routed requests resolve through its shard table.
///
/// Lifetime: call ``shutdown()`` when done (it closes every link and listener). Async request
/// handlers run inside ``run()``; nodes that only use synchronous handlers need not call it.
public final class DCLNode: Sendable {
    public struct Configuration: Sendable {
        public var cardID: CardID
        public var role: PeerRole
        public var versions: ClosedRange<UInt8> = DCLVersion.supported
        public var heartbeatInterval: Duration = .seconds(1)
        public var deadAfter: Duration = .seconds(5)
        public var handshakeTimeout: Duration = .seconds(5)
        /// Per-class flow-control windows offered to peers that connect here.
        public var windows = ClassWindows()
        public var token: String = ""
        public var metadata: [String: String] = [:]
        public var maxMessageBytes: Int = 64 << 20
        public var maxFramePayload: Int = FrameDecoder.defaultMaxPayloadLength
        public var scheduler = OutboundScheduler.Configuration()
        /// Frames are gathered into writes of about this many bytes.
        public var coalesceBytes: Int = 64 << 10
        public var admission: Admission = .claimedIdentity
        public var acceptsForwardedFrames = true
        /// When a peer links again while its old link is still open (it restarted, and the old
        /// socket has not failed yet), the new link replaces the old one, which is closed.
        /// Off: the new link is refused. The BMC turns it on (a restarted card must not wait
        /// for its dead link to time out).
        public var newestLinkWins = false
        public var defaultRequestTimeout: Duration = .seconds(10)
        /// Whether a shard-routed request from `source` for `workload` may be routed here (the
        /// BMC scopes clients to their tenant's workloads). Runs on an event loop: MUST NOT block.
        public var mayRoute: (@Sendable (_ source: CardID, _ workload: String) -> Bool)?
        /// Called when a link is established or closed (hot-plug, lost peers). Runs on an
        /// event loop: MUST NOT block.
        public var linkEvents: (@Sendable (LinkEvent) -> Void)?

        public init(cardID: CardID, role: PeerRole) {
            self.cardID = cardID
            self.role = role
        }
    }

    struct Pending {
        var continuation: CheckedContinuation<Frame, any Error>
        var deadline: NIODeadline
        var destination: CardID
        var limit: Duration
        /// A shard-routed request: the owner answers, whoever it is.
        var routed = false
    }

    struct State {
        var cardID: CardID
        var connections: [CardID: DCLConnection] = [:]
        var channels: [ObjectIdentifier: any Channel] = [:]
        var listeners: [any Channel] = []
        var routes = RoutingTable()
        var shards = ShardTable()
        var messageHandlers: [String: MessageHandler] = [:]
        var requestHandlers: [String: RequestHandlerKind] = [:]
        var pending: [UInt64: Pending] = [:]
        var remoteRegions: [CardID: [UInt32: RegionRegister]] = [:]
        var recentCloses: [(peer: CardID?, close: Close)] = []
        var shutDown = false
        /// Expires timed-out requests; one repeating task instead of a timer per request.
        var sweeper: RepeatedTask?
    }

    public let configuration: Configuration
    public let group: any EventLoopGroup
    /// Regions peers may read and write one-sided.
    public let regions = MemoryRegionTable()
    /// Frames and bytes its links carried, per QoS class.
    public let traffic = DCLTraffic()
    let state: NIOLockedValueBox<State>
    /// Starts at a random value: a peer cannot guess which numbers are pending from zero.
    private let correlations = Atomic<UInt64>(UInt64.random(in: 0...(UInt64.max >> 2)))
    /// Moves whenever a handler is registered (see ``HandlerCache``).
    let handlerGeneration = Atomic<Int>(0)
    private let jobs: AsyncStream<@Sendable () async -> Void>
    let jobSink: AsyncStream<@Sendable () async -> Void>.Continuation

    public init(configuration: Configuration, group: any EventLoopGroup) {
        self.configuration = configuration
        self.group = group
        self.state = NIOLockedValueBox(State(cardID: configuration.cardID))
        (self.jobs, self.jobSink) = AsyncStream.makeStream()
    }

    /// This node's CardID (assigned by the peer's welcome when configured as unassigned).
    public var cardID: CardID { state.withLockedValue { $0.cardID } }

    /// Cards this node has an established link to.
    public var connectedPeers: [CardID] { state.withLockedValue { Array($0.connections.keys).sorted() } }

    /// Payload bytes each open link carried since it opened (received, sent); a link that opens
    /// again starts from zero.
    public var linkBytes: [CardID: (received: Int, sent: Int)] {
        state.withLockedValue { s in
            s.connections.mapValues { ($0.bytesReceived.load(ordering: .relaxed), $0.bytesSent.load(ordering: .relaxed)) }
        }
    }

    /// The last close reasons seen (newest last), for diagnostics and tests.
    public var recentCloses: [(peer: CardID?, close: Close)] { state.withLockedValue { $0.recentCloses } }

    func nextCorrelation() -> UInt64 { correlations.add(1, ordering: .relaxed).newValue }

    // MARK: Transports

    /// Starts accepting links. Returns the bound address (with the real port for port 0).
    @discardableResult
    public func listen(on address: DCLAddress, tls: NIOSSLContext? = nil) async throws -> DCLAddress {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 64 << 10, maximum: 1 << 20))
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try self.configure(channel, opener: false, tls: tls.map { NIOSSLServerHandler(context: $0) }, handshake: nil)
                }
            }
        let channel: any Channel
        switch address {
        case .tcp(let host, let port):
            channel = try await bootstrap.childChannelOption(.socketOption(.tcp_nodelay), value: 1).bind(host: host, port: port).get()
        case .unix(let path):
            channel = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        }
        state.withLockedValue { $0.listeners.append(channel) }
        if case .tcp(let host, _) = address, let port = channel.localAddress?.port {
            return .tcp(host: host, port: port)
        }
        return address
    }

    /// Opens a link and completes the handshake. Returns the peer's CardID.
    /// - Throws: ``DCLError`` with the peer's close reason when it refuses the link.
    @discardableResult
    ///
    /// `verify`, when given, replaces the TLS context's certificate verification: it sees the
    /// server's chain (leaf first) and accepts or refuses it (enrollment pins the CA this way).
    public func connect(to address: DCLAddress, tls: NIOSSLContext? = nil, serverHostname: String? = nil,
                        verify: (@Sendable ([NIOSSLCertificate]) -> Bool)? = nil) async throws -> CardID {
        let loop = group.next()
        let handshake = loop.makePromise(of: CardID.self)
        let bootstrap = ClientBootstrap(group: loop)
            .channelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 64 << 10, maximum: 1 << 20))
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try tls.map { context -> NIOSSLClientHandler in
                        guard let verify else { return try NIOSSLClientHandler(context: context, serverHostname: serverHostname) }
                        return try NIOSSLClientHandler(context: context, serverHostname: serverHostname) { chain, promise in
                            promise.succeed(verify(chain) ? .certificateVerified : .failed)
                        }
                    }
                    try self.configure(channel, opener: true, tls: handler, handshake: handshake)
                }
            }
        do {
            switch address {
            case .tcp(let host, let port):
                _ = try await bootstrap.channelOption(.socketOption(.tcp_nodelay), value: 1).connect(host: host, port: port).get()
            case .unix(let path):
                _ = try await bootstrap.connect(unixDomainSocketPath: path).get()
            }
        } catch {
            handshake.fail(error)
            throw DCLError(.noRoute, "cannot connect to \(address): \(error)")
        }
        return try await handshake.futureResult.get()
    }

    private func configure(_ channel: any Channel, opener: Bool, tls: (any ChannelHandler)?, handshake: EventLoopPromise<CardID>?) throws {
        let sync = channel.pipeline.syncOperations
        if let tls { try sync.addHandler(tls) }
        let handler = DCLChannelHandler(node: self, opener: opener, handshake: handshake)
        try sync.addHandler(handler)
        if !opener {
            // An accepted connection has handshakeTimeout from accept to a DCL link, TLS
            // included: one that never starts TLS (or never says hello) is closed, so idle
            // connections cannot pile up until the process runs out of descriptors.
            let bound = NIOLoopBound(handler, eventLoop: channel.eventLoop)
            channel.eventLoop.scheduleTask(in: .nanoseconds(configuration.handshakeTimeout.nanoseconds)) {
                if !bound.value.isEstablished { channel.close(promise: nil) }
            }
        }
        let accepted = state.withLockedValue { state -> Bool in
            if state.shutDown { return false }
            state.channels[ObjectIdentifier(channel)] = channel
            return true
        }
        if !accepted { channel.close(promise: nil) }
    }

    /// Closes every link (telling peers why) and listener, and fails outstanding requests.
    /// Idempotent: a second call returns at once (closing again would schedule work on event
    /// loops that may be gone by then, and never complete).
    public func shutdown() async {
        let first = state.withLockedValue { state in
            defer { state.shutDown = true }
            return !state.shutDown
        }
        guard first else { return }
        let (channels, listeners, pending) = state.withLockedValue { state in
            state.shutDown = true
            state.sweeper?.cancel()
            state.sweeper = nil
            defer { state.pending.removeAll() }
            return (Array(state.channels.values), state.listeners, Array(state.pending.values))
        }
        for p in pending {
            p.continuation.resume(throwing: DCLError(.shuttingDown, "node \(cardID) is shutting down"))
        }
        for listener in listeners { try? await listener.close() }
        for channel in channels {
            channel.eventLoop.execute {
                if let handler = try? channel.pipeline.syncOperations.handler(type: DCLChannelHandler.self) {
                    handler.requestClose(.shuttingDown, reason: "node is shutting down")
                } else {
                    channel.close(promise: nil)
                }
            }
        }
        for channel in channels { try? await channel.closeFuture.get() }
        jobSink.finish()
    }

    /// Serves async request handlers until cancelled or shut down.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for await job in jobs {
                group.addTask { await job() }
            }
        }
    }

    // MARK: Links (called by channel handlers on their event loops)

    func admit(_ hello: Hello, credentials: LinkCredentials) async -> AdmissionDecision {
        let decision = await configuration.admission.decide(hello, credentials)
        if case .accept(let id) = decision, !configuration.newestLinkWins, state.withLockedValue({ $0.connections[id] != nil }) {
            return .reject(.unauthorized, reason: "CardID \(id) already has a link to this node")
        }
        return decision
    }

    func linkEstablished(_ connection: DCLConnection, established e: ConnectionStateMachine.Established, opener: Bool) -> Result<Void, DCLError> {
        var replaced: DCLConnection?
        let result = state.withLockedValue { state -> Result<Void, DCLError> in
            if state.shutDown { return .failure(DCLError(.shuttingDown, "node is shutting down")) }
            if let old = state.connections[e.peerID] {
                guard configuration.newestLinkWins else {
                    return .failure(DCLError(.unauthorized, "CardID \(e.peerID) already has a link to this node"))
                }
                replaced = old
            }
            // A card is who the BMC says it is: also when the BMC did not give back the CardID
            // the card asked for (its frames would otherwise carry a source the BMC refuses).
            if opener && (state.cardID == .unassigned || configuration.role == .card) && e.localID != .unassigned { state.cardID = e.localID }
            state.connections[e.peerID] = connection
            return .success(())
        }
        if let replaced {
            // Its close no longer names the current link, so it raises no `closed` event.
            replaced.eventLoop.execute {
                replaced.handler.value.requestClose(.protocolError, reason: "replaced by a newer link from the same CardID")
            }
        }
        return result.map { configuration.linkEvents?(.established(peer: e.peerID, role: e.peerRole)) }
    }

    func linkClosed(_ connection: DCLConnection?, channel: any Channel, reason: Close) {
        let (wasCurrent, orphaned) = state.withLockedValue { state -> (Bool, [Pending]) in
            state.channels.removeValue(forKey: ObjectIdentifier(channel))
            var current = false
            var orphaned: [Pending] = []
            if let connection, state.connections[connection.peerID] === connection {
                state.connections.removeValue(forKey: connection.peerID)
                current = true
                // Requests whose way out was this link can no longer be answered: they fail now,
                // not at their timeout.
                func reachable(_ destination: CardID) -> Bool {
                    if state.connections[destination] != nil { return true }
                    guard let hop = state.routes.nextHop(for: destination), hop != state.cardID else { return false }
                    return state.connections[hop] != nil
                }
                let keys = state.pending.compactMap { reachable($0.value.destination) ? nil : $0.key }
                orphaned = keys.compactMap { state.pending.removeValue(forKey: $0) }
            }
            state.recentCloses.append((connection?.peerID, reason))
            if state.recentCloses.count > 32 { state.recentCloses.removeFirst() }
            return (current, orphaned)
        }
        for p in orphaned {
            p.continuation.resume(throwing: DCLError(.peerDead, "the link toward \(p.destination) closed before it answered (\(reason.status): \(reason.reason))"))
        }
        // Only the peer's current link closing is news: a refused duplicate or a replaced link
        // closing says nothing about the peer.
        if let connection, wasCurrent { configuration.linkEvents?(.closed(peer: connection.peerID, reason: reason)) }
    }

    // MARK: Routing

    /// Routes a table entry: frames for `destination` go through `neighbour`.
    public func setRoute(to destination: CardID, via neighbour: CardID) {
        state.withLockedValue { $0.routes.setRoute(to: destination, via: neighbour) }
    }

    public func removeRoute(to destination: CardID) {
        state.withLockedValue { $0.routes.removeRoute(to: destination) }
    }

    /// Where frames for cards with no route go (typically the BMC).
    public func setDefaultRoute(_ neighbour: CardID?) {
        state.withLockedValue { $0.routes.defaultRoute = neighbour }
    }

    /// Replaces the shard map used to resolve shard-routed requests arriving here.
    public func setShardTable(_ table: ShardTable) {
        state.withLockedValue { $0.shards = table }
    }

    /// The link a frame for `destination` leaves on.
    func link(for destination: CardID) -> DCLConnection? {
        state.withLockedValue { state in
            if let direct = state.connections[destination] { return direct }
            guard let hop = state.routes.nextHop(for: destination), hop != state.cardID else { return nil }
            return state.connections[hop]
        }
    }

    /// Sends a message toward its destination (local broadcast goes to every link).
    func route(_ message: OutboundMessage) throws(DCLError) {
        if message.destination == .broadcast {
            for connection in state.withLockedValue({ Array($0.connections.values) }) { connection.enqueue(message) }
            return
        }
        guard let connection = link(for: message.destination) else {
            throw DCLError(.noRoute, "no link or route to \(message.destination) from \(cardID)")
        }
        guard connection.enqueue(message) else {
            throw DCLError(.noRoute, "the link to \(connection.peerID) toward \(message.destination) is closed")
        }
    }

    /// A frame for another card arrived: pass it on, or tell its source why not.
    func forward(_ frame: Frame, from connection: DCLConnection) {
        let h = frame.header
        let expectsAnswer = !h.flags.contains(.response) && !h.flags.contains(.oneWay)
        guard h.hops < FrameHeader.maxHops else {
            if expectsAnswer && h.fragmentIndex == 0 { replyError(to: h, .hopLimitExceeded, "frame for \(h.destination) exceeded \(FrameHeader.maxHops) hops") }
            return
        }
        guard let next = link(for: h.destination), next !== connection || h.destination == connection.peerID else {
            if expectsAnswer && h.fragmentIndex == 0 { replyError(to: h, .noRoute, "no route from \(cardID) to \(h.destination)") }
            return
        }
        next.enqueue(OutboundMessage(forwarding: frame))
    }

    func replyError(to request: FrameHeader, _ status: DCLStatus, _ text: String) {
        let message = OutboundMessage(
            .errorReply(ErrorReply(status: status, message: text)), qos: request.qos, priority: request.priority,
            flags: .response, source: cardID, destination: request.source, correlation: request.correlation
        )
        try? route(message)
    }
}


/// A link coming or going.
public enum LinkEvent: Sendable, Hashable {
    case established(peer: CardID, role: PeerRole)
    case closed(peer: CardID, reason: Close)
}

extension DCLNode {
    /// Closes the link to `peer` (if any), telling it why. A revoked card is cut off this way.
    public func disconnect(_ peer: CardID, status: DCLStatus, reason: String) {
        guard let connection = state.withLockedValue({ $0.connections[peer] }) else { return }
        connection.eventLoop.execute {
            connection.handler.value.requestClose(status, reason: reason)
        }
    }
}
