import Synchronization

/// A snapshot of a gateway's counters, as INFO shows them. Counts since the server started.
public struct RedisGatewayStats: Hashable, Sendable {
    /// What INFO and HELLO say the server is: the Redis version whose commands it follows.
    public static let redisVersion = "7.0.0"

    /// Connections accepted (refused ones not included).
    public var connectionsAccepted = 0
    /// Connections open now.
    public var connectionsOpen = 0
    /// Connections refused because `maxConnections` were open.
    public var connectionsRejected = 0
    /// Commands decoded, whatever their reply.
    public var commands = 0
    /// Replies that were errors (unknown command, bad arguments, backend failures, protocol errors).
    public var errorReplies = 0
    /// Connections closed for a protocol error.
    public var protocolErrors = 0
    /// Backend calls that threw.
    public var backendErrors = 0
    /// TCP port the server listens on (0 before it is bound).
    public var port = 0
    /// Whole seconds since the server started.
    public var uptimeSeconds: Int64 = 0

    public init() {}

    /// INFO's bulk string: `# Section` headers and `name:value` lines, CR LF separated.
    /// `sections` as the client gave them (lowercased); empty, `default`, `all` or `everything`
    /// give every section. An unknown section gives nothing, as in Redis.
    public func infoText(sections: [String]) -> String {
        let all = ["server", "clients", "stats", "keyspace"]
        let wanted = sections.isEmpty || sections.contains(where: { ["default", "all", "everything"].contains($0) })
            ? all : all.filter(sections.contains)
        var blocks: [String] = []
        for section in wanted {
            var lines: [String]
            switch section {
            case "server":
                lines = [
                    "# Server",
                    "redis_version:\(Self.redisVersion)",
                    "redis_mode:standalone",
                    "backplane_gateway:1",
                    "arch_bits:64",
                    "tcp_port:\(port)",
                    "uptime_in_seconds:\(uptimeSeconds)",
                    "uptime_in_days:\(uptimeSeconds / 86_400)",
                ]
            case "clients":
                lines = ["# Clients", "connected_clients:\(connectionsOpen)"]
            case "stats":
                lines = [
                    "# Stats",
                    "total_connections_received:\(connectionsAccepted)",
                    "total_commands_processed:\(commands)",
                    "rejected_connections:\(connectionsRejected)",
                    "total_error_replies:\(errorReplies)",
                    "backplane_protocol_errors:\(protocolErrors)",
                    "backplane_backend_errors:\(backendErrors)",
                ]
            default:
                lines = ["# Keyspace"]  // keys live in the backend's shards: no count here
            }
            blocks.append(lines.joined(separator: "\r\n") + "\r\n")
        }
        return blocks.joined(separator: "\r\n")
    }
}

/// The live counters behind ``RedisGatewayStats``, shared by a server's connections.
final class RedisGatewayCounters: Sendable {
    let connectionsAccepted = Atomic<Int>(0)
    let connectionsOpen = Atomic<Int>(0)
    let connectionsRejected = Atomic<Int>(0)
    let commands = Atomic<Int>(0)
    let errorReplies = Atomic<Int>(0)
    let protocolErrors = Atomic<Int>(0)
    let backendErrors = Atomic<Int>(0)
    private let start = Mutex<(port: Int, at: ContinuousClock.Instant)?>(nil)

    /// The server is listening on `port` since `at`.
    func started(port: Int, at: ContinuousClock.Instant) {
        start.withLock { $0 = (port, at) }
    }

    func snapshot(now: ContinuousClock.Instant = .now) -> RedisGatewayStats {
        var s = RedisGatewayStats()
        s.connectionsAccepted = connectionsAccepted.load(ordering: .relaxed)
        s.connectionsOpen = connectionsOpen.load(ordering: .relaxed)
        s.connectionsRejected = connectionsRejected.load(ordering: .relaxed)
        s.commands = commands.load(ordering: .relaxed)
        s.errorReplies = errorReplies.load(ordering: .relaxed)
        s.protocolErrors = protocolErrors.load(ordering: .relaxed)
        s.backendErrors = backendErrors.load(ordering: .relaxed)
        if let (port, at) = start.withLock({ $0 }) {
            s.port = port
            s.uptimeSeconds = (now - at).components.seconds
        }
        return s
    }
}
