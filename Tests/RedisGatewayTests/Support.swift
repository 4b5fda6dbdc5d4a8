import NIOCore
import NIOPosix
@testable import RedisGateway

/// Seeded generator for the property tests; the seed goes in every failure message.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Bytes from text.
func b(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A command as client libraries send it.
func multibulk(_ arguments: [[UInt8]]) -> [UInt8] {
    var out = b("*\(arguments.count)\r\n")
    for a in arguments { out += b("$\(a.count)\r\n") + a + b("\r\n") }
    return out
}

func multibulk(_ arguments: String...) -> [UInt8] { multibulk(arguments.map(b)) }

/// A test-side parser for server replies (every RESP2 type). Returns nil when `bytes` from
/// `start` holds no complete value.
enum ReplyParser {
    static func parse(_ bytes: [UInt8], from start: Int = 0) -> (value: RESPValue, end: Int)? {
        guard start < bytes.count else { return nil }
        guard let crlf = line(bytes, start + 1) else { return nil }
        let text = String(decoding: bytes[(start + 1)..<crlf], as: UTF8.self)
        let next = crlf + 2
        switch bytes[start] {
        case UInt8(ascii: "+"): return (.simpleString(text), next)
        case UInt8(ascii: "-"): return (.error(text), next)
        case UInt8(ascii: ":"): return (.integer(Int64(text)!), next)
        case UInt8(ascii: "$"):
            let n = Int(text)!
            if n < 0 { return (.bulkString(nil), next) }
            guard bytes.count >= next + n + 2 else { return nil }
            return (.bulkString(Array(bytes[next..<(next + n)])), next + n + 2)
        case UInt8(ascii: "*"):
            let n = Int(text)!
            if n < 0 { return (.array(nil), next) }
            var elements: [RESPValue] = []
            var at = next
            for _ in 0..<n {
                guard let (v, end) = parse(bytes, from: at) else { return nil }
                elements.append(v)
                at = end
            }
            return (.array(elements), at)
        default:
            fatalError("not a RESP reply at \(start): \(bytes[start])")
        }
    }

    /// Every complete reply in `bytes`.
    static func all(_ bytes: [UInt8]) -> [RESPValue] {
        var values: [RESPValue] = []
        var at = 0
        while let (v, end) = parse(bytes, from: at) {
            values.append(v)
            at = end
        }
        return values
    }

    private static func line(_ bytes: [UInt8], _ from: Int) -> Int? {
        var i = from
        while i + 1 < bytes.count {
            if bytes[i] == 13 && bytes[i + 1] == 10 { return i }
            i += 1
        }
        return nil
    }
}

/// A raw TCP client: writes bytes, reads replies, sees the close.
struct RawConnection {
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    /// Everything read so far.
    private(set) var received: [UInt8] = []
    private var parsed = 0
    private(set) var closed = false

    static func with<R>(port: Int, _ body: (inout RawConnection) async throws -> R) async throws -> R {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var connection = RawConnection(inbound: inbound.makeAsyncIterator(), outbound: outbound)
            return try await body(&connection)
        }
    }

    private init(inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) {
        self.inbound = inbound
        self.outbound = outbound
    }

    func send(_ bytes: [UInt8]) async throws {
        try await outbound.write(ByteBuffer(bytes: bytes))
    }

    /// Reads until `count` more replies have arrived (fewer if the server closes first).
    mutating func replies(_ count: Int) async throws -> [RESPValue] {
        var values: [RESPValue] = []
        while values.count < count {
            if let (v, end) = ReplyParser.parse(received, from: parsed) {
                values.append(v)
                parsed = end
                continue
            }
            guard try await readMore() else { break }
        }
        return values
    }

    mutating func reply() async throws -> RESPValue? { try await replies(1).first }

    /// Reads until the server closes; returns the replies not yet returned.
    mutating func repliesUntilClosed() async throws -> [RESPValue] {
        while try await readMore() {}
        let rest = ReplyParser.all(Array(received[parsed...]))
        parsed = received.count
        return rest
    }

    private mutating func readMore() async throws -> Bool {
        guard !closed else { return false }
        do {
            guard let chunk = try await inbound.next() else {
                closed = true
                return false
            }
            received += chunk.readableBytesView
            return true
        } catch {
            closed = true  // reset by the peer counts as closed
            return false
        }
    }
}

/// A backend whose gated operations ("get", "set", "delete" of a key) wait until the test opens
/// the gate; counts concurrency. An unset key reads as itself.
actor GatedBackend: KeyValueBackend {
    private var values: [[UInt8]: [UInt8]] = [:]
    private let gated: @Sendable (String, [UInt8]) -> Bool
    private var open = false
    private var waiting: [CheckedContinuation<Void, Never>] = []
    private var startedWaiters: [(Int, CheckedContinuation<Void, Never>)] = []
    private var finishedWaiters: [(Int, CheckedContinuation<Void, Never>)] = []
    private(set) var started = 0
    private(set) var finished = 0
    private(set) var active = 0
    private(set) var maxActive = 0
    /// Keys in the order their operations finished.
    private(set) var finishOrder: [[UInt8]] = []

    init(gated: @escaping @Sendable (_ operation: String, _ key: [UInt8]) -> Bool = { _, _ in true }) {
        self.gated = gated
    }

    func get(_ key: [UInt8]) async -> [UInt8]? {
        await enter("get", key)
        defer { leave(key) }
        return values[key] ?? key  // echoes the key when unset, so replies show which key they answer
    }

    func set(_ key: [UInt8], _ value: [UInt8]) async {
        await enter("set", key)
        values[key] = value
        leave(key)
    }

    func delete(_ key: [UInt8]) async -> Bool {
        await enter("delete", key)
        defer { leave(key) }
        return values.removeValue(forKey: key) != nil
    }

    func openGate() {
        open = true
        for w in waiting { w.resume() }
        waiting = []
    }

    func waitUntilStarted(_ n: Int) async {
        if started >= n { return }
        await withCheckedContinuation { startedWaiters.append((n, $0)) }
    }

    func waitUntilFinished(_ n: Int) async {
        if finished >= n { return }
        await withCheckedContinuation { finishedWaiters.append((n, $0)) }
    }

    private func enter(_ operation: String, _ key: [UInt8]) async {
        started += 1
        active += 1
        maxActive = max(maxActive, active)
        startedWaiters.removeAll { n, c in
            if started >= n { c.resume(); return true }
            return false
        }
        if !open && gated(operation, key) {
            await withCheckedContinuation { waiting.append($0) }
        }
    }

    private func leave(_ key: [UInt8]) {
        active -= 1
        finished += 1
        finishOrder.append(key)
        finishedWaiters.removeAll { n, c in
            if finished >= n { c.resume(); return true }
            return false
        }
    }
}

/// A backend that fails every call.
struct FailingBackend: KeyValueBackend {
    func get(_ key: [UInt8]) async throws -> [UInt8]? { throw KeyValueBackendError(.unavailable, "shard 3 is unreachable") }
    func set(_ key: [UInt8], _ value: [UInt8]) async throws { throw KeyValueBackendError(.timeout, "set timed out after 2s") }
    func delete(_ key: [UInt8]) async throws -> Bool { throw PlainError() }
    struct PlainError: Error, CustomStringConvertible { var description: String { "plain failure" } }
}
