import ArgumentParser
import BackplaneModel
import BusController
import Foundation

struct Top: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Live usage per card and per workload, measured from the instances' cgroups.",
        discussion: """
        Usage comes from each card's profiler (CPU, memory, block I/O and pids read from the \
        instances' cgroups every second, reported every 10 s), next to what the instances requested \
        and what the card offers. A new instance shows up after its first 10-second point. \
        --watch refreshes every --interval seconds until interrupted.
        """
    )
    @OptionGroup var options: BMCOptions
    @Flag(help: "Refresh until interrupted.") var watch = false
    @Option(help: "Seconds between refreshes with --watch.") var interval = 2.0

    func validate() throws {
        guard interval >= 0.2 else { throw ValidationError("--interval must be at least 0.2 seconds") }
    }

    func run() async throws {
        try await runClient {
            let client = try options.client()
            repeat {
                if options.json {
                    printJSON(try await client.request("GET", "v1/metrics"))
                } else {
                    let text = try await Self.render(client)
                    if watch { print("\u{1B}[H\u{1B}[2J", terminator: "") }
                    print(text)
                }
                if watch { try await Task.sleep(for: .seconds(interval)) }
            } while watch
        }
    }

    static func render(_ client: BMCClient) async throws -> String {
        let cards = try await client.get("v1/cards", as: [APIServer.CardStatus].self)
        let usage = try await client.get("v1/metrics", as: [Monitor.InstanceUsage].self)
        let instances = try await client.get("v1/instances", as: [Instance].self)
        var out = table(["CARD", "NAME", "STATE", "CPU USED/REQ/CAP", "MEMORY USED/REQ/CAP", "INSTANCES"], cards.map { c in
            let mine = usage.filter { $0.card == c.id }
            let cpu = mine.reduce(0) { $0 + $1.point.cpuMillicores }
            let memory = mine.reduce(0) { $0 + $1.point.memoryBytes }
            return ["\(c.id)", c.name, c.state.rawValue,
                    "\(formatMillicores(cpu))/\(Quantity.formatCPU(c.allocated.cpuMillis))/\(Quantity.formatCPU(c.capacity.cpuMillis))",
                    "\(formatBytes(memory))/\(Quantity.formatBytes(c.allocated.memoryBytes))/\(Quantity.formatBytes(c.capacity.memoryBytes))",
                    "\(c.instances)"]
        })
        out += "\n\n"
        let byWorkload = Dictionary(grouping: usage, by: \.point.workload)
        let requested = Dictionary(grouping: instances.filter { $0.state == .running }, by: { "\($0.tenant)/\($0.workload)" })
        out += table(["WORKLOAD", "INSTANCES", "CPU USED/REQ", "MEMORY USED/REQ", "MEMORY PEAK", "IO/S", "PIDS"], byWorkload.keys.sorted().map { key in
            let points = byWorkload[key]!.map(\.point)
            let req = requested[key] ?? []
            let peak = points.compactMap(\.memoryPeakBytes).max()
            let io = points.compactMap(\.ioBytesPerSecond)
            let pids = points.compactMap(\.pids)
            return [key, "\(points.count)",
                    "\(formatMillicores(points.reduce(0) { $0 + $1.cpuMillicores }))/\(Quantity.formatCPU(req.reduce(0) { $0 + $1.requested.cpuMillis }))",
                    "\(formatBytes(points.reduce(0) { $0 + $1.memoryBytes }))/\(Quantity.formatBytes(req.reduce(0) { $0 + $1.requested.memoryBytes }))",
                    peak.map(formatBytes) ?? "-", io.isEmpty ? "-" : formatBytes(io.reduce(0, +)), pids.isEmpty ? "-" : "\(pids.reduce(0, +))"]
        })
        if byWorkload.isEmpty { out += "\n(no usage yet: running instances report every 10 s)" }
        return out
    }
}

extension Forecast {
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A workload's recent usage and the BMC's forecast for it.",
            discussion: """
            The BMC feeds every workload's usage (CPU and memory summed over its instances, one point \
            per 10 s) into forecasting models for horizons of 1m, 5m and 1h. The forecast is, per \
            quantile, the usage the workload is expected to stay under over the whole horizon.
            """
        )
        @Argument(help: "The workload name.") var name: String
        @Option(help: "The workload's tenant (default: the token's; a bus-admin's is default).") var tenant: String?
        @Option(help: "How far ahead: 1m, 5m or 1h.") var horizon = "5m"
        @Option(help: "Comma-separated quantiles, each between 0 and 1.") var quantiles = "0.5,0.9,0.99"
        @Option(help: "How many recent points to show.") var history = 12
        @OptionGroup var options: BMCOptions

        func run() async throws {
            try await runClient {
                let client = try options.client()
                let data = try await client.request("GET", "v1/workloads/\(name)/forecast", query: ["tenant": tenant, "horizon": horizon, "quantiles": quantiles].compactMapValues { $0 })
                if options.json { printJSON(data); return }
                let f: APIServer.WorkloadForecast
                do { f = try JSONDecoder().decode(APIServer.WorkloadForecast.self, from: data) } catch { throw CLIError("unexpected answer from the BMC: \(error)") }
                print("workload \(f.workload): \(f.observedPoints) point(s) of \(Int(f.stepSeconds)) s seen by the \(f.model) models")
                if let message = f.message {
                    print(message)
                    return
                }
                let formatter = DateFormatter()
                formatter.dateFormat = "HH:mm:ss"
                print("\nRECENT USAGE")
                print(table(["TIME", "INSTANCES", "CPU", "MEMORY", "MEMORY MAX"], f.history.suffix(max(1, history)).map { p in
                    [formatter.string(from: Date(timeIntervalSince1970: p.time)), "\(p.instances)", formatMillicores(p.cpuMillicores), formatBytes(p.memoryBytes), formatBytes(p.memoryMaxBytes)]
                }))
                print("\nFORECAST: the peak usage over the next \(f.horizon)")
                var rows = f.quantiles.map { l in
                    [String(format: "p%g", l.quantile * 100), formatMillicores(l.cpuMillicores), formatBytes(l.memoryBytes)]
                }
                if let l = f.limit { rows.append(["limit", formatMillicores(l.cpuMillicores), formatBytes(l.memoryBytes)]) }
                print(table(["QUANTILE", "CPU", "MEMORY"], rows))
                print("(pN: the peak stays below it with probability N%, from this workload's own forecast errors; limit: what the \(f.model) model sets)")
            }
        }
    }
}

/// Millicores for people: `250m`, `1.25` (cores).
func formatMillicores(_ m: Double) -> String {
    m < 1000 ? String(format: "%.0fm", m) : String(format: "%.2f", m / 1000)
}

/// Bytes for people with binary units: `512Ki`, `64.0Mi`.
func formatBytes(_ b: Double) -> String {
    let units = ["", "Ki", "Mi", "Gi", "Ti"]
    var value = b
    var i = 0
    while value >= 1024 && i < units.count - 1 {
        value /= 1024
        i += 1
    }
    return i == 0 ? String(format: "%.0f", value) : String(format: "%.1f%@", value, units[i])
}
