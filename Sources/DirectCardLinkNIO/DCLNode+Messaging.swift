import BackplaneModel
import DirectCardLink
import NIOCore

extension DCLNode {
    // MARK: Endpoints

    /// Handles one-way messages (and events) sent to `endpoint` on this node.
    public func onMessage(_ endpoint: String, _ handler: @escaping MessageHandler) {
        state.withLockedValue { $0.messageHandlers[endpoint] = handler }
        handlerGeneration.add(1, ordering: .releasing)
    }

    /// Handles requests (and commands) to `endpoint` on the event loop.
    public func onRequest(_ endpoint: String, _ handler: @escaping RequestHandler) {
        state.withLockedValue { $0.requestHandlers[endpoint] = .sync(handler) }
        handlerGeneration.add(1, ordering: .releasing)
    }

    /// Handles requests (and commands) to `endpoint` in ``run()``'s task group.
    public func onRequest(_ endpoint: String, async handler: @escaping AsyncRequestHandler) {
        state.withLockedValue { $0.requestHandlers[endpoint] = .async(handler) }
        handlerGeneration.add(1, ordering: .releasing)
    }

    // MARK: Sending

    /// Sends a one-way message to `endpoint` on card `destination`. Never blocks; messages
    /// beyond the link's high watermark stay queued (use ``sendWhenWritable`` to wait instead).
    /// - Throws: ``DCLError`` with `noRoute` when no link leads to `destination`.
    public func send(to destination: CardID, endpoint: String, body: ByteBuffer, qos: QoS = .interactive) throws(DCLError) {
        if destination != .broadcast, let link = link(for: destination) {
            guard link.enqueueData(endpoint: endpoint, body: body, qos: qos, source: cardID, destination: destination) else {
                throw DCLError(.noRoute, "the link to \(link.peerID) toward \(destination) is closed")
            }
            return
        }
        try route(OutboundMessage(.data(DataMessage(endpoint: endpoint, body: body)), qos: qos.class, priority: qos.priority, flags: .oneWay, source: cardID, destination: destination))
    }

    /// A handle for streaming many messages to one endpoint: the link is looked up once, and
    /// each ``EndpointSender/send(_:)`` is a single short lock.
    public func sender(to destination: CardID, endpoint: String, qos: QoS = .interactive) throws(DCLError) -> EndpointSender {
        guard let link = link(for: destination) else {
            throw DCLError(.noRoute, "no link or route to \(destination) from \(cardID)")
        }
        return EndpointSender(link: link, source: cardID, destination: destination, endpoint: endpoint, qos: qos)
    }

    /// Like ``send(to:endpoint:body:qos:)`` but first waits while the link's queue for this
    /// class is above its high watermark (backpressure).
    public func sendWhenWritable(to destination: CardID, endpoint: String, body: ByteBuffer, qos: QoS = .bulk) async throws {
        guard let link = link(for: destination) else {
            throw DCLError(.noRoute, "no link or route to \(destination) from \(cardID)")
        }
        try await link.waitUntilWritable(qos.class)
        try send(to: destination, endpoint: endpoint, body: body, qos: qos)
    }

    /// Sends a request to `endpoint` on `destination` and returns the reply body.
    /// - Throws: ``DCLError``: the peer's error reply, `noRoute`, or `timeout`.
    public func request(to destination: CardID, endpoint: String, body: ByteBuffer, qos: QoS = .interactive, timeout: Duration? = nil) async throws -> ByteBuffer {
        let frame = try await exchange(.data(DataMessage(endpoint: endpoint, body: body)), to: destination, qos: qos, timeout: timeout)
        return try Self.replyBody(frame)
    }

    /// Sends a control command and returns its result body.
    public func command(to destination: CardID, name: String, body: ByteBuffer = ByteBuffer(), timeout: Duration? = nil) async throws -> ByteBuffer {
        let frame = try await exchange(.command(Command(name: name, body: body)), to: destination, qos: .control, timeout: timeout)
        return try Self.replyBody(frame)
    }

    /// Emits a control event to `destination` (usually the BMC); handled by its message handler `name`.
    public func emit(event name: String, to destination: CardID, body: ByteBuffer = ByteBuffer()) throws(DCLError) {
        try route(OutboundMessage(.event(Event(name: name, body: body)), qos: .control, flags: .oneWay, source: cardID, destination: destination))
    }

    /// Sends a request addressed by workload and shard key to `router`, which resolves the
    /// owning card from its shard table and forwards it; the owner replies directly.
    public func request(workload: String, shardKey: ByteBuffer, endpoint: String, body: ByteBuffer, via router: CardID, epoch: UInt64 = 0, qos: QoS = .interactive, timeout: Duration? = nil) async throws -> ByteBuffer {
        let message = RoutedRequest(workload: workload, epoch: epoch, shardKey: shardKey, endpoint: endpoint, body: body)
        let frame = try await exchange(.routedRequest(message), to: router, qos: qos, timeout: timeout, routed: true)
        return try Self.replyBody(frame)
    }

    // MARK: One-sided operations

    /// Writes `data` at `offset` into region `region` of card `destination`. No handler runs
    /// there: the card's region table checks the key and bounds and applies the write.
    public func remoteWrite(to destination: CardID, region: UInt32, key: UInt64, offset: UInt64, data: ByteBuffer, qos: QoS = .bulk, timeout: Duration? = nil) async throws {
        let frame = try await exchange(.regionWrite(RegionWrite(region: region, key: key, offset: offset, data: data)), to: destination, qos: qos, timeout: timeout)
        switch frame.header.type {
        case .regionCompletion:
            guard case .regionCompletion(let completion) = try Message.decode(type: .regionCompletion, payload: frame.payload) else { preconditionFailure() }
            guard completion.status == .ok else { throw DCLError(completion.status, completion.message) }
        default:
            _ = try Self.replyBody(frame)
            throw DCLError(.protocolError, "unexpected \(frame.header.type) in answer to a region write")
        }
    }

    /// Reads `length` bytes at `offset` from region `region` of card `destination`.
    public func remoteRead(from destination: CardID, region: UInt32, key: UInt64, offset: UInt64, length: Int, qos: QoS = .bulk, timeout: Duration? = nil) async throws -> ByteBuffer {
        guard length >= 0, length <= Int(UInt32.max) else { throw DCLError(.messageTooLarge, "read length \(length) is outside 0...\(UInt32.max)") }
        let frame = try await exchange(.regionRead(RegionRead(region: region, key: key, offset: offset, length: UInt32(length))), to: destination, qos: qos, timeout: timeout)
        switch frame.header.type {
        case .regionReadResponse:
            return frame.payload
        case .regionCompletion:
            guard case .regionCompletion(let completion) = try Message.decode(type: .regionCompletion, payload: frame.payload) else { preconditionFailure() }
            throw DCLError(completion.status, completion.message)
        default:
            _ = try Self.replyBody(frame)
            throw DCLError(.protocolError, "unexpected \(frame.header.type) in answer to a region read")
        }
    }

    /// Tells `destination` about one of this node's regions (what RDMA shares out of band).
    public func announce(_ region: MemoryRegion, to destination: CardID) throws(DCLError) {
        try route(OutboundMessage(.regionRegister(region.registration), qos: .control, flags: .oneWay, source: cardID, destination: destination))
    }

    /// Regions other cards have announced to this node.
    public func announcedRegions(of card: CardID) -> [UInt32: RegionRegister] {
        state.withLockedValue { $0.remoteRegions[card] ?? [:] }
    }

    // MARK: Correlation

    /// Sends `message` as a request and waits for the frame that answers it.
    func exchange(_ message: Message, to destination: CardID, qos: QoS, timeout: Duration?, routed: Bool = false) async throws -> Frame {
        let correlation = nextCorrelation()
        let outbound = OutboundMessage(message, qos: qos.class, priority: qos.priority, source: cardID, destination: destination, correlation: correlation)
        let limit = timeout ?? configuration.defaultRequestTimeout
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Frame, any Error>) in
                let deadline = NIODeadline.now() + .nanoseconds(limit.nanoseconds)
                let registered = state.withLockedValue { state -> Bool in
                    if state.shutDown { return false }
                    state.pending[correlation] = Pending(continuation: continuation, deadline: deadline, destination: destination, limit: limit, routed: routed)
                    if state.sweeper == nil { state.sweeper = startSweeper() }
                    return true
                }
                guard registered else {
                    continuation.resume(throwing: DCLError(.shuttingDown, "node \(cardID) is shutting down"))
                    return
                }
                do {
                    try route(outbound)
                } catch {
                    resolve(correlation, with: .failure(error))
                }
            }
        } onCancel: {
            resolve(correlation, with: .failure(CancellationError()))
        }
    }

    func resolve(_ correlation: UInt64, with result: Result<Frame, any Error>) {
        guard let pending = state.withLockedValue({ state -> Pending? in
            // An answer must come from the card the request went to, or be an error the BMC
            // (the router on every path) answered on its behalf; a shard-routed request's
            // owner is whoever the router chose. Anything else is a forged answer: dropped.
            if case .success(let frame) = result, let p = state.pending[correlation], !p.routed {
                let source = frame.header.source
                guard source == p.destination || (source == .bmc && frame.header.type == .errorReply) else { return nil }
            }
            return state.pending.removeValue(forKey: correlation)
        }) else { return }
        pending.continuation.resume(with: result)
    }

    /// Request timeouts are checked every 50 ms (so a timeout fires up to 50 ms late).
    private func startSweeper() -> RepeatedTask {
        group.next().scheduleRepeatedTask(initialDelay: .milliseconds(50), delay: .milliseconds(50)) { [self] _ in
            let now = NIODeadline.now()
            let expired = state.withLockedValue { state -> [Pending] in
                let keys = state.pending.compactMap { $0.value.deadline <= now ? $0.key : nil }
                return keys.compactMap { state.pending.removeValue(forKey: $0) }
            }
            for p in expired {
                p.continuation.resume(throwing: DCLError(.timeout, "no answer from \(p.destination) within \(p.limit)"))
            }
        }
    }

    static func replyBody(_ frame: Frame) throws -> ByteBuffer {
        switch frame.header.type {
        case .reply:
            return frame.payload
        case .errorReply:
            guard case .errorReply(let e) = try Message.decode(type: .errorReply, payload: frame.payload) else { preconditionFailure() }
            throw DCLError(e.status, e.message)
        default:
            throw DCLError(.protocolError, "unexpected \(frame.header.type) in answer to a request")
        }
    }

    // MARK: Delivery (event loop)

    /// A whole message addressed to this node arrived on `connection`.
    func deliver(_ frame: Frame, from connection: DCLConnection, cache: inout HandlerCache) {
        let generation = handlerGeneration.load(ordering: .acquiring)
        if generation != cache.generation {
            (cache.messageHandlers, cache.requestHandlers) = state.withLockedValue { ($0.messageHandlers, $0.requestHandlers) }
            cache.lastMessageHandler = nil
            cache.generation = generation
        }
        let h = frame.header
        if h.flags.contains(.response) {
            resolve(h.correlation, with: .success(frame))
            return
        }
        do {
            switch h.type {
            case .data:
                let m = try DataMessage(decoding: frame.payload)
                dispatch(endpoint: m.endpoint, body: m.body, header: h, shard: nil, cache: &cache)
            case .command:
                guard case .command(let m) = try Message.decode(type: .command, payload: frame.payload) else { return }
                dispatch(endpoint: m.name, body: m.body, header: h, shard: nil, cache: &cache)
            case .event:
                guard case .event(let m) = try Message.decode(type: .event, payload: frame.payload) else { return }
                dispatch(endpoint: m.name, body: m.body, header: h, shard: nil, cache: &cache)
            case .regionWrite:
                guard case .regionWrite(let m) = try Message.decode(type: .regionWrite, payload: frame.payload) else { return }
                answer(h, .regionCompletion(regions.write(m)))
            case .regionRead:
                guard case .regionRead(let m) = try Message.decode(type: .regionRead, payload: frame.payload) else { return }
                switch regions.read(m) {
                case .success(let bytes): answer(h, .regionReadResponse(RegionReadResponse(data: bytes)))
                case .failure(let error): answer(h, .regionCompletion(error.completion))
                }
            case .regionRegister:
                guard case .regionRegister(let m) = try Message.decode(type: .regionRegister, payload: frame.payload) else { return }
                state.withLockedValue { $0.remoteRegions[h.source, default: [:]][m.region] = m }
            case .routedRequest:
                guard case .routedRequest(let m) = try Message.decode(type: .routedRequest, payload: frame.payload) else { return }
                routeShardRequest(m, header: h, cache: &cache)
            default:
                replyError(to: h, .protocolError, "\(h.type) is not a request")
            }
        } catch {
            replyError(to: h, .protocolError, "\(error)")
        }
    }

    private func answer(_ request: FrameHeader, _ message: Message) {
        try? route(OutboundMessage(message, qos: request.qos, priority: request.priority, flags: .response, source: cardID, destination: request.source, correlation: request.correlation))
    }

    private func routeShardRequest(_ m: RoutedRequest, header h: FrameHeader, cache: inout HandlerCache) {
        if h.flags.contains(.shardResolved) {
            dispatch(endpoint: m.endpoint, body: m.body, header: h, shard: (m.workload, m.shardKey, m.epoch), cache: &cache)
            return
        }
        if let mayRoute = configuration.mayRoute, !mayRoute(h.source, m.workload) {
            replyError(to: h, .unauthorized, "\(h.source) may not use workload '\(m.workload)'")
            return
        }
        let resolved = state.withLockedValue { $0.shards.shard(workload: m.workload, key: m.shardKey.readableBytesView) }
        guard let (shard, owner, epoch) = resolved else {
            replyError(to: h, .noShardOwner, "no shard map for workload '\(m.workload)' on \(cardID)")
            return
        }
        guard owner != .unassigned else {
            replyError(to: h, .noShardOwner, "shard \(shard) of '\(m.workload)' has no running owner (epoch \(epoch))")
            return
        }
        if owner == cardID {
            dispatch(endpoint: m.endpoint, body: m.body, header: h, shard: (m.workload, m.shardKey, epoch), cache: &cache)
            return
        }
        guard owner != h.source else {
            // The sender passed it on because its map names another owner; sending it back
            // would loop until the maps agree.
            replyError(to: h, .noShardOwner, "shard \(shard) of '\(m.workload)': \(owner) passed it on, and this router's map (epoch \(epoch)) names it the owner")
            return
        }
        var forwarded = m
        forwarded.epoch = epoch
        let message = OutboundMessage(.routedRequest(forwarded), qos: h.qos, priority: h.priority, flags: h.flags.union(.shardResolved), source: h.source, destination: owner, correlation: h.correlation)
        do {
            try route(message)
        } catch {
            replyError(to: h, error.status, error.message)
        }
    }

    private func dispatch(endpoint: String, body: ByteBuffer, header h: FrameHeader, shard: (workload: String, key: ByteBuffer, epoch: UInt64)?, cache: inout HandlerCache) {
        let isRequest = !h.flags.contains(.oneWay)
        let delivery = Delivery(source: h.source, endpoint: endpoint, body: body, qos: QoS(h.qos, priority: h.priority), correlation: h.correlation, isRequest: isRequest, shard: shard)
        if !isRequest {
            if let handler = cache.messageHandler(endpoint) { handler(delivery) }
            return
        }
        guard let handler = cache.requestHandlers[endpoint] else {
            replyError(to: h, .noSuchEndpoint, "no endpoint '\(endpoint)' on \(cardID)")
            return
        }
        switch handler {
        case .sync(let handle):
            respond(to: h) { try handle(delivery) }
        case .async(let handle):
            jobSink.yield { [self] in
                do {
                    let body = try await handle(delivery)
                    answer(h, .reply(Reply(body: body)))
                } catch {
                    answerFailure(h, error)
                }
            }
        }
    }

    private func respond(to h: FrameHeader, _ body: () throws -> ByteBuffer) {
        do {
            answer(h, .reply(Reply(body: try body())))
        } catch {
            answerFailure(h, error)
        }
    }

    private func answerFailure(_ h: FrameHeader, _ error: any Error) {
        if let error = error as? DCLError {
            replyError(to: h, error.status, error.message)
        } else {
            replyError(to: h, .handlerFailed, "\(error)")
        }
    }
}

/// Streams one-way messages to one endpoint over one link (see ``DCLNode/sender(to:endpoint:qos:)``).
public struct EndpointSender: Sendable {
    let link: DCLConnection
    public let source: CardID
    public let destination: CardID
    public let endpoint: String
    public let qos: QoS

    /// Queues one message; never blocks.
    /// - Throws: ``DCLError`` when the link has closed.
    @inlinable
    public func send(_ body: ByteBuffer) throws(DCLError) {
        guard enqueue(body) else { throw DCLError(.noRoute, "the link to \(destination) is closed") }
    }

    @usableFromInline
    func enqueue(_ body: ByteBuffer) -> Bool {
        link.enqueueData(endpoint: endpoint, body: body, qos: qos, source: source, destination: destination)
    }

    /// Waits while this class has more than the link's high watermark queued (backpressure).
    public func waitUntilWritable() async throws {
        try await link.waitUntilWritable(qos.class)
    }
}
