import BackplaneModel
import DirectCardLink
import NIOCore
import NIOSSL

/// The NIO shell around one ``ConnectionStateMachine``: decodes bytes into frames, feeds them
/// to the state machine and carries out the actions it returns (STYLE rule 4: it interprets,
/// never decides). Everything here runs on the channel's event loop.
final class DCLChannelHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let node: DCLNode
    private let opener: Bool
    private var stateMachine: ConnectionStateMachine
    private var decoder: FrameDecoder
    private var scheduler: OutboundScheduler
    private let coalesceBytes: Int
    private var context: ChannelHandlerContext?
    private var connection: DCLConnection?
    private var tickTask: Scheduled<Void>?
    private var handshake: EventLoopPromise<CardID>?
    private var closeReason: Close?
    private var flushing = false
    private var writtenPerClass = Array(repeating: 0, count: QoSClass.allCases.count)
    /// Frames and payload bytes read per class since the last report to the node's traffic.
    private var framesInPerClass = Array(repeating: 0, count: QoSClass.allCases.count)
    private var bytesInPerClass = Array(repeating: 0, count: QoSClass.allCases.count)
    private var handlerCache = HandlerCache()
    /// Bytes delivered but not yet reported to the state machine as consumed, per class;
    /// reported every 16 KiB and at the end of each read, not per message.
    private var unconsumed = Array(repeating: 0, count: QoSClass.allCases.count)
    /// Coalesced writes per turn of the event loop before it goes back to reading.
    private static let maxRounds = 2

    init(node: DCLNode, opener: Bool, handshake: EventLoopPromise<CardID>?) {
        self.node = node
        self.opener = opener
        self.handshake = handshake
        let c = node.configuration
        self.stateMachine = ConnectionStateMachine(configuration: .init(
            role: c.role, localID: node.cardID, versions: c.versions,
            heartbeatInterval: c.heartbeatInterval, deadAfter: c.deadAfter, handshakeTimeout: c.handshakeTimeout,
            windows: c.windows, token: c.token, metadata: c.metadata,
            maxMessageBytes: c.maxMessageBytes, acceptsForwardedFrames: c.acceptsForwardedFrames
        ))
        // Version 1 framing is always readable: hello, welcome and close use it.
        self.decoder = FrameDecoder(maxPayloadLength: c.maxFramePayload, supportedVersions: 1...max(1, c.versions.upperBound))
        self.scheduler = OutboundScheduler(configuration: c.scheduler)
        self.coalesceBytes = c.coalesceBytes
    }

    private static func now() -> Instant { Instant(nanoseconds: NIODeadline.now().uptimeNanoseconds) }

    // MARK: Inbound

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private var started = false
    private func start(context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        for action in stateMachine.start(opener: opener, now: Self.now()) { perform(action) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        decoder.append(unwrapInboundIn(data))
        let now = Self.now()
        while !stateMachine.isClosed {
            let frame: Frame?
            do {
                frame = try decoder.nextFrame()
            } catch {
                if let action = stateMachine.decodingFailed(error) { perform(action) }
                return
            }
            guard let frame else { break }
            let c = Int(frame.header.qos.rawValue)
            framesInPerClass[c] &+= 1
            bytesInPerClass[c] &+= Int(frame.header.payloadLength)
            if let action = stateMachine.frameReceived(frame, now: now) { perform(action) }
        }
        for c in unconsumed.indices where unconsumed[c] > 0 { settle(c) }
        node.traffic.received(frames: framesInPerClass, bytes: bytesInPerClass)
        connection?.bytesReceived.add(bytesInPerClass.reduce(0, &+), ordering: .relaxed)
        for i in framesInPerClass.indices {
            framesInPerClass[i] = 0
            bytesInPerClass[i] = 0
        }
    }

    private func settle(_ c: Int) {
        let bytes = unconsumed[c]
        unconsumed[c] = 0
        if let next = stateMachine.consumed(QoSClass(rawValue: UInt8(c))!, bytes: bytes) { perform(next) }
    }

    private func consumed(_ qos: QoSClass, _ bytes: Int) {
        let c = Int(qos.rawValue)
        unconsumed[c] += bytes
        if unconsumed[c] >= 16 << 10 { settle(c) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushOutbound()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { flushOutbound() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stateMachine.transportClosed()
        tickTask?.cancel()
        connection?.markClosed()
        let reason = closeReason ?? Close(status: .shuttingDown, reason: "connection closed by the peer or the network")
        node.linkClosed(connection, channel: context.channel, reason: reason)
        failHandshake(DCLError(reason.status, reason.reason))
        connection = nil  // breaks the handler <-> connection cycle
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if closeReason == nil { closeReason = Close(status: .protocolError, reason: "transport error: \(error)") }
        failHandshake(DCLError(.protocolError, "transport error: \(error)"))
        context.close(promise: nil)
    }

    private func failHandshake(_ error: DCLError) {
        if let handshake {
            self.handshake = nil
            handshake.fail(error)
        }
    }

    // MARK: Actions

    private func perform(_ action: ConnectionStateMachine.Action) {
        guard let context else { return }
        switch action {
        case .send(let message):
            if let connection {
                let urgent = message.qos == .control
                connection.enqueue(message)
                // Credit grants and heartbeat answers must not wait for the end of a long read.
                if urgent { flushOutbound() }
            } else {
                writeDirect(message, context: context)
            }
        case .deliver(let frame, let creditBytes):
            if let connection, permitted(frame, on: connection, forwarding: false) { node.deliver(frame, from: connection, cache: &handlerCache) }
            consumed(frame.header.qos, creditBytes)
        case .forward(let frame, let creditBytes):
            if let connection, permitted(frame, on: connection, forwarding: true) { node.forward(frame, from: connection) }
            consumed(frame.header.qos, creditBytes)
        case .admit(let hello):
            let node = self.node
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            let certificate = (try? context.pipeline.syncOperations.nioSSL_peerCertificate()).flatMap { try? $0?.toDERBytes() }
            let tls = (try? context.pipeline.syncOperations.handler(type: NIOSSLHandler.self)) != nil
            let credentials = LinkCredentials(peerCertificate: certificate, tls: tls)
            context.eventLoop.makeFutureWithTask { await node.admit(hello, credentials: credentials) }.whenSuccess { decision in
                handler.value.admissionDecided(decision)
            }
        case .established(let e):
            scheduler.version = e.version
            for c in QoSClass.allCases where c != .control { scheduler.creditGranted(c, bytes: e.windows[c]) }
            let connection = DCLConnection(
                peerID: e.peerID, peerRole: e.peerRole, handler: self, eventLoop: context.eventLoop,
                highWatermark: node.configuration.scheduler.highWatermark, lowWatermark: node.configuration.scheduler.lowWatermark
            )
            connection.setVersion(e.version)
            switch node.linkEstablished(connection, established: e, opener: opener) {
            case .success:
                self.connection = connection
                if let handshake {
                    self.handshake = nil
                    handshake.succeed(e.peerID)
                }
            case .failure(let error):
                if let next = stateMachine.closeRequested(error.status, reason: error.message) { perform(next) }
            }
        case .creditReceived(let qos, let bytes):
            scheduler.creditGranted(qos, bytes: bytes)
            flushOutbound()
        case .close(let close, let sendFirst):
            closeReason = close
            tickTask?.cancel()
            connection?.markClosed()
            failHandshake(DCLError(close.status, close.reason))
            if sendFirst {
                var buffer = context.channel.allocator.buffer(capacity: 128)
                let header = FrameHeader(version: 1, type: .close, qos: .control, priority: .highest, source: node.cardID, destination: connection?.peerID ?? .unassigned)
                FrameEncoder.write(header, into: &buffer) { Message.close(close).encodePayload(into: &$0) }
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
            } else {
                context.close(promise: nil)
            }
        case .scheduleTick(let at):
            tickTask?.cancel()
            tickTask = context.eventLoop.scheduleTask(deadline: .uptimeNanoseconds(at.nanoseconds)) { [self] in
                for next in stateMachine.tick(now: Self.now()) { perform(next) }
            }
        }
    }

    private func admissionDecided(_ decision: AdmissionDecision) {
        switch decision {
        case .accept(let id):
            for next in stateMachine.admitted(as: id, now: Self.now()) { perform(next) }
        case .reject(let status, let reason):
            if let next = stateMachine.rejected(status, reason: reason) { perform(next) }
        }
    }

    /// Handshake frames go out before the scheduler is in use, framed as version 1.
    private func writeDirect(_ message: OutboundMessage, context: ChannelHandlerContext) {
        guard case .message(let m) = message.body else { return }
        var buffer = context.channel.allocator.buffer(capacity: FrameHeader.size + message.payloadLength)
        let header = FrameHeader(version: 1, type: message.type, flags: message.flags, qos: message.qos, priority: message.priority, source: message.source, destination: message.destination, correlation: message.correlation)
        FrameEncoder.write(header, into: &buffer) { m.encodePayload(into: &$0) }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// Whether the handshake made a link (false before, and after a refusal).
    var isEstablished: Bool { connection != nil }

    /// Closes the link, telling the peer why.
    /// At a controller, a peer's frame must carry the peer's own CardID as its source, and only
    /// the controller commands cards (``LinkPolicy``); a refused frame closes the link.
    private func permitted(_ frame: Frame, on connection: DCLConnection, forwarding: Bool) -> Bool {
        guard node.configuration.role == .controller else { return true }
        switch LinkPolicy.check(frame.header, onLinkOf: connection.peerID, role: connection.peerRole, forwarding: forwarding) {
        case .accept:
            return true
        case .refuse(let status, let reason):
            requestClose(status, reason: reason)
            return false
        }
    }

    func requestClose(_ status: DCLStatus, reason: String) {
        if let action = stateMachine.closeRequested(status, reason: reason) {
            perform(action)
        } else {
            context?.close(promise: nil)
        }
    }

    // MARK: Outbound

    /// Moves queued messages into the scheduler and writes frames, coalescing up to
    /// `coalesceBytes` per write, while the channel is writable.
    func flushOutbound() {
        guard let context, let connection, !flushing, !stateMachine.isClosed else { return }
        flushing = true
        defer { flushing = false }
        connection.drainInbox(into: &scheduler)
        var idle = false  // nothing more can be sent now (empty, or only credit-blocked classes)
        var rounds = 0
        while context.channel.isWritable {
            var buffer = context.channel.allocator.buffer(capacity: coalesceBytes + FrameHeader.size + scheduler.configuration.fragmentSize)
            while buffer.readableBytes < coalesceBytes, let written = scheduler.dequeueCounted(into: &buffer) {
                writtenPerClass[Int(written.qos.rawValue)] += written.payloadBytes
            }
            if buffer.readableBytes == 0 {
                idle = true
                break
            }
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            rounds += 1
            if rounds >= Self.maxRounds { break }  // let reads (e.g. a control reply) run; continued below
            connection.drainInbox(into: &scheduler)
        }
        let more = connection.written(writtenPerClass, idle: idle, creditBlocked: idle ? scheduler.creditBlockedClasses : 0)
        if rounds > 0 {
            node.traffic.sent(bytes: writtenPerClass)
            connection.bytesSent.add(writtenPerClass.reduce(0, &+), ordering: .relaxed)
        }
        for i in writtenPerClass.indices { writtenPerClass[i] = 0 }
        if (more || rounds >= Self.maxRounds) && context.channel.isWritable {
            context.eventLoop.execute { [self] in flushOutbound() }
        }
    }
}
