import ArgumentParser
import BusController
import Foundation
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bring up a whole local bus: a BMC and N cards as child processes on loopback.",
        discussion: """
        Logs go to <state>/bmc.log and <state>/card-N.log. When every card is ready it prints the API \
        URL and what to try next, then runs until Ctrl-C or SIGTERM, which stops the cards (and every \
        container they run) and then the BMC.
        """
    )
    @Option(help: "How many cards.") var cards = 3
    @Option(help: "State directory for the bus (store, logs, card state).") var state = ".backplane"
    @Option(help: "API port; cards use the next port for DCL.") var port = 7070
    @Option(help: "CPU each card offers.") var cardCPU = "1000m"
    @Option(help: "Memory each card offers.") var cardMemory = "1GiB"
    @Option(help: "Card runtime: runc, process or auto.") var runtime = "auto"
    @Option(name: .customLong("card-gpus"), help: "GPU devices each card declares, e.g. T4,T4 (accounting only: not passed into containers).") var cardGPUs = ""
    @Option(help: "Seconds to wait for the bus to come up.") var timeout = 60

    func validate() throws {
        guard (1...64).contains(cards) else { throw ValidationError("--cards must be 1 to 64") }
        guard (1...65534).contains(port) else { throw ValidationError("--port must be 1 to 65534") }
    }

    func run() async throws {
        let state = URL(fileURLWithPath: (self.state as NSString).standardizingPath, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL.path
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let token = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let api = "http://127.0.0.1:\(port)"
        let client = try BMCClient(api)
        let children = Children()

        let signal = try await runUntilSignalled {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    try await children.run(name: "bmc", exe: exe, arguments: ["bmc", "--state", state + "/bmc", "--api-port", "\(port)", "--dcl-port", "\(port + 1)", "--token", token], log: state + "/bmc.log")
                }
                try await Self.waitFor("the BMC API at \(api)", seconds: timeout, log: state + "/bmc.log") { (try? await client.request("GET", "v1/cards")) != nil }
                for i in 0..<cards {
                    tasks.addTask {
                        try await children.run(name: "card-\(i)", exe: exe, arguments: [
                            "card", "--bmc", "127.0.0.1:\(port + 1)", "--state", state + "/card-\(i)", "--name", "card-\(i)",
                            "--cpu", cardCPU, "--memory", cardMemory, "--runtime", runtime, "--token", token, "--gpus", cardGPUs,
                        ], log: state + "/card-\(i).log")
                    }
                }
                try await Self.waitFor("\(cards) ready card(s)", seconds: timeout, log: state + "/card-0.log") {
                    let list = try? await client.get("v1/cards", as: [APIServer.CardStatus].self)
                    return (list?.filter { $0.state == .ready }.count ?? 0) >= cards
                }
                let kinds = Set(((try? String(contentsOfFile: state + "/card-0.log", encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line -> String? in
                    line.contains("runtime runc") ? "runc" : line.contains("runtime process") ? "process (no isolation)" : nil
                })
                print("""
                Backplane is up: 1 BMC and \(cards) card(s) on loopback (runtime: \(kinds.sorted().joined(separator: ", "))).
                  API:    \(api)   (OpenAPI at \(api)/v1/openapi.json)
                  state:  \(state)   (logs: bmc.log, card-N.log)

                Next, in another terminal:
                  backplane deploy examples/web.yaml
                  backplane instances          # card, state, host PID of each container
                  backplane workloads          # running/desired, and why anything is pending
                  backplane logs web
                Press Ctrl-C to stop the bus; every container is removed.
                """)
                fflush(nil)
                try await tasks.next()  // a child ended by itself: tear down
                throw CLIError("a bus process exited unexpectedly; see the logs in \(state)", exitCode: 1)
            }
        }
        // Cards first (they stop their containers), then the BMC.
        print("\nstopping \(cards) card(s)...")
        fflush(nil)  // long-running: show it now, also when stdout is a pipe or file
        await children.terminate(where: { $0.hasPrefix("card-") })
        print("stopping the BMC...")
        fflush(nil)  // long-running: show it now, also when stdout is a pipe or file
        await children.terminate(where: { $0 == "bmc" })
        print(signal == nil ? "bus stopped" : "bus stopped; no containers left")
        fflush(nil)  // long-running: show it now, also when stdout is a pipe or file
    }

    static func waitFor(_ what: String, seconds: Int, log: String, _ check: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if await check() { return }
            try await Task.sleep(for: .milliseconds(100))  // polling a separate process's API
        }
        let tail = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").suffix(10).joined(separator: "\n")
        throw CLIError("timed out after \(seconds) s waiting for \(what). Last lines of \(log):\n\(tail)", exitCode: 1)
    }
}

/// The bus's child processes: started through swift-subprocess (clean signal state), stopped
/// with SIGTERM (then SIGKILL after 20 s), awaited.
final class Children: Sendable {
    private let stops = LockedList()

    func run(name: String, exe: String, arguments: [String], log: String) async throws {
        let fd = try FileDescriptor.open(FilePath(log), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite, .groupRead, .otherRead])
        let (stopRequested, stop) = AsyncStream.makeStream(of: Void.self)
        stops.add(name: name, stop: stop)
        defer { stops.remove(name) }
        var options = PlatformOptions()
        options.teardownSequence = [.send(signal: .terminate, allowedDurationToNextStep: .seconds(20))]
        _ = try await Subprocess.run(.path(FilePath(exe)), arguments: Arguments(arguments), platformOptions: options, input: .none,
                                     output: .fileDescriptor(fd, closeAfterSpawningProcess: false), error: .fileDescriptor(fd, closeAfterSpawningProcess: true)) { execution in
            for await _ in stopRequested { break }
            try? execution.send(signal: .terminate)
        }
    }

    /// Sends SIGTERM to the matching children and waits until they have exited.
    func terminate(where match: (String) -> Bool) async {
        let waiting = stops.request(match)
        for done in waiting { await done() }
    }
}

final class LockedList: @unchecked Sendable {  // every access holds `lock`
    private let lock = NSLock()
    private var entries: [String: (stop: AsyncStream<Void>.Continuation, exited: AsyncStream<Void>, exitedSink: AsyncStream<Void>.Continuation)] = [:]

    func add(name: String, stop: AsyncStream<Void>.Continuation) {
        let (exited, sink) = AsyncStream.makeStream(of: Void.self)
        lock.withLock { entries[name] = (stop, exited, sink) }
    }

    func remove(_ name: String) {
        lock.withLock { entries[name]?.exitedSink.finish() }
    }

    func request(_ match: (String) -> Bool) -> [@Sendable () async -> Void] {
        lock.withLock {
            entries.filter { match($0.key) }.map { entry in
                entry.value.stop.yield()
                let exited = entry.value.exited
                return { for await _ in exited {} }
            }
        }
    }
}
