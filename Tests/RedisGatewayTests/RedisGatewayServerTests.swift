import NIOCore
import NIOPosix
import Testing
@testable import RedisGateway

private func withServer<R>(
    _ backend: some KeyValueBackend = InMemoryKeyValueBackend(),
    configuration: RedisGatewayServer.Configuration = .init(),
    _ body: (RedisGatewayServer, Int) async throws -> R
) async throws -> R {
    try await RedisGatewayServer.withServer(backend: backend, port: 0, configuration: configuration) { server, address in
        try await body(server, address.port!)
    }
}

@Suite("Gateway server on loopback", .timeLimit(.minutes(1)))
struct RedisGatewayServerTests {
    @Test("start on port 0 returns the bound port; shutdown closes listener and clients")
    func startAndShutdown() async throws {
        let server = RedisGatewayServer(backend: InMemoryKeyValueBackend())
        let address = try await server.start(port: 0)
        let port = try #require(address.port)
        #expect(port > 0)
        #expect(server.stats.port == port)
        try await RawConnection.with(port: port) { c in
            try await c.send(b("PING\r\n"))
            #expect(try await c.reply() == .simpleString("PONG"))
            await server.shutdown()
            #expect(try await c.repliesUntilClosed() == [])
            #expect(c.closed)
        }
        await server.shutdown()  // idempotent
        await #expect(throws: (any Error).self) {
            try await RawConnection.with(port: port) { _ in }
        }
    }

    @Test("100 pipelined SET and GET in one write are answered in order")
    func pipelining() async throws {
        try await withServer { _, port in
            try await RawConnection.with(port: port) { c in
                var request: [UInt8] = []
                var expected: [RESPValue] = []
                for i in 0..<50 {
                    request += multibulk("SET", "key:\(i % 7)", "value-\(i)")
                    request += multibulk("GET", "key:\(i % 7)")
                    expected += [.ok, .bulk("value-\(i)")]
                }
                try await c.send(request)
                #expect(try await c.replies(100) == expected)
            }
        }
    }

    @Test("replies keep request order when the backend finishes them out of order")
    func outOfOrderBackend() async throws {
        let backend = GatedBackend(gated: { _, key in key == b("slow") })
        try await withServer(backend) { _, port in
            try await RawConnection.with(port: port) { c in
                try await c.send(multibulk("GET", "slow") + multibulk("GET", "fast1") + b("PING\r\n") + multibulk("GET", "fast2"))
                await backend.waitUntilFinished(2)  // both fast GETs are done while the slow one waits
                await backend.openGate()
                #expect(try await c.replies(4) == [.bulk("slow"), .bulk("fast1"), .simpleString("PONG"), .bulk("fast2")])
                #expect(await backend.finishOrder == [b("fast1"), b("fast2"), b("slow")])
            }
        }
    }

    @Test("at most maxInFlight commands of a connection reach the backend at once")
    func backpressure() async throws {
        let backend = GatedBackend()
        let configuration = RedisGatewayServer.Configuration(maxInFlightPerConnection: 8)
        try await withServer(backend, configuration: configuration) { server, port in
            try await RawConnection.with(port: port) { c in
                var request: [UInt8] = []
                for i in 0..<200 { request += multibulk("GET", "k\(i)") }
                try await c.send(request)
                await backend.waitUntilStarted(8)
                #expect(server.stats.commands == 8, "decoding stopped at the bound")
                await backend.openGate()
                let replies = try await c.replies(200)
                #expect(replies == (0..<200).map { .bulk("k\($0)") })
                #expect(await backend.maxActive <= 8)
            }
        }
    }

    @Test("a pipelined GET after a SET of the same key reads the new value, however slow the SET")
    func readYourWrites() async throws {
        let backend = GatedBackend(gated: { operation, _ in operation == "set" })
        try await withServer(backend) { _, port in
            try await RawConnection.with(port: port) { c in
                try await c.send(multibulk("SET", "k", "v") + multibulk("GET", "k") + multibulk("GET", "other"))
                await backend.waitUntilFinished(1)  // GET other, not held back by the slow SET of k
                await backend.openGate()
                #expect(try await c.replies(3) == [.ok, .bulk("v"), .bulk("other")])
                #expect(await backend.finishOrder == [b("other"), b("k"), b("k")])
            }
        }
    }

    @Test("a protocol error gets -ERR Protocol error after earlier replies, then the connection closes")
    func protocolErrorCloses() async throws {
        try await withServer { server, port in
            try await RawConnection.with(port: port) { c in
                try await c.send(b("PING\r\n") + b("*1\r\n$-5\r\n") + b("PING\r\n"))
                let replies = try await c.repliesUntilClosed()
                #expect(replies == [.simpleString("PONG"), .error("ERR Protocol error: bulk length -5 at byte 10 is negative")])
                #expect(c.closed)
            }
            #expect(server.stats.protocolErrors == 1)
        }
    }

    @Test("a huge declared bulk length is refused at once, without waiting for or allocating its bytes")
    func hugeBulkLength() async throws {
        try await withServer { _, port in
            try await RawConnection.with(port: port) { c in
                try await c.send(b("*2\r\n$3\r\nGET\r\n$99999999999\r\n"))
                #expect(try await c.repliesUntilClosed() == [
                    .error("ERR Protocol error: bulk length 99999999999 at byte 13 exceeds 67108864"),
                ])
            }
            // The server is still there for others.
            try await RawConnection.with(port: port) { c in
                try await c.send(b("PING\r\n"))
                #expect(try await c.reply() == .simpleString("PONG"))
            }
        }
    }

    @Test("keys and values are binary-safe; DEL, EXISTS, MGET, MSET count and order as Redis")
    func keyCommands() async throws {
        let backend = InMemoryKeyValueBackend()
        try await withServer(backend) { _, port in
            try await RawConnection.with(port: port) { c in
                let key: [UInt8] = [0, 13, 10, 255, 36]
                let value: [UInt8] = Array(0...255)
                try await c.send(multibulk([b("SET"), key, value]) + multibulk([b("GET"), key]))
                #expect(try await c.replies(2) == [.ok, .bulkString(value)])
                try await c.send(multibulk("MSET", "a", "1", "b", "2", "a", "3"))
                try await c.send(multibulk("MGET", "a", "nope", "b", "a"))
                try await c.send(multibulk("EXISTS", "a", "a", "nope"))
                try await c.send(multibulk("DEL", "a", "a", "nope", "b"))
                try await c.send(multibulk("GET", "a"))
                #expect(try await c.replies(5) == [
                    .ok, .array([.bulk("3"), .null, .bulk("2"), .bulk("3")]), .integer(2), .integer(2), .null,
                ])
            }
            #expect(await backend.contents == [[0, 13, 10, 255, 36]: Array(0...255)])
        }
    }

    @Test("a backend error reaches the client as -ERR <message> and the connection stays open")
    func backendErrors() async throws {
        try await withServer(FailingBackend()) { server, port in
            try await RawConnection.with(port: port) { c in
                try await c.send(multibulk("GET", "k") + multibulk("SET", "k", "v") + multibulk("DEL", "k") + b("PING\r\n"))
                #expect(try await c.replies(4) == [
                    .error("ERR shard 3 is unreachable"), .error("ERR set timed out after 2s"), .error("ERR plain failure"),
                    .simpleString("PONG"),
                ])
            }
            #expect(server.stats.backendErrors == 3)
            #expect(server.stats.errorReplies == 3)
        }
    }

    @Test("QUIT answers +OK and closes")
    func quit() async throws {
        try await withServer { _, port in
            try await RawConnection.with(port: port) { c in
                try await c.send(multibulk("SET", "k", "v") + b("QUIT\r\n") + b("PING\r\n"))
                #expect(try await c.repliesUntilClosed() == [.ok, .ok])
            }
        }
    }

    @Test("INFO shows the server section and the counters")
    func info() async throws {
        try await withServer { server, port in
            try await RawConnection.with(port: port) { c in
                try await c.send(b("PING\r\nNOPE\r\nINFO\r\n"))
                let replies = try await c.replies(3)
                guard case .bulkString(let bytes?) = replies.last else {
                    Issue.record("INFO is not a bulk string: \(replies)")
                    return
                }
                let text = String(decoding: bytes, as: UTF8.self)
                #expect(text.hasPrefix("# Server\r\nredis_version:7.0.0\r\n"))
                #expect(text.contains("backplane_gateway:1\r\n"))
                #expect(text.contains("tcp_port:\(port)\r\n"))
                #expect(text.contains("connected_clients:1\r\n"))
                #expect(text.contains("total_commands_processed:3\r\n"))
                #expect(text.contains("total_error_replies:1\r\n"))
            }
            #expect(server.stats.connectionsAccepted == 1)
        }
    }

    @Test("one connection over maxConnections is told so and closed")
    func maxConnections() async throws {
        try await withServer(configuration: .init(maxConnections: 1)) { server, port in
            try await RawConnection.with(port: port) { first in
                try await first.send(b("PING\r\n"))
                #expect(try await first.reply() == .simpleString("PONG"))
                try await RawConnection.with(port: port) { (second: inout RawConnection) async throws in
                    #expect(try await second.repliesUntilClosed() == [.error("ERR max number of clients reached")])
                }
            }
            #expect(server.stats.connectionsRejected == 1)
        }
    }

    @Test("commands split across many small writes are answered")
    func byteAtATime() async throws {
        try await withServer { _, port in
            try await RawConnection.with(port: port) { c in
                let request = multibulk("SET", "k", "v") + b("GET k\r\n")
                for byte in request { try await c.send([byte]) }
                #expect(try await c.replies(2) == [.ok, .bulk("v")])
            }
        }
    }

    @Test("a many-key MGET runs at most 64 backend calls at once and answers every key in order")
    func manyKeyMget() async throws {
        let backend = GatedBackend()
        try await withServer(backend) { _, port in
            try await RawConnection.with(port: port) { c in
                let keys = (0..<1000).map { "k\($0)" }
                try await c.send(multibulk((["MGET"] + keys).map(b)))
                await backend.waitUntilStarted(RedisCommandExecutor.maxConcurrentKeys)
                await backend.openGate()
                #expect(try await c.reply() == .array(keys.map { .bulk($0) }))
                #expect(await backend.maxActive == RedisCommandExecutor.maxConcurrentKeys)
            }
        }
    }

    @Test("start on a port in use throws, and the server is left shut down")
    func portInUse() async throws {
        try await withServer { _, port in
            let second = RedisGatewayServer(backend: InMemoryKeyValueBackend())
            await #expect(throws: (any Error).self) { try await second.start(port: port) }
            await #expect(throws: RedisGatewayError.self) { try await second.start(port: 0) }
            await second.shutdown()
        }
    }
}
