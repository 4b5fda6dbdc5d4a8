import BackplaneModel
import DirectCardLinkNIO
import Foundation
import NIOCore
import NIOPosix
import Testing

@Suite("DCL over real sockets on loopback")
struct LoopbackTests {
    /// A second shutdown after the event loops are gone returns (it once re-closed the listener
    /// on a dead loop and waited forever: the BMC's run() shut its node down again after a test
    /// had stopped the loops).
    @Test func shutdownTwiceAfterTheLoopsAreGoneReturns() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let node = DCLNode(configuration: .init(cardID: .bmc, role: .controller), group: group)
        try await node.listen(on: .tcp(host: "127.0.0.1", port: 0))
        await node.shutdown()
        try await group.shutdownGracefully()
        await node.shutdown()
    }

    @Test("three endpoints over TCP: card A reaches card C through the BMC, and C answers back")
    func routedHop() async throws {
        let bus = try await Bus.start()
        #expect(bus.a.cardID != .unassigned && bus.c.cardID != .unassigned && bus.a.cardID != bus.c.cardID)
        #expect(bus.bmc.connectedPeers == [bus.a.cardID, bus.c.cardID].sorted())
        #expect(bus.a.connectedPeers == [.bmc], "A has no direct link to C")
        bus.c.onRequest("echo") { delivery in
            var out = ByteBuffer(string: "from \(delivery.source): ")
            out.writeImmutableBuffer(delivery.body)
            return out
        }
        let reply = try await bus.a.request(to: bus.c.cardID, endpoint: "echo", body: ByteBuffer(string: "ping"))
        #expect(reply.text == "from \(bus.a.cardID): ping")

        // One-way messages take the same hop; a large one is fragmented on both links.
        let (stream, sink) = AsyncStream.makeStream(of: Delivery.self)
        bus.c.onMessage("sink") { sink.yield($0) }
        try bus.a.send(to: bus.c.cardID, endpoint: "sink", body: ByteBuffer(repeating: 7, count: 1 << 20), qos: .bulk)
        var iterator = stream.makeAsyncIterator()
        let big = try #require(await iterator.next())
        #expect(big.body.readableBytes == 1 << 20 && big.body.readableBytesView.allSatisfy { $0 == 7 })
        #expect(big.source == bus.a.cardID && big.qos.class == .bulk && !big.isRequest)
        try await bus.stop()
    }

    @Test("routing table entries can change at runtime; unknown cards and endpoints fail clearly")
    func routingErrors() async throws {
        let bus = try await Bus.start()
        bus.a.setDefaultRoute(nil)
        await #expect(throws: DCLError.self) {
            try await bus.a.request(to: bus.c.cardID, endpoint: "echo", body: ByteBuffer())
        }
        bus.a.setRoute(to: bus.c.cardID, via: .bmc)
        do {
            _ = try await bus.a.request(to: bus.c.cardID, endpoint: "missing", body: ByteBuffer())
            Issue.record("expected noSuchEndpoint")
        } catch let error as DCLError {
            #expect(error.status == .noSuchEndpoint && error.message.contains("missing"))
        }
        do {
            _ = try await bus.a.request(to: CardID(0x7_000000), endpoint: "x", body: ByteBuffer())
            Issue.record("expected noRoute")
        } catch let error as DCLError {
            #expect(error.status == .noRoute, "the BMC has no link to that card: \(error)")
        }
        try await bus.stop()
    }

    @Test("Unix-domain-socket transport")
    func unixSocket() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("dcl-test-\(getpid()).sock").path
        let bus = try await Bus.start(address: .unix(path: path))
        bus.bmc.onRequest("time") { _ in ByteBuffer(string: "ok") }
        #expect(try await bus.a.request(to: .bmc, endpoint: "time", body: ByteBuffer()).text == "ok")
        try await bus.stop()
        try? FileManager.default.removeItem(atPath: path)
    }

    @Test("one-sided read and write into a registered region, with wrong key and out-of-bounds rejected")
    func oneSided() async throws {
        let bus = try await Bus.start()
        let region = MemoryRegion(id: 9, length: 4096, key: 0xC0FFEE)
        bus.c.regions.register(region)
        try bus.c.announce(region, to: bus.a.cardID)
        let data = ByteBuffer(bytes: Array(0..<200).map { UInt8($0) })
        try await bus.a.remoteWrite(to: bus.c.cardID, region: 9, key: 0xC0FFEE, offset: 100, data: data)
        #expect(region.withBytes { Array($0[100..<300]) } == Array(0..<200).map { UInt8($0) })
        let back = try await bus.a.remoteRead(from: bus.c.cardID, region: 9, key: 0xC0FFEE, offset: 150, length: 10)
        #expect(Array(back.readableBytesView) == Array(50..<60).map { UInt8($0) })
        do {
            try await bus.a.remoteWrite(to: bus.c.cardID, region: 9, key: 0xBAD, offset: 0, data: data)
            Issue.record("wrong key accepted")
        } catch let error as DCLError {
            #expect(error.status == .regionKeyMismatch)
        }
        do {
            _ = try await bus.a.remoteRead(from: bus.c.cardID, region: 9, key: 0xC0FFEE, offset: 4000, length: 200)
            Issue.record("out-of-bounds read accepted")
        } catch let error as DCLError {
            #expect(error.status == .regionOutOfBounds)
        }
        #expect(region.withBytes { $0[0] } == 0, "the rejected write changed nothing")
        #expect(bus.a.announcedRegions(of: bus.c.cardID)[9]?.key == 0xC0FFEE)
        try await bus.stop()
    }

    @Test("shard-routed requests reach the owning card through the router's shard map")
    func shardRouted() async throws {
        let bus = try await Bus.start()
        bus.bmc.setShardTable(ShardTable(workloads: ["kv": try #require(.init(epoch: 4, ranges: [(lower: 0, shard: 0, owner: bus.c.cardID)]))]))
        bus.c.onRequest("get") { d in
            ByteBuffer(string: "\(d.shard?.workload ?? "-")/\(d.shard?.key.text ?? "-")@\(d.shard?.epoch ?? 0)")
        }
        let reply = try await bus.a.request(workload: "kv", shardKey: ByteBuffer(string: "user:42"), endpoint: "get", body: ByteBuffer(), via: .bmc)
        #expect(reply.text == "kv/user:42@4")
        do {
            _ = try await bus.a.request(workload: "nope", shardKey: ByteBuffer(string: "k"), endpoint: "get", body: ByteBuffer(), via: .bmc)
            Issue.record("unknown workload routed")
        } catch let error as DCLError {
            #expect(error.status == .noShardOwner)
        }
        try await bus.stop()
    }

    @Test("async request handlers run in the node's run() task group")
    func asyncHandlers() async throws {
        let bus = try await Bus.start()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await bus.c.run() }
            bus.c.onRequest("slow", async: { d in
                await Task.yield()
                return d.body
            })
            let replies = try await withThrowingTaskGroup(of: String.self) { requests in
                for i in 0..<20 {
                    requests.addTask { try await bus.a.request(to: bus.c.cardID, endpoint: "slow", body: ByteBuffer(string: "\(i)")).text }
                }
                return try await requests.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(replies == Set((0..<20).map(String.init)))
            try await bus.stop()
        }
    }

    @Test("commands and events travel on the control class")
    func commandsAndEvents() async throws {
        let bus = try await Bus.start()
        bus.a.onRequest("start-instance") { d in
            #expect(d.qos.class == .control)
            return ByteBuffer(string: "started \(d.body.text)")
        }
        #expect(try await bus.bmc.command(to: bus.a.cardID, name: "start-instance", body: ByteBuffer(string: "web-1")).text == "started web-1")
        let (events, sink) = AsyncStream.makeStream(of: String.self)
        bus.bmc.onMessage("instance-exited") { sink.yield("\($0.source) \($0.body.text)") }
        try bus.a.emit(event: "instance-exited", to: .bmc, body: ByteBuffer(string: "web-1"))
        var it = events.makeAsyncIterator()
        #expect(await it.next() == "\(bus.a.cardID) web-1")
        try await bus.stop()
    }
}

@Suite("DCL streams on loopback")
struct StreamTests {
    @Test("small messages, big messages and requests on one class arrive in the order they were sent")
    func fifoAcrossPaths() async throws {
        let bus = try await Bus.start()
        let (stream, sink) = AsyncStream.makeStream(of: Int.self)
        bus.c.onMessage("seq") { d in sink.yield(Int(d.body.getInteger(at: d.body.readerIndex, as: UInt32.self)!)) }
        let sender = try bus.a.sender(to: bus.c.cardID, endpoint: "seq", qos: .interactive)
        let total = 5_000
        for i in 0..<total {
            var body = ByteBuffer(integer: UInt32(i))
            if i % 1000 == 999 { body.writeRepeatingByte(0, count: 100_000) }  // fragmented, not a run
            if i % 2 == 0 { try sender.send(body) } else { try bus.a.send(to: bus.c.cardID, endpoint: "seq", body: body) }
            if i % 256 == 0 { try await sender.waitUntilWritable() }
        }
        var received: [Int] = []
        for await i in stream {
            received.append(i)
            if received.count == total { break }
        }
        #expect(received == Array(0..<total))
        try await bus.stop()
    }
}
