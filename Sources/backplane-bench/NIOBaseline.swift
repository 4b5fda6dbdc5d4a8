import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Plain SwiftNIO over the same loopback, with no DCL framing: the floor DCL's overhead is
/// measured against. RTT: the client writes 64 bytes and waits for 64 echoed bytes.
/// Stream: each 64-byte message is its own NIO write, flushed every 256 writes.
enum NIOBaseline {
    static func run(rttSamples: Int, streamMessages: Int) async throws -> [(String, Any)] {
        let serverGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let sink = SinkCounter()
        let server = try await ServerBootstrap(group: serverGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(EchoOrSinkHandler(sink: sink)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = server.localAddress!.port!

        // RTT
        let pingPong = PingPongHandler()
        let rttChannel = try await ClientBootstrap(group: clientGroup)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(pingPong) } }
            .connect(host: "127.0.0.1", port: port).get()
        try await rttChannel.writeAndFlush(ByteBuffer(string: "E"))  // this connection echoes
        let body = ByteBuffer(repeating: 0xAB, count: 64)
        for _ in 0..<2_000 { try await pingPong.ping(body, on: rttChannel) }
        var rtts: [Double] = []
        rtts.reserveCapacity(rttSamples)
        for _ in 0..<rttSamples {
            let t0 = Stats.nowNanoseconds()
            try await pingPong.ping(body, on: rttChannel)
            rtts.append(Double(Stats.nowNanoseconds() - t0) / 1000)
        }
        try await rttChannel.close()

        // Stream
        let streamChannel = try await ClientBootstrap(group: clientGroup)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: "127.0.0.1", port: port).get()
        try await streamChannel.writeAndFlush(ByteBuffer(string: "S"))  // this connection sinks
        func pump(_ count: Int) async throws -> UInt64 {
            let done = sink.expect(bytes: count * 64)
            try await streamChannel.eventLoop.flatSubmit {
                let promise = streamChannel.eventLoop.makePromise(of: Void.self)
                Pump(channel: streamChannel, body: body, remaining: count, done: promise).run()
                return promise.futureResult
            }.get()
            return try await done.get()
        }
        _ = try await pump(streamMessages / 10)
        let t0 = Stats.nowNanoseconds()
        let tEnd = try await pump(streamMessages)
        try await streamChannel.close()
        try await server.close()
        try await clientGroup.shutdownGracefully()
        try await serverGroup.shutdownGracefully()
        return [
            ("nio_rtt_p50_us", Stats.round2(Stats.percentile(rtts, 50))),
            ("nio_rtt_p99_us", Stats.round2(Stats.percentile(rtts, 99))),
            ("nio_stream_msgs_per_s", Int(Double(streamMessages) / (Double(tEnd - t0) / 1e9))),
        ]
    }
}

/// Writes `remaining` messages, flushing every 256, pausing while the channel is not writable.
private final class Pump: @unchecked Sendable {  // only touched on the channel's event loop
    let channel: any Channel
    let body: ByteBuffer
    var remaining: Int
    let done: EventLoopPromise<Void>
    init(channel: any Channel, body: ByteBuffer, remaining: Int, done: EventLoopPromise<Void>) {
        self.channel = channel
        self.body = body
        self.remaining = remaining
        self.done = done
    }
    func run() {
        while remaining > 0 && channel.isWritable {
            let batch = min(256, remaining)
            for _ in 0..<batch { channel.write(body, promise: nil) }
            remaining -= batch
            channel.flush()
        }
        if remaining == 0 {
            done.succeed()
        } else {
            // Not writable: retry shortly (the baseline keeps no writability handler).
            channel.eventLoop.scheduleTask(in: .microseconds(20)) { self.run() }
        }
    }
}

/// Server side: the first byte picks the mode, "E" echo or "S" count.
private final class EchoOrSinkHandler: ChannelInboundHandler, @unchecked Sendable {  // event-loop confined
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let sink: SinkCounter
    var mode: UInt8?
    init(sink: SinkCounter) { self.sink = sink }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if mode == nil { mode = buffer.readInteger(as: UInt8.self) }
        if mode == UInt8(ascii: "E") {
            if buffer.readableBytes > 0 { context.write(wrapOutboundOut(buffer), promise: nil) }
        } else {
            sink.add(buffer.readableBytes)
        }
    }
    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }
}

private final class SinkCounter: Sendable {
    private let state = NIOLockedValueBox<(bytes: Int, target: Int, promise: EventLoopPromise<UInt64>?)>((0, .max, nil))
    private let loop = MultiThreadedEventLoopGroup.singleton.next()
    func expect(bytes: Int) -> EventLoopFuture<UInt64> {
        let p = loop.makePromise(of: UInt64.self)
        state.withLockedValue { s in
            s.bytes = 0
            s.target = bytes
            s.promise = p
        }
        return p.futureResult
    }
    func add(_ n: Int) {
        let p = state.withLockedValue { s -> EventLoopPromise<UInt64>? in
            s.bytes += n
            if s.bytes >= s.target, let p = s.promise {
                s.promise = nil
                return p
            }
            return nil
        }
        p?.succeed(Stats.nowNanoseconds())
    }
}

private final class PingPongHandler: ChannelInboundHandler, @unchecked Sendable {  // state touched on the event loop only
    typealias InboundIn = ByteBuffer
    var waiting: EventLoopPromise<Void>?
    var received = 0
    var expected = 0
    func ping(_ body: ByteBuffer, on channel: any Channel) async throws {
        try await channel.eventLoop.flatSubmit {
            let p = channel.eventLoop.makePromise(of: Void.self)
            self.waiting = p
            self.received = 0
            self.expected = body.readableBytes
            channel.writeAndFlush(body, promise: nil)
            return p.futureResult
        }.get()
    }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += unwrapInboundIn(data).readableBytes
        if received >= expected, let p = waiting {
            waiting = nil
            p.succeed()
        }
    }
}
