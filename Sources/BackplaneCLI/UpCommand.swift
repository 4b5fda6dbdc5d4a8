import ArgumentParser
import BusController
import BusSecurity
import Dispatch
import CardOS
import Foundation
import Logging
import ServiceLifecycle
import Subprocess
import Synchronization
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
        URL and what to try next, then runs until Ctrl-C or SIGTERM. A BMC or card that dies is \
        restarted at once (backoff 0.2 s doubling to 5 s) with the same state, appending to its log. \
        Ctrl-C stops the cards (and every container they run) in parallel, then the BMC, then checks \
        the host for anything a card left (containers, cgroups, shims; see `backplane leftovers`), \
        removes it and exits 1 if there was any.
        """
    )
    @Option(help: "How many cards.") var cards = 3
    @Option(name: .customLong("max-cards"), help: ArgumentHelp("Start extra cards, up to this many in all, when the allocator asks for more; stop them when idle.", discussion: "Every 10 s `up` reads the allocator's plan (`backplane plan`): when what waits for room fits on no card it starts as many extra cards (card-N, same shape) as the plan's card request says; an extra card the plan reports idle for 60 s is drained and stopped. Default: --cards (no extra cards).")) var maxCards: Int?
    @Option(name: .customLong("allocator-interval"), help: ArgumentHelp("Seconds between the allocator's plans (passed to the BMC); 0 turns it off.")) var allocatorInterval = 10
    @Option(name: .customLong("allocator-cooldown"), help: ArgumentHelp("Seconds after a resize before a shrink (passed to the BMC).")) var allocatorCooldown = 300
    @Option(name: .customLong("allocator-floor-horizon"), help: ArgumentHelp("The forecast horizon a shrink never goes under: 1m, 5m or 1h (passed to the BMC).")) var allocatorFloorHorizon = "1h"
    @Option(help: "State directory for the bus (store, logs, card state).") var state = ".backplane"
    @Option(help: "API port; cards use the next port for DCL.") var port = 7070
    @Option(help: "CPU each card offers.") var cardCPU = "1000m"
    @Option(help: "Memory each card offers.") var cardMemory = "1GiB"
    @Option(help: "Card runtime: runc, process or auto.") var runtime = "auto"
    @Option(name: .customLong("card-gpus"), help: "GPU devices each card declares, e.g. T4,T4 (accounting only: not passed into containers).") var cardGPUs = ""
    @Option(help: "Seconds to wait for the bus to come up.") var timeout = 60
    @Option(help: "The cards' image store (see `backplane image`).") var imageStore = ImageStore.defaultDirectory
    @Flag(help: ArgumentHelp("Plain TCP links and a plain HTTP API.", discussion: InsecureMode.help)) var insecure = false

    func validate() throws {
        guard (1...64).contains(cards) else { throw ValidationError("--cards must be 1 to 64") }
        if let maxCards, !(cards...64).contains(maxCards) { throw ValidationError("--max-cards must be --cards (\(cards)) to 64, got \(maxCards)") }
        guard (0...86_400).contains(allocatorInterval) else { throw ValidationError("--allocator-interval must be 0 (off) to 86400 seconds, got \(allocatorInterval)") }
        guard (0...86_400).contains(allocatorCooldown) else { throw ValidationError("--allocator-cooldown must be 0 to 86400 seconds, got \(allocatorCooldown)") }
        guard BMCCommand.floorHorizons[allocatorFloorHorizon] != nil else { throw ValidationError("--allocator-floor-horizon must be one of 1m, 5m, 1h, got '\(allocatorFloorHorizon.prefix(40))'") }
        guard (1...65534).contains(port) else { throw ValidationError("--port must be 1 to 65534") }
    }

    func run() async throws {
        let state = URL(fileURLWithPath: (self.state as NSString).standardizingPath, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL.path
        // The store, the cards' state and the logs (specs with env secrets): root only.
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        chmod(state, 0o700)
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let token = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let api = "\(insecure ? "http" : "https")://127.0.0.1:\(port)"
        // The bus CA, made here before the BMC starts (the BMC loads it) so that the cards can be
        // given its fingerprint to enroll with.
        var ca: BusCA?
        if insecure {
            InsecureMode.warn("up")
        } else {
            try SecureFiles.directory(state + "/bmc")
            ca = try BusCAFiles.loadOrCreate(directory: state + "/bmc", now: Date()).ca
        }
        let caCertificate = ca?.certificate
        // The BMC writes its bus-admin token at its first start: until then, no client.
        let adminClient = { @Sendable () -> BMCClient? in
            AdminToken.read(state: state + "/bmc").flatMap { try? BMCClient(api, credential: .init(token: $0, source: AdminToken.path(state: state + "/bmc")), ca: caCertificate) }
        }
        let insecureFlag = insecure ? ["--insecure"] : []
        var cardEnvironment = [JoinToken.environmentVariable: token]
        if let ca { cardEnvironment["BACKPLANE_CA_FINGERPRINT"] = ca.fingerprint }
        let logger = Logger(label: "backplane.up")
        let cardNames = (0..<cards).map { "card-\($0)" }
        let extraNames = (cards..<(maxCards ?? cards)).map { "card-\($0)" }
        let (cards, timeout, cardCPU, cardMemory, runtime, cardGPUs, port) = (self.cards, self.timeout, self.cardCPU, self.cardMemory, self.runtime, self.cardGPUs, self.port)

        let bmc = SupervisedChild(
            name: "bmc", executable: exe,
            arguments: ["bmc", "--state", state + "/bmc", "--api-port", "\(port)", "--dcl-port", "\(port + 1)", "--allocator-interval", "\(allocatorInterval)",
                        "--allocator-cooldown", "\(allocatorCooldown)", "--allocator-floor-horizon", allocatorFloorHorizon] + insecureFlag,
            environment: [JoinToken.environmentVariable: token],
            log: state + "/bmc.log", stoppingMessage: "stopping the BMC...", logger: logger
        )
        let imageStore = self.imageStore
        let cardEnv = cardEnvironment
        let makeCard = { @Sendable (name: String) in
            SupervisedChild(
                name: name, executable: exe,
                arguments: [
                    "card", "--bmc", "127.0.0.1:\(port + 1)", "--state", state + "/" + name, "--name", name,
                    "--cpu", cardCPU, "--memory", cardMemory, "--runtime", runtime, "--gpus", cardGPUs, "--image-store", imageStore,
                ] + insecureFlag,
                environment: cardEnv,
                log: state + "/\(name).log", stoppingMessage: nil, logger: logger
            )
        }
        let cardChildren = cardNames.map(makeCard)
        let cardSet = CardSupervisors(cards: cardChildren) {
            try await Self.waitFor("the BMC API at \(api)", seconds: timeout, log: state + "/bmc.log") { (try? await adminClient()?.request("GET", "v1/cards")) != nil }
        }
        let readiness = BusReadiness {
            try await Self.waitFor("\(cards) ready card(s)", seconds: timeout, log: state + "/card-0.log") {
                let list = try? await adminClient()?.get("v1/cards", as: [APIServer.CardStatus].self)
                return (list?.filter { $0.state == .ready }.count ?? 0) >= cards
            }
            let config = try Self.writeClientConfig(api: api, state: state, ca: caCertificate == nil ? nil : state + "/bmc/ca.pem")
            let kinds = Set(((try? String(contentsOfFile: state + "/card-0.log", encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line -> String? in
                line.contains("runtime runc") ? "runc" : line.contains("runtime process") ? "process (no isolation)" : nil
            })
            say("""
            Backplane is up: 1 BMC and \(cards) card(s) on loopback (runtime: \(kinds.sorted().joined(separator: ", ")))\(extraNames.isEmpty ? "" : "; up to \(extraNames.count) more on the allocator's request").
              API:    \(api)   (OpenAPI at \(api)/v1/openapi.json)
              state:  \(state)   (logs: bmc.log, card-N.log)
              client: \(config)   (the API URL and the bus-admin token, mode 0600)

            Next, in another terminal:
              backplane deploy examples/web.yaml
              backplane instances          # card, state, host PID of each container
              backplane workloads          # running/desired, and why anything is pending
              backplane logs web
            Press Ctrl-C to stop the bus; every container is removed.
            """)
        }

        // Shutdown runs in reverse order: readiness, then every card in parallel, then the BMC.
        var services: [any Service] = [bmc, cardSet, readiness]
        if !extraNames.isEmpty {
            services.append(ExtraCards(names: extraNames, makeChild: makeCard, client: adminClient) {
                try await Self.waitFor("the BMC API at \(api)", seconds: timeout, log: state + "/bmc.log") { (try? await adminClient()?.request("GET", "v1/cards")) != nil }
            })
        }
        let configurations = services.map { service in
            ServiceGroupConfiguration.ServiceConfiguration(service: service, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
        }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: configurations, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        var failure: (any Error)?
        do {
            try await group.run()
        } catch {
            failure = error
            logger.error("the bus ended with an error", metadata: ["error": "\(error)"])
        }

        // The truth from the host, whatever the processes said.
        let host = HostLeftovers()
        let leftovers = await host.scan(stateDirectory: state, cardNames: cardNames + extraNames)
        if !leftovers.isEmpty {
            let remaining = await host.clean(leftovers, stateDirectory: state, cardNames: cardNames + extraNames)
            var report = "bus stopped, but the cards left \(leftovers.count) thing(s) on the host:\n" + HostLeftovers.describe(leftovers)
            report += remaining.isEmpty ? "\nall of them are removed now." : "\ncould not remove \(remaining.count) of them:\n" + HostLeftovers.describe(remaining)
            throw CLIError(report, exitCode: 1)
        }
        if let failure { throw failure }
        say("bus stopped; no containers left")
    }

    /// Writes the client config (the API URL and the BMC's bus-admin token) where client
    /// commands read it; returns its path.
    static func writeClientConfig(api: String, state: String, ca: String?) throws -> String {
        guard let token = AdminToken.read(state: state + "/bmc") else {
            throw CLIError("the BMC wrote no bus-admin token to \(AdminToken.path(state: state + "/bmc"))", exitCode: 1)
        }
        let path = ClientConfig.path()
        try ClientConfig(bmc: api, token: token, ca: ca).write(to: path)
        return path
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

/// A human-facing line on stdout, shown at once also when stdout is a pipe or a file.
func say(_ line: String) {
    print(line)
    fflush(nil)
}

// MARK: - Restart policy

/// When to restart a child that died: 200 ms after the first failure, doubling up to 5 s, and
/// back to 200 ms once the child had run for 30 s. Pure: the caller measures how long it ran.
struct RestartBackoff: Sendable, Equatable {
    var initial: Duration = .milliseconds(200)
    var factor = 2
    var maximum: Duration = .seconds(5)
    /// A child that ran at least this long counts as healthy: the schedule starts over.
    var resetAfter: Duration = .seconds(30)
    private(set) var next: Duration?

    /// The child ended after running `ranFor`; returns how long to wait before restarting it.
    mutating func exited(afterRunning ranFor: Duration) -> Duration {
        let delay = ranFor >= resetAfter ? initial : (next ?? initial)
        next = min(delay * factor, maximum)
        return delay
    }

    /// `0.2 s`, `1.6 s`, `5 s`.
    static func format(_ delay: Duration) -> String {
        let seconds = Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18
        return String(format: "%g s", seconds)
    }
}

/// How a child ended, for people: `exited with code 1`, `killed by signal 9 (SIGKILL)`.
func describeTermination(_ status: TerminationStatus) -> String {
    switch status {
    case .exited(let code): return "exited with code \(code)"
    case .signaled(let signal): return "killed by signal \(signal)" + (signalNames[signal].map { " (\($0))" } ?? "")
    }
}

private let signalNames: [Int32: String] = [
    SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP", SIGABRT: "SIGABRT",
    SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV", SIGPIPE: "SIGPIPE", SIGTERM: "SIGTERM",
]

// MARK: - Services

/// One child process of the bus (the BMC or a card), kept running: when it dies before the
/// group shuts down it is restarted after ``RestartBackoff``'s delay with the same arguments,
/// appending to the same log. On graceful shutdown it gets SIGTERM, and SIGKILL after
/// `stopGrace`; `run()` returns once it has exited (never earlier: the group would take an early
/// return as a failure).
struct SupervisedChild: Service {
    let name: String
    let executable: String
    let arguments: [String]
    /// Added to the inherited environment (the join token: never on a command line).
    var environment: [String: String] = [:]
    let log: String
    /// Printed when graceful shutdown reaches this child.
    let stoppingMessage: String?
    let logger: Logger
    var stopGrace: Duration = .seconds(20)
    var backoff = RestartBackoff()

    private enum Outcome {
        case exited(pid: pid_t, TerminationStatus)
        case stopped(pid: pid_t, TerminationStatus)
        case couldNotStart(any Error)
    }

    func run() async throws {
        await withGracefulShutdownHandler {
            var backoff = self.backoff
            var first = true
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let started = ContinuousClock.now
                let outcome = await runOnce(truncatingLog: first)
                first = false
                let ran = ContinuousClock.now - started
                let why: String
                switch outcome {
                case .stopped(let pid, let status):
                    logger.debug("child stopped", metadata: ["child": "\(name)", "pid": "\(pid)", "status": "\(describeTermination(status))"])
                    if ran >= stopGrace, case .signaled(SIGKILL) = status {
                        say("up: \(name) (pid \(pid)) did not stop within \(RestartBackoff.format(stopGrace)); killed")
                    }
                    return
                case .exited(let pid, let status):
                    if Task.isShuttingDownGracefully || Task.isCancelled { return }
                    why = "(pid \(pid)) died: \(describeTermination(status))"
                case .couldNotStart(let error):
                    if Task.isShuttingDownGracefully || Task.isCancelled { return }
                    logger.error("could not start child", metadata: ["child": "\(name)", "error": "\(error)"])
                    why = "could not start: \(error)"
                }
                let delay = backoff.exited(afterRunning: ran)
                say("up: \(name) \(why); restarting in \(RestartBackoff.format(delay))")
                appendToLog("---- up: \(name) \(why); restarting in \(RestartBackoff.format(delay)) ----\n")
                do {
                    try await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
                } catch {
                    return  // shutting down (or cancelled) during the backoff: nothing runs, nothing to stop
                }
            }
        } onGracefulShutdown: { [stoppingMessage] in
            if let stoppingMessage { say(stoppingMessage) }
        }
    }

    /// Runs the child once, until it exits by itself or graceful shutdown (or cancellation) stops it.
    private func runOnce(truncatingLog: Bool) async -> Outcome {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(log), .writeOnly, options: truncatingLog ? [.create, .truncate] : [.create, .append],
                                         permissions: [.ownerReadWrite])
            fchmod(fd.rawValue, 0o600)  // also a log an older version made readable to all
        } catch {
            return .couldNotStart(error)
        }
        defer { try? fd.close() }
        var options = PlatformOptions()
        // Its own process group: a terminal's Ctrl-C reaches only `up`, which stops cards before the BMC.
        options.processGroupID = 0
        options.teardownSequence = [.send(signal: .terminate, allowedDurationToNextStep: stopGrace)]
        do {
            let overrides = Dictionary(uniqueKeysWithValues: environment.compactMap { key, value in Subprocess.Environment.Key(rawValue: key).map { ($0, Optional(value)) } })
            let result = try await Subprocess.run(
                .path(FilePath(executable)), arguments: Arguments(arguments), environment: .inherit.updating(overrides), platformOptions: options, input: .none,
                output: .fileDescriptor(fd, closeAfterSpawningProcess: false), error: .fileDescriptor(fd, closeAfterSpawningProcess: false)
            ) { execution in
                let pid = execution.processIdentifier.value
                logger.debug("child started", metadata: ["child": "\(name)", "pid": "\(pid)"])
                let stop = await ChildExit.waitForExitOrShutdown(execution.processIdentifier)
                if stop || Task.isCancelled {
                    await execution.teardown(using: [.send(signal: .terminate, allowedDurationToNextStep: stopGrace)])
                }
                return stop
            }
            let pid = result.processIdentifier.value
            return result.closureResult ? .stopped(pid: pid, result.terminationStatus) : .exited(pid: pid, result.terminationStatus)
        } catch {
            return .couldNotStart(error)
        }
    }

    private func appendToLog(_ line: String) {
        guard let handle = FileHandle(forWritingAtPath: log) else { return }
        defer { try? handle.close() }
        _ = try? handle.seekToEnd()
        try? handle.write(contentsOf: Data(line.utf8))
    }
}

/// Every card, supervised in parallel: started once the BMC answers, stopped together (each with
/// SIGTERM, SIGKILL after its grace) when graceful shutdown reaches this service.
struct CardSupervisors: Service {
    let cards: [SupervisedChild]
    /// Returns once the BMC answers; throws when it does not in time.
    let bmcReady: @Sendable () async throws -> Void

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown(bmcReady)
        } catch is CancellationError {
            if Task.isShuttingDownGracefully || Task.isCancelled { return }
            throw CancellationError()
        }
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for card in cards { group.addTask { try await card.run() } }
                try await group.waitForAll()
            }
        } onGracefulShutdown: { [count = cards.count] in
            say("\nstopping \(count) card(s)...")
        }
    }
}

/// Waits until the bus is ready and tells the user, then stays until shutdown (a service that
/// returned early would end the group).
struct BusReadiness: Service {
    /// Returns once the bus is ready (and has said so); throws when it is not in time.
    let ready: @Sendable () async throws -> Void

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown(ready)
        } catch is CancellationError {
            return
        }
        try? await gracefulShutdown()
    }
}

// MARK: - Waiting for a child's exit

/// Watches a child through its pidfd (readable once it has exited), without reaping it: the
/// reaping stays with swift-subprocess.
enum ChildExit {
    /// Returns true when graceful shutdown came first, false when the process exited (or the
    /// task was cancelled).
    static func waitForExitOrShutdown(_ process: ProcessIdentifier) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await waitForExit(pid: process.value, pidfd: process.processDescriptor)
                return false
            }
            group.addTask {
                do {
                    try await gracefulShutdown()
                    return true
                } catch {
                    return false
                }
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// Returns when the process has exited (it is then a zombie until reaped) or the task is cancelled.
    static func waitForExit(pid: pid_t, pidfd: CInt) async {
        guard pidfd >= 0 else {
            // No pidfd: ask the kernel without reaping (WNOWAIT), a few times a second.
            while !Task.isCancelled {
                var info = siginfo_t()
                if waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_signo == SIGCHLD { return }
                try? await Task.sleep(for: .milliseconds(100))
            }
            return
        }
        let watch = PidfdWatch(pidfd: pidfd)
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in watch.start(continuation) }
        } onCancel: {
            watch.cancel()
        }
    }
}

/// A dispatch read source on a pidfd; resumes its continuation exactly once (from the source's
/// cancel handler), whether the process exited or the wait was cancelled.
private final class PidfdWatch: @unchecked Sendable {  // DispatchSource is thread-safe; `state` is a Mutex
    private let source: any DispatchSourceRead
    private let state = Mutex<(started: Bool, cancelled: Bool)>((false, false))

    init(pidfd: CInt) {
        source = DispatchSource.makeReadSource(fileDescriptor: pidfd, queue: .global())
    }

    func start(_ continuation: CheckedContinuation<Void, Never>) {
        source.setEventHandler { [source] in source.cancel() }
        source.setCancelHandler { continuation.resume() }
        let cancelledEarly = state.withLock { state in
            state.started = true
            return state.cancelled
        }
        source.activate()
        if cancelledEarly { source.cancel() }
    }

    func cancel() {
        let started = state.withLock { state in
            state.cancelled = true
            return state.started
        }
        if started { source.cancel() }
    }
}

// MARK: - Extra cards on demand (`up --max-cards`)

/// When `up --max-cards` starts and stops extra local cards (pure; the caller gives the time):
/// as many as the allocator's card request asks for, up to the maximum; an extra card that the
/// allocator has reported idle (running nothing, nothing waiting) for `idleFor` is stopped, the
/// newest first — as Cluster Autoscaler's scale-down-unneeded-time. A card started less than
/// `idleFor` ago is never stopped (it may not have been placed on yet).
struct ExtraCardPolicy: Sendable, Equatable {
    var maximum: Int
    var idleFor: Double = 60
    /// Extra cards running: name → start time (seconds).
    private(set) var running: [String: Double] = [:]
    /// Extra cards seen idle: name → since when.
    private(set) var idleSince: [String: Double] = [:]
    /// Names to use, in order.
    let names: [String]

    init(names: [String], idleFor: Double = 60) {
        self.names = names
        self.maximum = names.count
        self.idleFor = idleFor
    }

    /// One look at the plan: the cards to start and the cards to stop now. `ready` names the
    /// cards the BMC has as ready: an extra card started and not ready yet is on its way, and
    /// counts against the request (else a slow join would start one card per look).
    mutating func decide(requested: Int, idle: Set<String>, ready: Set<String>, now: Double) -> (start: [String], stop: [String]) {
        for name in running.keys {
            if idle.contains(name) { idleSince[name] = idleSince[name] ?? now } else { idleSince[name] = nil }
        }
        var start: [String] = []
        let joining = running.keys.filter { !ready.contains($0) }.count
        if requested > 0 {
            for name in names where running[name] == nil && start.count < requested - joining { start.append(name) }
            for name in start { running[name] = now }
            return (start, [])
        }
        let stop = running.keys.filter { name in
            guard let since = idleSince[name], now - since >= idleFor, now - running[name]! >= idleFor else { return false }
            return true
        }.sorted { (running[$0]!, $0) > (running[$1]!, $1) }
        for name in stop {
            running[name] = nil
            idleSince[name] = nil
        }
        return ([], stop)
    }
}

/// Starts extra cards when the allocator asks for more and stops the idle ones
/// (``ExtraCardPolicy``), looking at `GET /v1/plan` every `interval`.
struct ExtraCards: Service {
    let names: [String]
    let makeChild: @Sendable (String) -> SupervisedChild
    let client: @Sendable () -> BMCClient?
    /// Returns once the BMC answers.
    let bmcReady: @Sendable () async throws -> Void
    var interval: Duration = .seconds(10)
    var idleFor: Double = 60

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown(bmcReady)
        } catch is CancellationError {
            return
        }
        let stops = LockedStops()
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                var policy = ExtraCardPolicy(names: names, idleFor: idleFor)
                let origin = ContinuousClock.now
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } } catch { break }
                    guard let client = client(), let plan = try? await client.get("v1/plan", as: AllocatorService.Report.self) else { continue }
                    let cards = (try? await client.get("v1/cards", as: [APIServer.CardStatus].self)) ?? []
                    let byID = Dictionary(cards.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
                    let idle = Set(plan.idleCards.compactMap { byID[$0.card] ?? $0.name })
                    let elapsed = ContinuousClock.now - origin
                    let now = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                    let ready = Set(cards.filter { $0.state == .ready }.map(\.name))
                    let (start, stop) = policy.decide(requested: plan.cardRequest?.count ?? 0, idle: idle, ready: ready, now: now)
                    for name in start {
                        say("up: starting \(name): the allocator asks for \(plan.cardRequest?.count ?? 0) more card(s) (\(plan.cardRequest?.reason ?? ""))")
                        let child = makeChild(name)
                        let stopped = stops.add(name)
                        group.addTask {
                            // The first to end (the stop signal, or the child at shutdown) ends
                            // both: cancelling the child stops its process (SIGTERM, then SIGKILL).
                            await withTaskGroup(of: Void.self) { inner in
                                inner.addTask { try? await child.run() }
                                inner.addTask { for await _ in stopped {} }
                                _ = await inner.next()
                                inner.cancelAll()
                            }
                        }
                    }
                    for name in stop {
                        if let card = cards.first(where: { $0.name == name }) {
                            _ = try? await client.request("POST", "v1/cards/\(card.id)/drain")
                        }
                        say("up: stopping \(name): idle for \(Int(idleFor)) s (the allocator reports it runs nothing and nothing waits)")
                        stops.stop(name)
                    }
                }
                stops.stopAll()
            }
        } onGracefulShutdown: {
            stops.stopAll()
        }
    }
}

/// The stop signal of each extra card.
final class LockedStops: Sendable {
    private let box = Mutex<[String: AsyncStream<Void>.Continuation]>([:])
    func add(_ name: String) -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        box.withLock { $0[name] = continuation }
        return stream
    }
    func stop(_ name: String) { box.withLock { $0.removeValue(forKey: name) }?.finish() }
    func stopAll() { for c in box.withLock({ state in defer { state = [:] }; return Array(state.values) }) { c.finish() } }
}
