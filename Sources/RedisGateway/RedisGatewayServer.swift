import NIOCore
import NIOPosix
import Synchronization

/// A TCP server that speaks RESP2 (a subset of Redis, see the README) and hands each key
/// operation to a ``KeyValueBackend``.
///
/// Lifetime: ``start(host:port:)`` once, then ``shutdown()`` once; or ``withServer(backend:host:port:configuration:group:_:)``,
/// which ties the server to a scope. A server is not restartable.
///
/// Per connection: pipelined commands run concurrently (see ``KeyValueBackend`` for the
/// ordering kept), replies are written in request order, at most
/// ``Configuration/maxInFlightPerConnection`` commands are in flight before the server stops
/// reading from that client, and a protocol error gets `-ERR Protocol error: <detail>` and a
/// close, as with Redis.
public final class RedisGatewayServer: Sendable {
    public struct Configuration: Hashable, Sendable {
        /// Commands decoded but not yet answered, per connection, before reading stops.
        public var maxInFlightPerConnection: Int
        /// Argument bytes (plus 16 per argument) of those commands, per connection, before
        /// reading stops. One command may go past it; the next waits.
        public var maxInFlightBytesPerConnection: Int
        /// Open connections; one more is told `-ERR max number of clients reached` and closed.
        public var maxConnections: Int
        public var decoderLimits: RESPDecoder.Limits

        public init(maxInFlightPerConnection: Int = 1024, maxInFlightBytesPerConnection: Int = 256 << 20,
                    maxConnections: Int = 10_000, decoderLimits: RESPDecoder.Limits = .init()) {
            self.maxInFlightPerConnection = maxInFlightPerConnection
            self.maxInFlightBytesPerConnection = maxInFlightBytesPerConnection
            self.maxConnections = maxConnections
            self.decoderLimits = decoderLimits
        }
    }

    private enum Phase {
        case idle, starting, running, shutDown
    }

    private struct State: Sendable {
        var phase = Phase.idle
        var listener: (any Channel)?
        var channels: [ObjectIdentifier: any Channel] = [:]
        var connectionSink: AsyncStream<ConnectionJobs>.Continuation?
        var serving: Task<Void, Never>?
        var lastClientID: Int64 = 0
    }

    public let configuration: Configuration
    private let executor: RedisCommandExecutor
    private let group: any EventLoopGroup
    private let counters: RedisGatewayCounters
    private let state = Mutex(State())

    /// - Parameter group: event loops for the sockets; the process-wide NIO singleton by default.
    public init(backend: some KeyValueBackend, configuration: Configuration = .init(),
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        precondition(configuration.maxInFlightPerConnection > 0 && configuration.maxInFlightBytesPerConnection > 0
                     && configuration.maxConnections > 0)
        self.configuration = configuration
        self.group = group
        let counters = RedisGatewayCounters()
        self.counters = counters
        self.executor = RedisCommandExecutor(
            backend: backend,
            stats: { counters.snapshot() },
            backendFailed: { counters.backendErrors.add(1, ordering: .relaxed) }
        )
    }

    /// The counters now, as INFO shows them.
    public var stats: RedisGatewayStats { counters.snapshot() }

    /// Binds and starts serving. Returns the bound address: with `port` 0, the port the system chose.
    /// MUST be called once; ``shutdown()`` MUST follow when it returns. When it throws (the
    /// address is in use, say) the server is already shut down.
    @discardableResult
    public func start(host: String = "127.0.0.1", port: Int) async throws -> SocketAddress {
        try state.withLock { state in
            guard state.phase == .idle else { throw RedisGatewayError("start() may be called once, on a server never started or shut down") }
            state.phase = .starting
        }
        let (connections, sink) = AsyncStream<ConnectionJobs>.makeStream()
        // One task owns every connection's work (a child task per connection, a grandchild per
        // command); shutdown() cancels and awaits it, so nothing outlives the server.
        let serving = Task {
            await withDiscardingTaskGroup { group in
                for await connection in connections {
                    group.addTask { await connection.run() }
                }
            }
        }
        state.withLock { state in
            state.connectionSink = sink
            state.serving = serving
        }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture { try self.accept(channel) }
            }
        let listener: any Channel
        do {
            listener = try await bootstrap.bind(host: host, port: port).get()
        } catch {
            await shutdown()  // nothing is left running when start() throws
            throw error
        }
        let stillStarting = state.withLock { state in
            guard state.phase == .starting else { return false }
            state.phase = .running
            state.listener = listener
            return true
        }
        guard stillStarting else {
            try? await listener.close()
            throw RedisGatewayError("shutdown() was called during start()")
        }
        guard let address = listener.localAddress else {
            await shutdown()
            throw RedisGatewayError("the listener has no local address")
        }
        counters.started(port: address.port ?? 0, at: .now)
        return address
    }

    /// Stops accepting, closes every connection (in-flight commands are cancelled, their
    /// replies dropped) and waits until all of it is done. Idempotent.
    public func shutdown() async {
        let (listener, channels, sink, serving) = state.withLock { state in
            state.phase = .shutDown
            defer {
                state.listener = nil
                state.connectionSink = nil
                state.serving = nil
            }
            return (state.listener, Array(state.channels.values), state.connectionSink, state.serving)
        }
        try? await listener?.close()
        for channel in channels { channel.close(promise: nil) }
        for channel in channels { try? await channel.closeFuture.get() }
        sink?.finish()
        serving?.cancel()
        await serving?.value
    }

    /// Runs `body` with a started server; shuts it down when `body` returns or throws.
    public static func withServer<Result>(
        backend: some KeyValueBackend, host: String = "127.0.0.1", port: Int,
        configuration: Configuration = .init(), group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        _ body: (RedisGatewayServer, SocketAddress) async throws -> Result
    ) async throws -> Result {
        let server = RedisGatewayServer(backend: backend, configuration: configuration, group: group)
        do {
            let address = try await server.start(host: host, port: port)
            let result = try await body(server, address)
            await server.shutdown()
            return result
        } catch {
            await server.shutdown()
            throw error
        }
    }

    // MARK: Connections

    private enum Admission {
        case accept(clientID: Int64, sink: AsyncStream<ConnectionJobs>.Continuation)
        case refuse(reason: String?)
    }

    /// Sets up an accepted connection (on its event loop).
    private func accept(_ channel: any Channel) throws {
        let id = ObjectIdentifier(channel)
        let admission = state.withLock { state -> Admission in
            guard state.phase == .running || state.phase == .starting, let sink = state.connectionSink else {
                return .refuse(reason: nil)
            }
            guard state.channels.count < configuration.maxConnections else {
                return .refuse(reason: "max number of clients reached")
            }
            state.channels[id] = channel
            state.lastClientID += 1
            return .accept(clientID: state.lastClientID, sink: sink)
        }
        switch admission {
        case .refuse(nil):
            channel.close(promise: nil)
        case .refuse(let reason?):
            counters.connectionsRejected.add(1, ordering: .relaxed)
            channel.writeAndFlush(RESPValue.err(reason).encoded).whenComplete { _ in channel.close(promise: nil) }
        case .accept(let clientID, let sink):
            counters.connectionsAccepted.add(1, ordering: .relaxed)
            counters.connectionsOpen.add(1, ordering: .relaxed)
            channel.closeFuture.whenComplete { [self] _ in
                counters.connectionsOpen.subtract(1, ordering: .relaxed)
                state.withLock { _ = $0.channels.removeValue(forKey: id) }
            }
            let (jobs, jobSink) = AsyncStream<RedisConnectionHandler.Job>.makeStream()
            let handler = RedisConnectionHandler(
                session: RedisSession(id: clientID), maxInFlight: configuration.maxInFlightPerConnection,
                maxInFlightBytes: configuration.maxInFlightBytesPerConnection, limits: configuration.decoderLimits, jobs: jobSink, counters: counters
            )
            try channel.pipeline.syncOperations.addHandler(handler)
            let work = ConnectionJobs(jobs: jobs, executor: executor,
                                      handler: NIOLoopBound(handler, eventLoop: channel.eventLoop))
            if case .terminated = sink.yield(work) { channel.close(promise: nil) }
        }
    }
}

/// One connection's queue of backend commands, run by the server's serving task.
private struct ConnectionJobs: Sendable {
    let jobs: AsyncStream<RedisConnectionHandler.Job>
    let executor: RedisCommandExecutor
    let handler: NIOLoopBound<RedisConnectionHandler>

    /// Runs each job concurrently; returns when the connection is closed and its jobs are done.
    func run() async {
        await withDiscardingTaskGroup { group in
            for await job in jobs {
                group.addTask { [executor, handler] in
                    let reply = await executor.execute(job.command)
                    handler.eventLoop.execute {
                        handler.value.replyProduced(sequence: job.sequence, reply: reply)
                    }
                }
            }
        }
    }
}

/// A misuse of ``RedisGatewayServer`` (start twice, start after shutdown).
public struct RedisGatewayError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
