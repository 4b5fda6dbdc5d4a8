import NIOCore

/// The NIO shell around one ``RedisConnectionStateMachine``: feeds it decoded commands and
/// finished replies, and carries out its actions (writes in order, hands commands to the
/// connection's job queue, closes). It decides nothing. Runs on the channel's event loop.
///
/// Backpressure: the outbound `read` is held back while the state machine does not want to
/// read (too many commands in flight, or the peer is not reading its replies), so the kernel's
/// buffer fills and TCP slows the client. Decoding stops at the same point: bytes already read
/// wait, undecoded, in ``input``.
final class RedisConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// A command for the backend, numbered in request order.
    struct Job: Sendable {
        var sequence: UInt64
        var command: RedisCommand
    }

    private var machine: RedisConnectionStateMachine
    private var decoder: RESPDecoder
    private let jobs: AsyncStream<Job>.Continuation
    private let counters: RedisGatewayCounters
    /// Bytes read and not yet decoded.
    private var input = ByteBuffer()
    /// Replies encoded and not yet written to the channel.
    private var output = ByteBuffer()
    private var actions: [RedisConnectionStateMachine.Action] = []
    private var context: ChannelHandlerContext?
    /// A `read` held back by backpressure, to pass on once reading is wanted again.
    private var readHeld = false
    private var flushScheduled = false
    private var closing = false

    init(session: RedisSession, maxInFlight: Int, maxInFlightBytes: Int, limits: RESPDecoder.Limits,
         jobs: AsyncStream<Job>.Continuation, counters: RedisGatewayCounters) {
        self.machine = RedisConnectionStateMachine(session: session, maxInFlight: maxInFlight, maxInFlightBytes: maxInFlightBytes)
        self.decoder = RESPDecoder(limits: limits)
        self.jobs = jobs
        self.counters = counters
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.output = context.channel.allocator.buffer(capacity: 1024)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        machine.connectionClosed()
        jobs.finish()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        machine.connectionClosed()
        jobs.finish()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        guard !closing else { return }
        if input.readableBytes == 0 {
            input = bytes
        } else {
            input.writeBuffer(&bytes)
        }
        decodeAvailable()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushOutput()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        machine.writabilityChanged(isWritable: context.channel.isWritable)
        resumeReadingIfWanted()
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if machine.wantsRead {
            context.read()
        } else {
            readHeld = true
        }
    }

    /// A job's reply (called on the event loop by the connection's job runner).
    func replyProduced(sequence: UInt64, reply: RESPValue) {
        guard context != nil, !closing else { return }
        machine.replyProduced(sequence: sequence, reply: reply, into: &actions)
        perform()
        scheduleFlush()
        if machine.acceptsCommands && input.readableBytes > 0 { decodeAvailable() }
        resumeReadingIfWanted()
    }

    // MARK: Pieces

    private func decodeAvailable() {
        while machine.acceptsCommands && !closing {
            let arguments: [[UInt8]]?
            do {
                arguments = try decoder.next(&input)
            } catch {
                counters.protocolErrors.add(1, ordering: .relaxed)
                machine.protocolErrorOccurred(error, into: &actions)
                perform()
                break
            }
            guard let arguments else { break }
            counters.commands.add(1, ordering: .relaxed)
            machine.commandReceived(arguments, into: &actions)
            perform()
        }
        if input.readableBytes == 0 {
            input.clear()
        } else if input.readerIndex >= 64 << 10 {
            input.discardReadBytes()
        }
        scheduleFlush()
    }

    private func perform() {
        for action in actions {
            switch action {
            case .write(let reply):
                if reply.isError { counters.errorReplies.add(1, ordering: .relaxed) }
                reply.write(to: &output)
            case .execute(let sequence, let command):
                jobs.yield(Job(sequence: sequence, command: command))
            case .close:
                close()
            }
        }
        actions.removeAll(keepingCapacity: true)
    }

    private func scheduleFlush() {
        guard !flushScheduled, output.readableBytes > 0, let context else { return }
        flushScheduled = true
        // After the replies the loop already has queued, so they go out in one write.
        context.eventLoop.assumeIsolated().execute { [self] in
            flushScheduled = false
            flushOutput()
        }
    }

    private func flushOutput() {
        guard output.readableBytes > 0, let context else { return }
        let bytes = output
        output = context.channel.allocator.buffer(capacity: 1024)
        context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
    }

    /// Writes what is owed, then closes (QUIT, protocol error).
    private func close() {
        guard !closing, let context else { return }
        closing = true
        jobs.finish()
        let bytes = output
        output.clear()
        context.writeAndFlush(wrapOutboundOut(bytes)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    private func resumeReadingIfWanted() {
        guard readHeld, machine.wantsRead, let context else { return }
        readHeld = false
        context.read()
    }
}
