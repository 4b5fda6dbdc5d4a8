import ArgumentParser
import BackplaneModel
import DirectCardLinkNIO
import Foundation
import KeyValueApp
import Logging
import NIOCore
import RedisGateway
import ServiceLifecycle

struct Gateway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a sharded key-value workload to Redis clients (a subset of RESP2).",
        discussion: """
        Listens for Redis clients (redis-cli, redis-benchmark, client libraries) and sends each \
        key's GET, SET or DEL over DCL to the instance that owns the key's shard, as a data \
        client of the bus (the API token of the client config). Supported: PING, ECHO, GET, SET \
        (no options), DEL, MGET, MSET, EXISTS, INFO, CONFIG GET, COMMAND, SELECT 0, CLIENT, QUIT. \
        A request whose shard's card is unreachable for now is retried for --retry seconds, then \
        answered with -ERR. Stop it with Ctrl-C.

        Example: backplane gateway kv --port 6380 &  redis-cli -p 6380 set user:1 alice
        """)
    @Argument(help: "The workload name (one running the key-value app, examples/kv.yaml).") var name: String
    @Option(help: "Where Redis clients connect.") var host = "127.0.0.1"
    @Option(help: "Port for Redis clients.") var port = 6380
    @Option(help: "Seconds to retry a request whose shard's card is unreachable for now.") var retry: Double = 5
    @Option(help: "The BMC's DCL address, host:port (default: the API's host, its port + 1).") var bus: String?
    @Option(help: "The workload's tenant (default: the token's; a bus-admin's is default).") var tenant: String?
    @OptionGroup var options: BMCOptions

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port: \(port); must be 0 to 65535") }
        guard (0...600).contains(retry) else { throw ValidationError("--retry: \(retry); must be 0 to 600 seconds") }
    }

    func run() async throws {
        try await runClient {
            let client = try await ShardClient.connect(options: options, bus: bus, workload: name, tenant: tenant)
            let backend = ShardedKeyValueBackend(client: client, retryFor: .milliseconds(Int64(retry * 1000)))
            let server = RedisGatewayServer(backend: backend)
            let address: SocketAddress
            do {
                address = try await server.start(host: host, port: port)
            } catch {
                await client.close()
                throw CLIError("gateway: cannot listen on \(host):\(port): \(error)", exitCode: 1)
            }
            print("gateway: Redis clients at \(host):\(address.port ?? port) → workload \(client.workload) over DCL (Ctrl-C stops)")
            fflush(nil)  // long-running: show it now, also when stdout is a pipe or file
            let services = ServiceGroup(configuration: .init(
                services: [.init(service: GatewayService(server: server, client: client))],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: Logger(label: "backplane.gateway")
            ))
            try await services.run()
            print("gateway: stopped")
        }
    }
}

/// Runs until graceful shutdown, then closes the listener and the DCL link.
struct GatewayService: Service {
    let server: RedisGatewayServer
    let client: ShardClient
    func run() async throws {
        try? await gracefulShutdown()
        await server.shutdown()
        await client.close()
    }
}

/// The gateway's backend: each key to its shard's owner over DCL (the key-value app's wire).
struct ShardedKeyValueBackend: KeyValueBackend {
    let client: ShardClient
    let retryFor: Duration

    func get(_ key: [UInt8]) async throws -> [UInt8]? {
        switch try await call(key, KeyValueWire.request(.get)) {
        case .value(let v): return Array(v.readableBytesView)
        case .notFound: return nil
        case let other: throw KeyValueBackendError(.failed, "the app answered GET with \(other)")
        }
    }

    func set(_ key: [UInt8], _ value: [UInt8]) async throws {
        guard value.count <= KeyValueWire.maximumValueBytes else {
            throw KeyValueBackendError(.tooLarge, "value of \(value.count) bytes; the key-value app stores at most \(KeyValueWire.maximumValueBytes)")
        }
        let answer = try await call(key, KeyValueWire.request(.set, value: ByteBuffer(bytes: value)))
        guard answer == .stored else { throw KeyValueBackendError(.failed, "the app answered SET with \(answer)") }
    }

    func delete(_ key: [UInt8]) async throws -> Bool {
        guard case .deleted(let existed) = try await call(key, KeyValueWire.request(.delete)) else {
            throw KeyValueBackendError(.failed, "the app answered DEL with something else")
        }
        return existed
    }

    private func call(_ key: [UInt8], _ body: ByteBuffer) async throws -> KeyValueWire.Answer {
        guard key.count <= Int(UInt16.max) else { throw KeyValueBackendError(.tooLarge, "key of \(key.count) bytes; at most 65535") }
        let deadline = ContinuousClock.now + retryFor
        var attempt = 0
        while true {
            do {
                return try KeyValueWire.decodeAnswer(try await client.request(key: ByteBuffer(bytes: key), body: body))
            } catch let error as DCLError where KeyValueLoad.isTransient(error) {
                guard ContinuousClock.now < deadline else {
                    throw KeyValueBackendError(error.status == .timeout ? .timeout : .unavailable, "the key's shard is unreachable: \(error.message)")
                }
                attempt += 1
                try await Task.sleep(for: .milliseconds(min(200, 5 << min(attempt, 5))))  // retry backoff
            } catch let error as DCLError {
                throw KeyValueBackendError(.failed, error.message)
            } catch let error as KeyValueError {
                throw KeyValueBackendError(.failed, error.message)
            }
        }
    }
}
