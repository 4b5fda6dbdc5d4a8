import BackplaneModel
import Foundation
import DirectCardLinkNIO
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// Collects everything a raw socket receives until the peer closes.
private final class Collector: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let done: EventLoopPromise<ByteBuffer>
    private let received = NIOLockedValueBox(ByteBuffer())
    init(loop: any EventLoop) {
        done = loop.makePromise()
    }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        received.withLockedValue { $0.writeBuffer(&bytes) }
    }
    func channelInactive(context: ChannelHandlerContext) { done.succeed(received.withLockedValue { $0 }) }
}

@Suite("DCL handshake and hostile peers")
struct HandshakeAndHostileInputTests {
    /// The hostile test's finding: plain TCP connections to a TLS listener that never started
    /// TLS stayed open forever; 20,000 of them took the BMC's descriptors. Now every accepted
    /// connection has the handshake timeout from accept to a link, TLS included.
    @Test(arguments: [true, false])
    func silentConnectionsAreClosedAfterTheHandshakeTimeout(tls: Bool) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var config = DCLNode.Configuration(cardID: .bmc, role: .controller)
        config.handshakeTimeout = .milliseconds(200)
        config.admission = .assigning()
        let node = DCLNode(configuration: config, group: group)
        let address = try await node.listen(on: .tcp(host: "127.0.0.1", port: 0), tls: tls ? try Fixtures.context(server: true, name: "bmc") : nil)
        guard case .tcp(_, let port) = address else { throw DCLError(.noRoute, "no port") }
        // A client that connects and says nothing; recv returns 0 when the server closes.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)  // a safety net: the close comes after 200 ms
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        #expect(connected == 0)
        var buffer = [UInt8](repeating: 0, count: 4096)
        var received = 1
        while received > 0 { received = recv(fd, &buffer, buffer.count, 0) }
        #expect(received == 0, "the server closed the silent connection (recv: \(received), errno \(errno))")
        await node.shutdown()
        try await group.shutdownGracefully()
    }

    @Test("a card with no common protocol version is refused with the reason")
    func versionMismatch() async throws {
        let bus = try await Bus.start()
        var config = DCLNode.Configuration(cardID: .unassigned, role: .card)
        config.versions = 2...3
        config.token = "join-me"
        let future = DCLNode(configuration: config, group: bus.group)
        do {
            _ = try await future.connect(to: bus.address)
            Issue.record("connected without a common version")
        } catch let error as DCLError {
            #expect(error.status == .versionMismatch)
            #expect(error.message.contains("2...3") && error.message.contains("1...1"))
        }
        await future.shutdown()
        try await bus.stop()
    }

    @Test("a wrong join token is refused")
    func badToken() async throws {
        let bus = try await Bus.start()
        let stranger = DCLNode(configuration: .init(cardID: .unassigned, role: .card), group: bus.group)
        await #expect(throws: DCLError(.unauthorized, "join token rejected")) { try await stranger.connect(to: bus.address) }
        await stranger.shutdown()
        try await bus.stop()
    }

    @Test("garbage bytes get a close frame with the reason; the node keeps serving others", arguments: [
        [UInt8](repeating: 0x41, count: 64),
        [0xDC, 0x1C, 0x07] + [UInt8](repeating: 0, count: 60),
        [0xDC, 0x1C, 0x01, 0x00, 0x00, 0x01, 0x00, 0x80] + [UInt8](repeating: 0xFF, count: 40),
    ])
    func hostileBytes(garbage: [UInt8]) async throws {
        let bus = try await Bus.start()
        guard case .tcp(let host, let port) = bus.address else { return }
        let loop = bus.group.next()
        let collector = Collector(loop: loop)
        let channel = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) } }
            .connect(host: host, port: port).get()
        try await channel.writeAndFlush(ByteBuffer(bytes: garbage))
        let reply = try await collector.done.futureResult.get()
        var decoder = FrameDecoder()
        decoder.append(reply)
        let frame = try #require(try decoder.nextFrame())
        guard case .close(let close) = try Message.decode(type: frame.header.type, payload: frame.payload) else {
            Issue.record("expected a close frame, got \(frame.header.type)")
            return
        }
        #expect(close.status == .protocolError && !close.reason.isEmpty)
        bus.bmc.onRequest("ping") { _ in ByteBuffer(string: "pong") }
        #expect(try await bus.a.request(to: .bmc, endpoint: "ping", body: ByteBuffer()).text == "pong")
        try await bus.stop()
    }

    @Test("mutual TLS: a card with a bus certificate joins; one from another CA is refused")
    func mutualTLS() async throws {
        let server = try Fixtures.context(server: true, name: "bmc")
        let client = try Fixtures.context(server: false, name: "card")
        let bus = try await Bus.start(serverTLS: server, clientTLS: client)
        bus.c.onRequest("secret") { _ in ByteBuffer(string: "over TLS") }
        #expect(try await bus.a.request(to: bus.c.cardID, endpoint: "secret", body: ByteBuffer()).text == "over TLS")

        var config = DCLNode.Configuration(cardID: .unassigned, role: .card)
        config.token = "join-me"
        let rogue = DCLNode(configuration: config, group: bus.group)
        let rogueTLS = try Fixtures.context(server: false, name: "rogue")
        await #expect(throws: (any Error).self) { try await rogue.connect(to: bus.address, tls: rogueTLS, serverHostname: "localhost") }
        let plain = DCLNode(configuration: config, group: bus.group)
        await #expect(throws: (any Error).self) { try await plain.connect(to: bus.address) }
        await rogue.shutdown()
        await plain.shutdown()
        try await bus.stop()
    }
}
