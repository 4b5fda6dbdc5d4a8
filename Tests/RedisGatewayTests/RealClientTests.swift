import Foundation
import Testing
@testable import RedisGateway

/// The full path of `tool` on PATH, or nil.
private func which(_ tool: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for directory in path.split(separator: ":") {
        let candidate = "\(directory)/\(tool)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

private let redisCLI = which("redis-cli")
private let redisBenchmark = which("redis-benchmark")
private let toolsInstalled: Bool = {
    if redisCLI == nil { print("SKIPPED: redis-cli not installed (apt-get install redis-tools)") }
    if redisBenchmark == nil { print("SKIPPED: redis-benchmark not installed (apt-get install redis-tools)") }
    return redisCLI != nil && redisBenchmark != nil
}()

/// Runs a tool to its exit, its output (stdout and stderr) to a file so a chatty tool never
/// blocks on a full pipe. Killed by PID if still running when this returns or is cancelled.
private func runTool(_ path: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
    let outputURL = FileManager.default.temporaryDirectory.appendingPathComponent("redis-tool-\(UUID().uuidString).out")
    _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: outputURL) }
    let output = try FileHandle(forWritingTo: outputURL)
    defer { try? output.close() }

    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = output
    process.standardError = output
    let (exited, exit) = AsyncStream<Int32>.makeStream()
    process.terminationHandler = { exit.yield($0.terminationStatus); exit.finish() }
    try process.run()
    defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    let status = await withTaskCancellationHandler {
        var iterator = exited.makeAsyncIterator()
        return await iterator.next() ?? -1
    } onCancel: {
        kill(process.processIdentifier, SIGKILL)
    }
    return (status, String(decoding: try Data(contentsOf: outputURL), as: UTF8.self))
}

/// `SET: 12345.67 requests per second, p50=...` lines of `redis-benchmark -q`, by test name.
private func requestsPerSecond(_ output: String) -> [String: Double] {
    var figures: [String: Double] = [:]
    for line in output.split(whereSeparator: { $0 == "\r" || $0 == "\n" }) {
        let parts = line.split(separator: " ", maxSplits: 2)
        guard parts.count == 3, parts[0].hasSuffix(":"), parts[2].hasPrefix("requests per second"),
              let rps = Double(parts[1]) else { continue }
        figures[String(parts[0].dropLast())] = rps
    }
    return figures
}

@Suite("Real Redis clients", .serialized, .timeLimit(.minutes(3)),
       // redis-tools may be missing on a machine; the reason is printed as SKIPPED, never a silent pass.
       .enabled(if: toolsInstalled, "redis-cli and redis-benchmark not installed (apt-get install redis-tools)"))
struct RealClientTests {
    @Test("redis-cli: ping, set, get, del, mget, info, errors")
    func cli() async throws {
        let cli = try #require(redisCLI)
        try await RedisGatewayServer.withServer(backend: InMemoryKeyValueBackend(), port: 0) { server, address in
            let port = String(address.port!)
            func cliSays(_ words: String...) async throws -> String {
                let (status, output) = try await runTool(cli, ["-h", "127.0.0.1", "-p", port] + words)
                #expect(status == 0, "redis-cli \(words): \(output)")
                return output
            }
            #expect(try await cliSays("ping") == "PONG\n")
            #expect(try await cliSays("set", "k", "v") == "OK\n")
            #expect(try await cliSays("get", "k") == "v\n")
            #expect(try await cliSays("set", "k2", "hello world") == "OK\n")
            #expect(try await cliSays("mget", "k", "missing", "k2") == "v\n\nhello world\n")
            #expect(try await cliSays("exists", "k", "k2", "missing") == "2\n")
            #expect(try await cliSays("del", "k") == "1\n")
            #expect(try await cliSays("del", "k") == "0\n")
            #expect(try await cliSays("get", "k") == "\n")
            let info = try await cliSays("info")
            #expect(info.contains("redis_version:7.0.0"))
            #expect(info.contains("backplane_gateway:1"))
            #expect(try await cliSays("set", "k", "v", "ex", "10").contains("SET option EX is not supported"))
            #expect(try await cliSays("dbsize").contains("DBSIZE is not supported"))
            #expect(try await cliSays("nosuchcommand", "x").contains("unknown command 'nosuchcommand', with args beginning with: 'x'"))
            // RESP3 asked for: refused with NOPROTO, which redis-cli reports.
            let resp3 = try await runTool(cli, ["-h", "127.0.0.1", "-p", port, "-3", "ping"])
            print("redis-cli -3 ping: status \(resp3.status), output \(resp3.output.debugDescription)")
            #expect(server.stats.protocolErrors == 0)
        }
    }

    @Test("redis-benchmark SET and GET, pipelined, plain and with 50 clients: figures, no errors", arguments: [
        // One key (no -r): pipelined SETs of it run one after another, GETs together.
        ["-t", "set,get", "-n", "20000", "-P", "16"],
        ["-t", "set,get", "-n", "20000"],
        // 1,000 random keys: pipelined SETs run concurrently too; PING_INLINE sends inline commands.
        ["-t", "ping,set,get", "-n", "20000", "-c", "50", "-P", "16", "-r", "1000"],
    ])
    func benchmark(options: [String]) async throws {
        let tool = try #require(redisBenchmark)
        let backend = InMemoryKeyValueBackend()
        try await RedisGatewayServer.withServer(backend: backend, port: 0) { server, address in
            // redis-benchmark 7 stops at the first error reply and exits non-zero.
            let (status, output) = try await runTool(tool, ["-h", "127.0.0.1", "-p", String(address.port!), "-q"] + options)
            let figures = requestsPerSecond(output)
            print("redis-benchmark \(options.joined(separator: " ")): \(figures.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value) rps" }.joined(separator: ", "))")
            #expect(status == 0, "\(output)")
            #expect(figures["SET"] != nil, "no SET figure in: \(output)")
            #expect(figures["GET"] != nil, "no GET figure in: \(output)")
            if options.contains("ping,set,get") {
                #expect(figures["PING_INLINE"] != nil, "no PING_INLINE figure in: \(output)")
                #expect(figures["PING_MBULK"] != nil, "no PING_MBULK figure in: \(output)")
            }
            #expect(!output.contains("rror"), "\(output)")
            #expect(!output.contains("Could not fetch server CONFIG"), "\(output)")
            #expect(server.stats.errorReplies == 0)
            #expect(server.stats.protocolErrors == 0)
            let keys = await backend.count
            if options.contains("-r") {
                #expect(keys > 1 && keys <= 1000, "\(keys) keys")
            } else {
                #expect(keys == 1, "redis-benchmark without -r uses one key")
            }
        }
    }

    @Test("redis-benchmark against a failing backend shows the error: the checks above can see one")
    func benchmarkSeesErrors() async throws {
        let tool = try #require(redisBenchmark)
        try await RedisGatewayServer.withServer(backend: FailingBackend(), port: 0) { _, address in
            let (status, output) = try await runTool(tool, ["-h", "127.0.0.1", "-p", String(address.port!), "-q", "-t", "get", "-n", "100"])
            #expect(status != 0 || output.contains("rror"), "\(output)")
            #expect(output.contains("shard 3 is unreachable"), "\(output)")
        }
    }
}
