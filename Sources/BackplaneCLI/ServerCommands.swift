import ArgumentParser
import BackplaneModel
import BusController
import NIOSSL
import BusSecurity
import CardOS
import ClusterStore
import ControlPlane
import DirectCardLinkNIO
import Foundation
import Logging
import NIOPosix
import ServiceLifecycle

struct BMCCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bmc",
        abstract: "Run the Bus Management Controller: DCL for cards, the HTTP API for users.",
        discussion: "State (the SQLite store, the join token, and admin.token: the bus-admin API token made at the first start) lives in --state. Stop with Ctrl-C or SIGTERM."
    )
    @Option(help: "State directory.") var state = ".backplane/bmc"
    @Option(help: "API address.") var apiHost = "127.0.0.1"
    @Option(help: "API port.") var apiPort = 7070
    @Option(help: "DCL address cards connect to.") var dclHost = "127.0.0.1"
    @Option(help: "DCL port.") var dclPort = 7071
    @Option(help: ArgumentHelp("A file holding the join token cards must present.", discussion: "Default: $BACKPLANE_JOIN_TOKEN, else <state>/token (created on first start, mode 0600). Never on the command line, where every local user can read it.")) var joinTokenFile: String?
    @Option(help: .hidden) var token: String?
    @Option(name: .customLong("heartbeat-ms"), help: ArgumentHelp("How often cards heartbeat, in milliseconds.", discussion: "The BMC tells every card in each lease grant. Feeds the phi-accrual failure detector (suspect at phi 8).")) var heartbeatMs = 200
    @Option(name: .customLong("lease-ms"), help: ArgumentHelp("How long one heartbeat lets a card keep its instances running without hearing from the BMC, in milliseconds.", discussion: "When it lapses the card's shims fence (kill) its instances; the BMC re-places them only after lease + fence margin. At least 3 heartbeats.")) var leaseMs = 2000
    @Option(name: .customLong("fence-margin-ms"), help: ArgumentHelp("Extra wait after a lease lapses before re-placing, in milliseconds.", discussion: "Covers the shims' 50 ms poll, the kill, and clock-rate drift between hosts.")) var fenceMarginMs = 300
    @Option(name: .customLong("allocator-interval"), help: ArgumentHelp("Seconds between the Resource Allocator's plans; 0 turns it off.", discussion: "Each plan resizes instances of `vertical: auto` workloads in place, sets the replicas of `autoscale:` workloads from the forecast, and reports planned moves, idle cards and card requests as events. `backplane plan` shows the next plan whether or not it is on.")) var allocatorInterval = 10
    @Option(name: .customLong("allocator-churn"), help: ArgumentHelp("At most this many resizes per plan.", discussion: "The churn budget: growing instances go first (higher priority first), then the largest savings.")) var allocatorChurn = 10
    @Option(name: .customLong("allocator-cooldown"), help: ArgumentHelp("Seconds after a resize before the allocator shrinks that instance again.", discussion: "Growing is never held back. Kubernetes' HPA waits 300 s before scaling down, too.")) var allocatorCooldown = 300
    @Option(name: .customLong("allocator-floor-horizon"), help: ArgumentHelp("The forecast horizon a shrink never goes under: 1m, 5m or 1h.", discussion: "A shrink goes no lower than the p99 forecast over this horizon, so a limit is not taken away just before the demand it will need comes back. Shorter horizons shrink sooner and save more, at more risk.")) var allocatorFloorHorizon = "1h"
    @Option(help: ArgumentHelp("An executable the allocator runs to add or release machines.", discussion: "Run without a shell, at most 60 s, its output in the event allocator.provisioner: `PATH request COUNT CPU_MILLICORES MEMORY_BYTES` when the plan first asks for cards (and when the count changes), `PATH release CARD_ID NAME` for a card idle (running nothing, nothing waiting) for 60 s. `backplane up --max-cards` does the same for local cards without it.")) var provisioner: String?
    @Flag(help: ArgumentHelp("Plain TCP for DCL and plain HTTP for the API.", discussion: InsecureMode.help)) var insecure = false

    static let floorHorizons = ["1m": 60, "5m": 300, "1h": 3600]

    func validate() throws {
        if let provisioner {
            guard provisioner.hasPrefix("/") else { throw ValidationError("--provisioner must be an absolute path to an executable, got '\(provisioner.prefix(80))'") }
            guard FileManager.default.isExecutableFile(atPath: provisioner) else { throw ValidationError("--provisioner \(provisioner.prefix(200)): not an executable file") }
        }
        guard (0...86_400).contains(allocatorCooldown) else { throw ValidationError("--allocator-cooldown must be 0 to 86400 seconds, got \(allocatorCooldown)") }
        guard Self.floorHorizons[allocatorFloorHorizon] != nil else { throw ValidationError("--allocator-floor-horizon must be one of 1m, 5m, 1h, got '\(allocatorFloorHorizon.prefix(40))'") }
        guard (0...86_400).contains(allocatorInterval) else { throw ValidationError("--allocator-interval must be 0 (off) to 86400 seconds, got \(allocatorInterval)") }
        guard (0...10_000).contains(allocatorChurn) else { throw ValidationError("--allocator-churn must be 0 to 10000, got \(allocatorChurn)") }
        if token != nil { throw ValidationError(JoinToken.notOnArgv) }
        guard (20...60_000).contains(heartbeatMs) else { throw ValidationError("--heartbeat-ms must be 20 to 60000, got \(heartbeatMs)") }
        guard leaseMs >= 3 * heartbeatMs, leaseMs <= 3_600_000 else { throw ValidationError("--lease-ms must be at least 3 heartbeats (\(3 * heartbeatMs)) and at most 3600000, got \(leaseMs)") }
        guard (100...600_000).contains(fenceMarginMs) else { throw ValidationError("--fence-margin-ms must be 100 to 600000, got \(fenceMarginMs)") }
    }

    func run() async throws {
        let state = (self.state as NSString).standardizingPath
        // The store holds every spec with its env secrets: root only (0600 in a 0700 directory).
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        chmod(state, 0o700)
        let token = try joinTokenFile.map(JoinToken.read) ?? JoinToken.fromEnvironment() ?? Self.tokenFile(state)
        let store = try SQLiteClusterStore(path: state + "/bmc.sqlite")
        for file in ["bmc.sqlite", "bmc.sqlite-wal", "bmc.sqlite-shm"] where FileManager.default.fileExists(atPath: state + "/" + file) {
            chmod(state + "/" + file, 0o600)
        }
        BusMetrics.bootstrapProcessMetrics()  // swift-metrics → /metrics
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var configuration = BusManagementController.Configuration(listen: .tcp(host: dclHost, port: dclPort), token: token)
        configuration.health = CardHealth.Configuration(heartbeatInterval: .milliseconds(heartbeatMs), lease: .milliseconds(leaseMs), fenceMargin: .milliseconds(fenceMarginMs))
        configuration.allocator.interval = allocatorInterval == 0 ? nil : .seconds(allocatorInterval)
        configuration.allocator.settings.vertical.churn = allocatorChurn
        configuration.allocator.settings.vertical.cooldown = Double(allocatorCooldown)
        configuration.allocator.longHorizon = WorkloadSeries.Horizon(seconds: Self.floorHorizons[allocatorFloorHorizon]!)
        configuration.allocator.provisioner = provisioner
        let tokens = TokenStore(store: store)
        configuration.authenticateClient = { (try? await tokens.dataClientTenant($0)) ?? nil }
        var apiTLS: TLSConfiguration?
        if insecure {
            InsecureMode.warn("bmc")
        } else {
            // The bus CA (created on the first start), and this run's server certificate.
            let (ca, created) = try BusCAFiles.loadOrCreate(directory: state, now: Date())
            var security = try BusLinkSecurity(ca: ca, names: [apiHost, dclHost])
            security.verifyJoin = { (try? await tokens.verifyJoin($0)) ?? false }
            configuration.security = security
            apiTLS = try security.apiConfiguration()
            print("bmc: \(created ? "created the bus CA" : "bus CA") \(state)/ca.pem, fingerprint \(ca.fingerprint) (cards enroll with it)")
        }
        let bmc = BusManagementController(configuration: configuration, store: store, group: group)
        if try await tokens.bootstrapBusAdmin(save: { try AdminToken.write($0, state: state) }) != nil {
            print("bmc: no bus-admin token in the store: created one in \(AdminToken.path(state: state)) (mode 0600)")
        }
        let api = APIServer(bmc: bmc, tokens: tokens)
        let (dclScheme, apiScheme) = insecure ? ("tcp", "http") : ("tls", "https")
        print("bmc: store \(state)/bmc.sqlite; cards join at \(dclScheme)://\(dclHost):\(dclPort); API at \(apiScheme)://\(apiHost):\(apiPort)")
        fflush(nil)  // long-running: show it now, also when stdout is a pipe or file
        // SIGINT/SIGTERM: graceful shutdown in reverse order (the API first, then the BMC).
        let services = ServiceGroup(configuration: .init(
            services: [.init(service: bmc), .init(service: APIService(api: api, host: apiHost, port: apiPort, tls: apiTLS))],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: Logger(label: "backplane.bmc.services")
        ))
        try await services.run()
        try store.close()
        try await group.shutdownGracefully()
        print("bmc: stopped")
        fflush(nil)  // long-running: show it now, also when stdout is a pipe or file
    }

    static func tokenFile(_ state: String) throws -> String {
        let path = state + "/token"
        if let existing = try? String(contentsOfFile: path, encoding: .utf8) { return existing.trimmingCharacters(in: .whitespacesAndNewlines) }
        let token = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        try token.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        return token
    }
}

/// `backplane card` runs a card (`card run`, the default); `card remove ID` removes one.
struct CardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "card",
        abstract: "Run CardOS (the default: card run), or remove a card from the bus (card remove).",
        subcommands: [CardRun.self, CardRemove.self],
        defaultSubcommand: CardRun.self
    )
}

struct CardRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a card: revoke its certificate and cut its link; it cannot link again.",
        discussion: "Its instances are placed on other cards once its lease has lapsed (its shims have fenced them by then), so nothing runs twice. To bring the machine back, enroll it again as a new card (delete its <state>/tls, give it a join token). Bus-admin only."
    )
    @Argument(help: "The CardID, e.g. c-0001-000000 (see backplane cards).") var card: String
    @OptionGroup var options: BMCOptions

    func run() async throws {
        try await runClient {
            _ = try await options.client().request("DELETE", "v1/cards/\(card)")
            print("card \(card) removed: its certificate is revoked and its link cut; its instances move once its lease lapses (watch: backplane instances)")
        }
    }
}

struct CardRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run CardOS: join a bus and run its instances as containers.",
        discussion: """
        Several cards can share one host: each offers the slice given by --cpu and --memory. \
        The runtime is runc (real OCI containers with cgroup limits; needs root) or process (plain \
        child processes without isolation). auto picks runc when it can and says so loudly when it cannot. \
        On Ctrl-C or SIGTERM the card stops every instance and leaves no container behind.
        """
    )
    @Option(help: "The BMC's DCL address, host:port.") var bmc = "127.0.0.1:7071"
    @Option(help: "State directory (keeps this card's CardID across restarts).") var state = ".backplane/card"
    @Option(help: "A name for people.") var name = ProcessInfo.processInfo.hostName
    @Option(help: "CPU this card offers, e.g. 2000m or 2.") var cpu = "1000m"
    @Option(help: "Memory this card offers, e.g. 2GiB.") var memory = "1GiB"
    @Option(help: ArgumentHelp("This card's link to the bus: lanes × rate per lane, e.g. 4x25Gbps.", discussion: "The model of the bus's HyperLink: the card offers lanes × rate as its network capacity (AWB places `resources.network` requests against it), and the Migration Engine picks shard targets by the bandwidth their links have left.")) var link = "1x10Gbps"
    @Option(help: "runc, process or auto.") var runtime = "auto"
    @Option(help: ArgumentHelp("Where images come from (runc).", discussion: "Images are <DIR>/images/<name>/rootfs: busybox (built on first use) and those `backplane image import` adds. Every directory above it must be world-traversable: a container's root is an unprivileged host uid.")) var imageStore = ImageStore.defaultDirectory
    @Option(help: ArgumentHelp("GPU devices this card offers, as comma-separated models (e.g. T4,T4).", discussion: "Declared capacity: AWB places GPU requests on them, but CardOS does not yet pass GPU devices into containers.")) var gpus = ""
    @Option(help: ArgumentHelp("A file holding the join token (needed only to enroll).", discussion: "Default: $BACKPLANE_JOIN_TOKEN. Never on the command line, where every local user can read it (the BMC keeps one in <state>/token; `backplane token create --join --ttl 1h` makes short-lived ones).")) var joinTokenFile: String?
    @Option(help: .hidden) var token: String?
    @Option(help: ArgumentHelp("A file holding the bus CA's SHA-256 fingerprint (needed only to enroll).", discussion: "Default: $BACKPLANE_CA_FINGERPRINT. `backplane bmc` prints it. The card trusts the BMC only if its certificate chains to that CA; it then keeps the CA, its key and certificate in <state>/tls.")) var caFingerprintFile: String?
    @Flag(help: ArgumentHelp("Plain TCP to the BMC (a BMC run with --insecure).", discussion: InsecureMode.help)) var insecure = false

    /// `LANESxRATE` (`4x25Gbps`): bits a second, lanes 1 to 64.
    static func parseLink(_ text: String) throws -> Int64 {
        let parts = text.lowercased().split(separator: "x", maxSplits: 1).map(String.init)
        let expected = "--link must be LANESxRATE such as 4x25Gbps or 1x10Gbps (1 to 64 lanes), got '\(text.prefix(64))'"
        guard parts.count == 2, let lanes = Int(parts[0]), (1...64).contains(lanes) else { throw ValidationError(expected) }
        let rateText = String(text.split(separator: text.contains("x") ? "x" : "X", maxSplits: 1)[1])
        let rate: Int64
        do { rate = try Quantity.parseBitRate(rateText) } catch { throw ValidationError("--link: rate per lane: \(error)") }
        guard rate > 0 else { throw ValidationError("--link: the rate per lane must be above 0") }
        let (total, overflow) = rate.multipliedReportingOverflow(by: Int64(lanes))
        guard !overflow, total <= Resources.maximum.networkBitsPerSecond else {
            throw ValidationError("--link: \(lanes) × \(Quantity.formatBitRate(rate)) is more than \(Quantity.formatBitRate(Resources.maximum.networkBitsPerSecond))")
        }
        return total
    }

    static func parseGPUs(_ text: String) throws -> [String] {
        let models = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        if text.isEmpty { return [] }
        guard models.count <= 64, models.allSatisfy({ !$0.isEmpty && !$0.contains("|") }) else {
            throw ValidationError("--gpus must be comma-separated GPU model names such as T4,T4 (at most 64), got '\(text)'")
        }
        return models
    }

    func run() async throws {
        let state = (self.state as NSString).standardizingPath
        var capacity: Resources
        do {
            capacity = Resources(cpuMillis: try Quantity.parseCPU(cpu), memoryBytes: try Quantity.parseBytes(memory))
        } catch {
            throw ValidationError("--cpu/--memory: \(error)")
        }
        capacity.networkBitsPerSecond = try Self.parseLink(link)
        let parts = bmc.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else { throw ValidationError("--bmc must be host:port, got '\(bmc)'") }
        if token != nil { throw ValidationError(JoinToken.notOnArgv) }
        let joinToken = try joinTokenFile.map(JoinToken.read) ?? JoinToken.fromEnvironment()
        let credentials = state + "/tls"
        let enrolled = (try? CardCredentials.load(directory: credentials)) != nil
        if insecure {
            InsecureMode.warn("card")
        }
        guard let token = joinToken ?? (enrolled && !insecure ? "" : nil) else {
            throw ValidationError("a join token is needed to join: --join-token-file FILE or $BACKPLANE_JOIN_TOKEN (the BMC keeps one in <state>/token; `backplane token create --join` makes more)")
        }
        let fingerprint = try caFingerprintFile.map(Self.readFingerprint) ?? ProcessInfo.processInfo.environment["BACKPLANE_CA_FINGERPRINT"].map { text in
            guard let fingerprint = Fingerprint.normalize(text) else { throw ValidationError("$BACKPLANE_CA_FINGERPRINT: '\(text.prefix(80))' is not a SHA-256 fingerprint (64 hex digits, optionally sha256: and colons)") }
            return fingerprint
        }
        if !insecure && !enrolled && fingerprint == nil {
            throw ValidationError("this card is not enrolled yet: it needs the bus CA's fingerprint (--ca-fingerprint-file FILE or $BACKPLANE_CA_FINGERPRINT; `backplane bmc` prints it) and a join token")
        }
        // Its logs and the specs it runs (env secrets): root only.
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        chmod(state, 0o700)
        let runtime = try Self.makeRuntime(runtime, state: state, imageStore: imageStore)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var configuration = CardAgent.Configuration(name: name, stateDirectory: state, bmc: .tcp(host: String(parts[0]), port: port), token: token, capacity: capacity)
        configuration.gpus = try Self.parseGPUs(gpus)
        if !insecure { configuration.security = CardLinkSecurity(caFingerprint: fingerprint, credentialsDirectory: credentials) }
        let agent = try CardAgent(configuration: configuration, runtime: runtime, group: group)
        print("card \(name): offering \(capacity)\(configuration.gpus.isEmpty ? "" : " and \(configuration.gpus.count) GPU(s) \(configuration.gpus.joined(separator: ","))"), runtime \(runtime.kind), joining \(insecure ? "tcp" : "tls")://\(bmc)")
        fflush(nil)  // long-running: show it now, also when stdout is a pipe or file
        // SIGINT/SIGTERM: the agent stops every instance (TERM, grace, KILL), then exits.
        let services = ServiceGroup(configuration: .init(
            services: [.init(service: agent)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: Logger(label: "backplane.card.services")
        ))
        try await services.run()
        try await group.shutdownGracefully()
        print("card \(name): stopped; no instances left")
        fflush(nil)  // long-running: show it now, also when stdout is a pipe or file
    }

    static func readFingerprint(_ path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path), let data = try? handle.read(upToCount: 1024) else {
            throw ValidationError("--ca-fingerprint-file: cannot read '\(path)'")
        }
        try? handle.close()
        guard let fingerprint = Fingerprint.normalize(String(decoding: data, as: UTF8.self)) else {
            throw ValidationError("--ca-fingerprint-file: '\(path)' holds no SHA-256 fingerprint (64 hex digits, optionally sha256: and colons)")
        }
        return fingerprint
    }

    static func makeRuntime(_ choice: String, state: String, imageStore: String = ImageStore.defaultDirectory) throws -> any ContainerRuntime {
        let runtimeState = state + "/runtime"
        switch choice {
        case "runc":
            if let reason = RuncRuntime.unavailableReason() { throw ValidationError("--runtime runc: \(reason)") }
            return try RuncRuntime(stateDirectory: runtimeState, cacheDirectory: imageStore, cgroupParent: CgroupPaths.cardParent(stateDirectory: state))
        case "process":
            FileHandle.standardError.write(Data((ProcessRuntime.warning + "\n").utf8))
            return try ProcessRuntime(stateDirectory: runtimeState)
        case "auto":
            if let reason = RuncRuntime.unavailableReason() {
                FileHandle.standardError.write(Data("runc unavailable (\(reason)): using the process driver.\n\(ProcessRuntime.warning)\n".utf8))
                return try ProcessRuntime(stateDirectory: runtimeState)
            }
            return try makeRuntime("runc", state: state)
        default:
            throw ValidationError("--runtime must be runc, process or auto, got '\(choice)'")
        }
    }
}

/// The BMC's HTTP API as a service of the BMC's service group.
struct APIService: Service {
    let api: APIServer
    let host: String
    let port: Int
    var tls: TLSConfiguration?
    func run() async throws { try await api.run(host: host, port: port, tls: tls) }
}

/// `--insecure`: plain TCP and HTTP, for debugging only, and loudly so.
enum InsecureMode {
    static let help = "No certificates: anyone who can reach the ports can read and forge links and API calls (tokens included). For debugging only; prints a warning."

    static func warn(_ who: String) {
        FileHandle.standardError.write(Data("""
        WARNING: \(who) runs with --insecure: DCL links are plain TCP and the API plain HTTP. Anyone who can reach \
        these ports can read and forge bus traffic and API tokens. Use it only for debugging.

        """.utf8))
    }
}

/// The join token a card presents: from a file or the environment, never from argv (any local
/// user can read every process's command line in `ps`; a process's environment only its owner).
enum JoinToken {
    static let environmentVariable = "BACKPLANE_JOIN_TOKEN"
    static let notOnArgv = "--token puts the join token on the command line, where every local user can read it (ps); use --join-token-file FILE or $BACKPLANE_JOIN_TOKEN"

    static func read(_ path: String) throws -> String {
        // At most 4 KiB: the path may name /dev/zero or a pipe.
        guard let handle = FileHandle(forReadingAtPath: path), let data = try? handle.read(upToCount: 4096) else {
            throw ValidationError("--join-token-file: cannot read '\(path)'")
        }
        try? handle.close()
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty, token.count <= 256, token.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "\0" }) else {
            throw ValidationError("--join-token-file: '\(path)' holds no token (1 to 256 printable ASCII characters)")
        }
        return token
    }

    static func fromEnvironment() -> String? {
        ProcessInfo.processInfo.environment[environmentVariable].map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
    }
}
