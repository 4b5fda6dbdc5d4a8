import ArgumentParser
import BackplaneModel
import BusController
import Foundation
import X509

struct BMCOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The BMC's API URL.", discussion: "Default: $BACKPLANE_BMC, else \"bmc\" in the client config, else https://127.0.0.1:7070 (what `backplane up` uses)."))
    var bmc: String?

    @Option(name: .long, help: ArgumentHelp("The API token.", discussion: "Visible to every local user in ps: prefer $BACKPLANE_TOKEN or \"token\" in the client config ($BACKPLANE_CONFIG, else ~/.config/backplane/config.json, mode 0600; `backplane up` writes it)."))
    var token: String?

    @Option(name: .long, help: ArgumentHelp("The bus CA's certificate (PEM file) the API's HTTPS certificate must chain to.", discussion: "Default: $BACKPLANE_CA, else \"ca\" in the client config (`backplane up` writes <state>/bmc/ca.pem there)."))
    var ca: String?

    @Flag(name: .long, help: "Print JSON for scripts instead of a table.")
    var json = false

    static let defaultBMC = "https://127.0.0.1:7070"

    func client() throws -> BMCClient {
        let environment = ProcessInfo.processInfo.environment
        let (url, credential) = try Self.resolve(bmc: bmc, token: token, environment: environment, loadConfig: ClientConfig.load)
        return try BMCClient(url, credential: credential, ca: try Self.resolveCA(ca: ca, environment: environment, loadConfig: ClientConfig.load))
    }

    /// The bus CA: `--ca`, `$BACKPLANE_CA`, the config's `ca` (each a PEM file's path); nil when
    /// none is named (then only the system's CAs are trusted).
    static func resolveCA(ca: String?, environment: [String: String], loadConfig: (String) throws -> ClientConfig?) throws -> Certificate? {
        var named = ca.flatMap { $0.isEmpty ? nil : ($0, "--ca") } ?? environment["BACKPLANE_CA"].flatMap { $0.isEmpty ? nil : ($0, "$BACKPLANE_CA") }
        if named == nil, let path = try loadConfig(ClientConfig.path(environment: environment))?.ca, !path.isEmpty {
            named = (path, "the client config's \"ca\"")
        }
        guard let (path, source) = named else { return nil }
        guard let handle = FileHandle(forReadingAtPath: path), let data = try? handle.read(upToCount: 65_536) else {
            throw CLIError("\(source): cannot read the CA certificate '\(path)'", exitCode: 2)
        }
        try? handle.close()
        do {
            return try Certificate(pemEncoded: String(decoding: data, as: UTF8.self))
        } catch {
            throw CLIError("\(source): '\(path)' holds no PEM certificate (\(error))", exitCode: 2)
        }
    }

    /// The URL and token: `--bmc`, `$BACKPLANE_BMC`, the config's `bmc`, the default; `--token`,
    /// `$BACKPLANE_TOKEN`, the config's `token`. The config is read only when it is needed.
    static func resolve(bmc: String?, token: String?, environment: [String: String], loadConfig: (String) throws -> ClientConfig?) throws -> (String, BMCClient.Credential?) {
        func nonEmpty(_ s: String?) -> String? { s.flatMap { $0.isEmpty ? nil : $0 } }
        var url = nonEmpty(bmc) ?? nonEmpty(environment["BACKPLANE_BMC"])
        var credential = nonEmpty(token).map { BMCClient.Credential(token: $0, source: "--token") }
            ?? nonEmpty(environment["BACKPLANE_TOKEN"]).map { BMCClient.Credential(token: $0, source: "$BACKPLANE_TOKEN") }
        if url == nil || credential == nil {
            let path = ClientConfig.path(environment: environment)
            if let config = try loadConfig(path) {
                url = url ?? nonEmpty(config.bmc)
                credential = credential ?? nonEmpty(config.token).map { BMCClient.Credential(token: $0, source: "the client config \(path)") }
            }
        }
        return (url ?? defaultBMC, credential)
    }
}

/// Runs a client command, turning failures into a message and a meaningful exit code.
func runClient(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as CLIError {
        FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
        throw ExitCode(error.exitCode)
    }
}

struct Deploy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create or update a workload from a YAML or JSON spec.",
        discussion: """
        Fields: name, tenant (default "default"), priority (0-1000, default 500), image ("busybox" or a \
        name from the cards' image store, see `backplane image`), command (a list, or one line run under sh -c), env, \
        resources {cpu: 250m, memory: 128Mi, network: 100Mbps, storage_iops: N, gpu: 1 (whole GPUs) or 500m (a share \
        of one), gpu_models: [T4, V100M16]}, replicas (default 1), \
        restart (always | on-failure | never). See examples/.
        """
    )
    @Argument(help: "The spec file (.yaml, .yml or .json); - reads standard input.") var file: String
    @OptionGroup var options: BMCOptions

    func run() async throws {
        try await runClient {
            let data: Data
            if file == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let contents = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read \(file)", exitCode: 2) }
                data = contents
            }
            let type = file.hasSuffix(".json") ? "application/json" : "application/yaml"
            let reply = try await options.client().request("POST", "v1/workloads", body: data, contentType: type)
            if options.json { printJSON(reply); return }
            let spec = try JSONDecoder().decode(WorkloadSpec.self, from: reply)
            print("workload \(spec.name) applied: \(spec.replicas) replica(s) of \(spec.resources)")
            print("watch it with: backplane workloads, backplane instances")
        }
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete a workload; its instances are stopped.")
    @Argument(help: "The workload name.") var name: String
    @Option(help: "The workload's tenant (default: the token's; a bus-admin's is default).") var tenant: String?
    @OptionGroup var options: BMCOptions

    func run() async throws {
        try await runClient {
            _ = try await options.client().request("DELETE", "v1/workloads/\(name)", query: tenant.map { ["tenant": $0] } ?? [:])
            print("workload \(name) deleted; its instances are stopping")
        }
    }
}

struct Scale: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Set a workload's replica count.")
    @Argument(help: "The workload name.") var name: String
    @Option(help: "The new replica count (0-1000).") var replicas: Int
    @Option(help: "The workload's tenant (default: the token's; a bus-admin's is default).") var tenant: String?
    @OptionGroup var options: BMCOptions

    func run() async throws {
        try await runClient {
            _ = try await options.client().request("POST", "v1/workloads/\(name)/scale", query: tenant.map { ["tenant": $0] } ?? [:], body: Data("{\"replicas\": \(replicas)}".utf8))
            print("workload \(name) scaled to \(replicas) replica(s)")
        }
    }
}

struct Cards: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the cards on the bus.")
    @OptionGroup var options: BMCOptions

    func run() async throws {
        try await runClient {
            let client = try options.client()
            if options.json { printJSON(try await client.request("GET", "v1/cards")); return }
            let cards = try await client.get("v1/cards", as: [APIServer.CardStatus].self)
            print(table(["CARD", "NAME", "STATE", "PHI", "HEARTBEAT", "RTT", "CPU USED/CAP", "MEMORY USED/CAP", "GPUS", "INSTANCES"], cards.map { c in
                ["\(c.id)", c.name, c.state.rawValue,
                 c.phi.map { String(format: "%.1f", $0) } ?? "-",
                 c.heartbeatAgeMs.map { $0 < 10_000 ? "\($0) ms ago" : "\($0 / 1000) s ago" } ?? "never",
                 c.heartbeatRttUs.map { $0 < 10_000 ? "\($0) µs" : "\($0 / 1000) ms" } ?? "-",
                 "\(Quantity.formatCPU(c.allocated.cpuMillis))/\(Quantity.formatCPU(c.capacity.cpuMillis))",
                 "\(Quantity.formatBytes(c.allocated.memoryBytes))/\(Quantity.formatBytes(c.capacity.memoryBytes))",
                 c.gpus.map { "\(String(format: "%g", Double(c.gpuAllocatedMilli ?? 0) / 1000))/\($0.count) \(Set($0).sorted().joined(separator: ","))" } ?? "-",
                 "\(c.instances)"]
            }))
        }
    }
}

struct Workloads: AsyncParsableCommand {
    /// "web-1 exited with 1 (3 restarts); next restart in 8 s".
    static func describe(_ e: APIServer.WorkloadStatus.LastExit) -> String {
        var text = "\(e.instance) \(e.reason ?? e.exitCode.map { "exited with \($0)" } ?? "ended") (\(e.restarts) restart\(e.restarts == 1 ? "" : "s"))"
        if let next = e.nextRestart {
            var ts = timespec()
            clock_gettime(CLOCK_REALTIME, &ts)
            let now = UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
            let seconds = next.nanoseconds > now ? Int((next.nanoseconds - now + 999_999_999) / 1_000_000_000) : 0
            text += "; next restart in \(seconds) s"
        }
        return text
    }

    static let configuration = CommandConfiguration(abstract: "List workloads with running and pending counts, and why any are pending.")
    @OptionGroup var options: BMCOptions

    func run() async throws {
        try await runClient {
            let client = try options.client()
            if options.json { printJSON(try await client.request("GET", "v1/workloads")); return }
            let workloads = try await client.get("v1/workloads", as: [APIServer.WorkloadStatus].self)
            print(table(["WORKLOAD", "TENANT", "PRIORITY", "RUNNING/DESIRED", "PENDING", "REASON"], workloads.map { w in
                guard let spec = w.spec, w.state == .active else {
                    // A stored record that no longer validates: never reconciled until deleted or redeployed.
                    return [w.name, w.tenant, "-", "\(w.running)/-", "\(w.pending)", "QUARANTINED: \(w.quarantineReason ?? "invalid record")"]
                }
                return [spec.name, spec.tenant, "\(spec.priority)", "\(w.running)/\(spec.replicas)", "\(w.pending)", w.pendingReason ?? w.lastExit.map(Self.describe) ?? ""]
            }))
            let quarantined = workloads.filter { $0.state == .quarantined }.count
            if quarantined > 0 {
                print("\n\(quarantined) quarantined workload record(s): fix with `backplane delete <name>` or deploy a valid spec of that name.")
            }
        }
    }
}

struct Instances: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List instances: card, state, runtime, container and host PID.")
    @OptionGroup var options: BMCOptions

    func run() async throws {
        try await runClient {
            let client = try options.client()
            if options.json { printJSON(try await client.request("GET", "v1/instances")); return }
            let instances = try await client.get("v1/instances", as: [Instance].self)
            print(table(["INSTANCE", "WORKLOAD", "CARD", "STATE", "READY", "RUNTIME", "PID", "RESTARTS", "LAST EXIT"], instances.map { i in
                [i.id, i.workload, i.card.map { "\($0)" } ?? "-", i.state.rawValue,
                 i.state != .running ? "-" : i.ready.map { $0 ? "yes" : "no" } ?? "yes",
                 i.runtime ?? "-", i.pid.map { "\($0)" } ?? "-", "\(i.restarts)",
                 i.exitReason ?? i.exitCode.map { "\($0)" } ?? "-"]
            }))
        }
    }
}

struct Logs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the output of a workload's instances (or of one instance).")
    @Argument(help: "A workload name (all its instances) or an instance id such as web-0 (team-a_web-0 in tenant team-a).") var name: String
    @Option(help: "The workload's tenant (for a workload name; default: the only tenant with such a workload, else default).") var tenant: String?
    @OptionGroup var options: BMCOptions

    func run() async throws {
        try await runClient {
            let client = try options.client()
            let instances = try await client.get("v1/instances", as: [Instance].self)
            let named = instances.filter { $0.workload == name }
            let wanted = tenant ?? (Set(named.map(\.tenant)).count == 1 ? named.first?.tenant : WorkloadSpec.defaultTenant)
            let chosen = instances.contains { $0.id == name } ? [name] : named.filter { $0.tenant == wanted }.map(\.id)
            guard !chosen.isEmpty else { throw CLIError("no workload or instance named '\(name)'", exitCode: 1) }
            for id in chosen {
                let data = try await client.request("GET", "v1/instances/\(id)/logs")
                if chosen.count > 1 { print("==> \(id) <==") }
                print(String(decoding: data, as: UTF8.self), terminator: "")
            }
        }
    }
}

struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show recent bus events (cards joining and lost, instances starting and exiting).")
    @OptionGroup var options: BMCOptions

    func run() async throws {
        try await runClient {
            let client = try options.client()
            if options.json { printJSON(try await client.request("GET", "v1/events")); return }
            let events = try await client.get("v1/events", as: [BusEvent].self)
            let formatter = ISO8601DateFormatter()
            print(table(["TIME", "KIND", "MESSAGE"], events.map { e in
                [formatter.string(from: Date(timeIntervalSince1970: Double(e.time.nanoseconds) / 1e9)), e.kind, e.message]
            }))
        }
    }
}

struct Drain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drain a card: nothing new is placed on it and its instances move to other cards.",
        discussion: "When the drained card then leaves the bus (its process stops), it is marked removed, not lost."
    )
    @Argument(help: "The CardID, e.g. c-0001-000000 (see backplane cards).") var card: String
    @OptionGroup var options: BMCOptions

    func run() async throws {
        try await runClient {
            _ = try await options.client().request("POST", "v1/cards/\(card)/drain")
            print("card \(card) is draining; its instances are moving (watch: backplane instances)")
        }
    }
}
