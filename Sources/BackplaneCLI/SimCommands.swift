import ArgumentParser
import BackplaneModel
import Foundation
import WorkloadBalancer

struct Sim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulate placement (the real AWB) and allocation policies on recorded traces.",
        subcommands: [Openb.self, Replay.self, Allocate.self]
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

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay a placement trace's arrivals and departures on a bus: utilisation over time, pending times, preemptions.",
            discussion: """
            --trace is a folder or file: an openb pod list (creation and deletion times; the bus is the \
            openb node list next to it, or with --cards N that many copies of its most common GPU \
            machine) or alibaba-2017's batch_task.csv \
            (each task's instances arrive at its create time and hold their request until its end time; \
            the bus is --cards identical machines of --card-cpu cores and --card-memory normalised \
            memory — most machines in server_event.csv have 64 cores and 0.69). Instances that fit \
            nowhere wait and are retried whenever resources are freed (priority first, then \
            dominant-resource-fair across tenants); a higher-priority instance may preempt strictly \
            lower-priority ones (--no-preemption to forbid), which then wait again. Times are the \
            trace's seconds. The full alibaba-2017 trace (11 million instances) takes about 4 minutes (release build); \
            --max-instances-per-task caps big tasks for a quick look (and says how many it dropped).
            """
        )
        @Option(help: "Trace folder or file (openb pod list, or alibaba-2017 batch_task.csv).") var trace: String
        @Option(help: "With an openb folder: which pod list.") var pods = "openb_pod_list_default.csv"
        @Option(help: "Identical cards instead of the openb node list (required for alibaba-2017).") var cards: Int?
        @Option(help: "alibaba-2017: cores per card.") var cardCpu: Int64 = 64
        @Option(help: "alibaba-2017: memory per card, normalised as in the trace.") var cardMemory = 0.69
        @Option(help: "Seed (ties and random choices).") var seed: UInt64 = 42
        @Option(help: "Policy: \(AWBRegistry.policyNames.joined(separator: ", ")).") var policy = "awb"
        @Flag(help: "Never preempt.") var noPreemption = false
        @Option(help: "Replay at most this many instances of each task.") var maxInstancesPerTask: Int?
        @Option(help: "Write the utilisation samples (time, cpu, memory, gpu, running, pending) as CSV here.") var samples: String?
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            guard AWBRegistry.policy(named: policy) != nil else { throw ValidationError("unknown policy '\(policy)'; choose from \(AWBRegistry.policyNames.joined(separator: ", "))") }
            if let cards, !(1...200_000).contains(cards) { throw ValidationError("--cards must be 1 to 200000") }
            if let m = maxInstancesPerTask, m < 1 { throw ValidationError("--max-instances-per-task must be at least 1") }
            guard cardCpu > 0, cardMemory > 0 else { throw ValidationError("--card-cpu and --card-memory must be positive") }
        }

        func run() async throws {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: trace, isDirectory: &isDirectory) else { throw ValidationError("--trace \(trace): no such file or folder") }
            let folder = isDirectory.boolValue ? trace : (trace as NSString).deletingLastPathComponent
            var file = trace
            if isDirectory.boolValue {
                let batch = (trace as NSString).appendingPathComponent("batch_task.csv")
                file = FileManager.default.fileExists(atPath: batch) ? batch : (trace as NSString).appendingPathComponent(pods)
            }
            let text = try Openb.read(file, what: "trace")
            let isAlibaba = (file as NSString).lastPathComponent.hasPrefix("batch_task")
            let loaded: ReplayTrace
            let bus: [CardSpec]
            do {
                if isAlibaba {
                    guard let cards else { throw ValidationError("alibaba-2017 has no machine list to place on: give --cards N (e.g. 1300)") }
                    loaded = try ReplayTrace.alibaba2017BatchTasks(text, file: file)
                    bus = ReplayTrace.alibaba2017Cards(count: cards, cores: cardCpu, memory: cardMemory)
                } else {
                    loaded = try ReplayTrace.openb(text, file: file)
                    let nodesFile = (folder as NSString).appendingPathComponent("openb_node_list_all_node.csv")
                    let nodes = try OpenbTrace.parseNodes(try Openb.read(nodesFile, what: "trace (node list)"), file: nodesFile)
                    if let cards {
                        // N copies of the most common GPU machine (ties: the first listed).
                        let shapes = nodes.filter { $0.gpuCount > 0 }.map { OpenbNode(name: "", cpuMilli: $0.cpuMilli, memoryMiB: $0.memoryMiB, gpuCount: $0.gpuCount, model: $0.model) }
                        var counts: [OpenbNode: Int] = [:]
                        for shape in shapes { counts[shape, default: 0] += 1 }
                        guard let common = shapes.max(by: { counts[$0]! < counts[$1]! }) else { throw ValidationError("\(nodesFile) lists no GPU machine to copy for --cards") }
                        bus = ReplayTrace.openbCards((0..<cards).map { OpenbNode(name: "card-\($0)", cpuMilli: common.cpuMilli, memoryMiB: common.memoryMiB, gpuCount: common.gpuCount, model: common.model) })
                        FileHandle.standardError.write(Data("bus: \(cards) × (\(common.cpuMilli / 1000) cores, \(common.memoryMiB / 1024) GiB, \(common.gpuCount) × \(common.model))\n".utf8))
                    } else {
                        bus = ReplayTrace.openbCards(nodes)
                    }
                }
            } catch let error as OpenbParseError {
                FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                throw ExitCode(2)
            }
            if loaded.skippedRows > 0 {
                FileHandle.standardError.write(Data("skipped \(loaded.skippedRows) row(s): \(loaded.skipped.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))\n".utf8))
            }
            let options = ReplayExperiment.Options(preemption: !noPreemption, maxInstancesPerTask: maxInstancesPerTask)
            let t0 = Openb.monotonic()
            let r = ReplayExperiment.run(cards: bus, tasks: loaded.tasks, policy: AWBRegistry.policy(named: policy)!, seed: seed, options: options) { p in
                FileHandle.standardError.write(Data("\rt=\(p.time) s: \(p.arrivedTasks)/\(p.totalTasks) tasks, \(p.runningInstances) running, \(p.pendingInstances) pending, \(p.preemptions) preemptions".utf8))
            }
            FileHandle.standardError.write(Data("\n".utf8))
            let wall = Openb.monotonic() - t0
            if let samples {
                var out = "time,cpu_share,memory_share,gpu_share,running,pending\n"
                for x in r.samples { out += "\(x.time),\(x.utilisation.cpu),\(x.utilisation.memory),\(x.utilisation.gpu),\(x.runningInstances),\(x.pendingInstances)\n" }
                try out.write(toFile: samples, atomically: true, encoding: .utf8)
            }
            func pct(_ p: ReplayExperiment.Percentiles) -> [String: Any] { ["count": p.count, "mean_s": p.mean, "p50_s": p.p50, "p90_s": p.p90, "p99_s": p.p99, "max_s": p.max] }
            func util(_ u: ReplayExperiment.Utilisation) -> [String: Any] { ["cpu": u.cpu, "memory": u.memory, "gpu": u.gpu] }
            let object: [String: Any] = [
                "trace": file, "policy": policy, "seed": NSNumber(value: seed), "cards": r.cards, "tasks": r.tasks, "instances": r.instances,
                "dropped_instances": r.droppedInstances, "skipped_rows": loaded.skippedRows, "placed_instances": r.placedInstances,
                "unplaceable_instances": r.unplaceableInstances, "never_placed_instances": r.neverPlacedInstances,
                "placements": r.placements, "preemptions": r.preemptions, "span_s": r.span,
                "pending_time": pct(r.pendingTime), "task_pending_time": pct(r.taskPendingTime), "requeued_pending_time": pct(r.requeuedPendingTime),
                "mean_utilisation": util(r.meanUtilisation), "peak_utilisation": util(r.peakUtilisation),
                "decisions_per_s": Int(Double(r.decisions) / max(wall, 1e-9)), "wall_s": wall,
                "samples": r.samples.map { x -> [String: Any] in
                    ["time": Int(x.time), "cpu": x.utilisation.cpu, "memory": x.utilisation.memory, "gpu": x.utilisation.gpu,
                     "running": x.runningInstances, "pending": x.pendingInstances]
                },
            ]
            if json {
                print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
                return
            }
            func pc(_ x: Double) -> String { String(format: "%.1f%%", x * 100) }
            print("\((file as NSString).lastPathComponent): \(r.tasks) tasks, \(r.instances) instances\(r.droppedInstances > 0 ? " (\(r.droppedInstances) dropped by --max-instances-per-task)" : "") on \(r.cards) cards, policy \(policy), seed \(seed)")
            print("span \(r.span) s; placed \(r.placedInstances), never placed \(r.neverPlacedInstances) (\(r.unplaceableInstances) fit no empty card), preemptions \(r.preemptions)")
            print(table(["UTILISATION", "CPU", "MEMORY", "GPU"], [["mean (time-weighted)", pc(r.meanUtilisation.cpu), pc(r.meanUtilisation.memory), pc(r.meanUtilisation.gpu)],
                                                              ["peak", pc(r.peakUtilisation.cpu), pc(r.peakUtilisation.memory), pc(r.peakUtilisation.gpu)]]))
            print(table(["PENDING TIME (s)", "COUNT", "MEAN", "P50", "P90", "P99", "MAX"], [
                ("instance: arrival to first start", r.pendingTime), ("task: arrival to its last instance's start", r.taskPendingTime), ("after preemption: to restart", r.requeuedPendingTime),
            ].map { name, p in [name, "\(p.count)", String(format: "%.0f", p.mean), "\(p.p50)", "\(p.p90)", "\(p.p99)", "\(p.max)"] }))
            // Utilisation over time: about a dozen evenly spaced samples (all of them with --samples FILE).
            let every = max(1, r.samples.count / 12)
            let shown = r.samples.enumerated().filter { $0.offset % every == 0 || $0.offset == r.samples.count - 1 }.map(\.element)
            print(table(["TIME (s)", "CPU", "MEMORY", "GPU", "RUNNING", "PENDING"], shown.map {
                ["\($0.time - r.startTime)", pc($0.utilisation.cpu), pc($0.utilisation.memory), pc($0.utilisation.gpu), "\($0.runningInstances)", "\($0.pendingInstances)"]
            }))
            print(String(format: "%.1f s wall, %d placement decisions/s", wall, Int(Double(r.decisions) / max(wall, 1e-9))))
            if let samples { print("utilisation samples written to \(samples)") }
        }
    }
}
