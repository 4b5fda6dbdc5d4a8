import ArgumentParser
import BackplaneModel
import Foundation
import WorkloadBalancer

struct Sim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulate placement on recorded traces with the real AWB (no second implementation).",
        subcommands: [Openb.self]
    )

    struct Openb: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The openb workload-inflation experiment (Weng et al., ATC '23) on AWB and baseline policies.",
            discussion: """
            The bus is every machine of --nodes; the tasks are --pods plus tasks drawn with replacement \
            until the total GPU request would pass --inflation × the bus's GPU capacity; the list is \
            shuffled with the seed; tasks arrive one at a time, never leave, and are skipped when they \
            fit nowhere. Reports the share of GPU capacity allocated once the arrived GPU request \
            reaches 100 % and 130 % of capacity (gpu_alloc_pct_at_100 / _at_130), placed and failed \
            tasks, and placements per second. The baselines (--baselines) run in the same process on \
            the same task lists. With several seeds (--seeds 42-51) the figures are means. \
            Files: ../shared/traces/placement/openb (openb_node_list_all_node.csv, openb_pod_list_*.csv).
            """
        )
        @Option(help: "Node list CSV (sn,cpu_milli,memory_mib,gpu,model).") var nodes: String
        @Option(help: "Pod list CSV (name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,...).") var pods: String
        @Option(help: "Shuffle seed.") var seed: UInt64 = 42
        @Option(help: "A range of seeds, e.g. 42-51 (overrides --seed); figures are means over them.") var seeds: String?
        @Option(help: "Total GPU request to reach, as a multiple of GPU capacity.") var inflation = 1.3
        @Option(help: "Policy under test: \(AWBRegistry.policyNames.joined(separator: ", ")).") var policy = "awb"
        @Option(help: "Comma-separated baseline policies run alongside ('' for none).") var baselines = "random,bestfit,dotprod"
        @Option(help: "Write the curve (allocated GPU % at each whole percent of arrived GPU request) as CSV here.") var curve: String?
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            guard inflation >= 1, inflation <= 3 else { throw ValidationError("--inflation must be between 1 and 3") }
            for name in [policy] + baselineNames where AWBRegistry.policy(named: name) == nil {
                throw ValidationError("unknown policy '\(name)'; choose from \(AWBRegistry.policyNames.joined(separator: ", "))")
            }
            _ = try seedList()
        }

        var baselineNames: [String] { baselines.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && $0 != policy } }

        func seedList() throws -> [UInt64] {
            guard let seeds else { return [seed] }
            let parts = seeds.split(separator: "-").map { UInt64($0.trimmingCharacters(in: .whitespaces)) }
            if parts.count == 1, let one = parts[0] { return [one] }
            guard parts.count == 2, let a = parts[0], let b = parts[1], a <= b, b - a < 1000 else {
                throw ValidationError("--seeds must be a range such as 42-51, got '\(seeds)'")
            }
            return Array(a...b)
        }

        static func read(_ path: String, what: String) throws -> String {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ValidationError("--\(what) \(path): cannot read the file") }
            return text
        }

        func run() async throws {
            let nodeList: [OpenbNode]
            let taskList: [OpenbTask]
            do {
                nodeList = try OpenbTrace.parseNodes(try Self.read(nodes, what: "nodes"), file: nodes)
                taskList = try OpenbTrace.parseTasks(try Self.read(pods, what: "pods"), file: pods)
            } catch let error as OpenbParseError {
                FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                throw ExitCode(2)
            }
            let names = [policy] + baselineNames
            let seeds = try seedList()
            var results: [String: [OpenbExperiment.Result]] = [:]
            var seconds: [String: Double] = [:]
            for name in names {
                for s in seeds {
                    let p = AWBRegistry.policy(named: name)!
                    let t0 = Self.monotonic()
                    let r = OpenbExperiment.run(nodes: nodeList, tasks: taskList, policy: p, seed: s, inflation: inflation, progressEvery: 2000) { progress in
                        FileHandle.standardError.write(Data(String(format: "\r%@ seed %llu: %d/%d tasks, GPU allocated %.2f%%", name, s, progress.arrived, progress.total, progress.gpuAllocPct).utf8))
                    }
                    FileHandle.standardError.write(Data("\n".utf8))
                    seconds[name, default: 0] += Self.monotonic() - t0
                    results[name, default: []].append(r)
                }
            }
            func mean(_ xs: [Double?]) -> Double? {
                let v = xs.compactMap { $0 }
                return v.count == xs.count && !v.isEmpty ? v.reduce(0, +) / Double(v.count) : nil
            }
            func summary(_ name: String) -> [String: Any] {
                let rs = results[name]!
                var d: [String: Any] = [
                    "policy": name, "seeds": seeds.map { Int($0) },
                    "placed": rs.map(\.placed).reduce(0, +) / rs.count, "failed": rs.map(\.failed).reduce(0, +) / rs.count,
                    "tasks": rs.map(\.tasks).reduce(0, +) / rs.count,
                    "placements_per_s": Int(Double(rs.map(\.tasks).reduce(0, +)) / max(seconds[name]!, 1e-9)),
                ]
                d["gpu_alloc_pct_at_100"] = mean(rs.map(\.gpuAllocPctAt100)) ?? NSNull()
                d["gpu_alloc_pct_at_130"] = mean(rs.map(\.gpuAllocPctAt130)) ?? NSNull()
                return d
            }
            if let curve {
                let percents = Set(results.values.flatMap { $0.flatMap { $0.curve.keys } }).sorted()
                var out = "arrived_gpu_pct," + names.map { "\($0)_gpu_alloc_pct" }.joined(separator: ",") + "\n"
                for p in percents {
                    out += "\(p)," + names.map { n in mean(results[n]!.map { $0.curve[p] }).map { String(format: "%.3f", $0) } ?? "" }.joined(separator: ",") + "\n"
                }
                try out.write(toFile: curve, atomically: true, encoding: .utf8)
            }
            let main = summary(policy)
            if json {
                var object = main
                object["list"] = (pods as NSString).lastPathComponent
                object["inflation"] = inflation
                object["baselines"] = baselineNames.map(summary)
                print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
                return
            }
            let seedText = seeds.count == 1 ? "seed \(seeds[0])" : "means over seeds \(seeds.first!)-\(seeds.last!)"
            print("\((pods as NSString).lastPathComponent) on \(nodeList.count) machines, inflation \(inflation), \(seedText)")
            func pct(_ x: Any?) -> String { (x as? Double).map { String(format: "%.2f", $0) } ?? "-" }
            print(table(["POLICY", "GPU ALLOC % @100", "@130", "PLACED", "FAILED", "PLACEMENTS/S"], names.map(summary).map { d in
                [d["policy"] as! String, pct(d["gpu_alloc_pct_at_100"]), pct(d["gpu_alloc_pct_at_130"]), "\(d["placed"]!)", "\(d["failed"]!)", "\(d["placements_per_s"]!)"]
            }))
            if let curve { print("curve written to \(curve)") }
        }

        static func monotonic() -> Double {
            var ts = timespec()
            clock_gettime(CLOCK_MONOTONIC, &ts)
            return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        }
    }
}
