import ArgumentParser
import BackplaneModel
import Foundation
import WorkloadBalancer

struct AWBBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "awb",
        abstract: "AWB speed: place workloads one at a time onto a large bus with the full filter/score pipeline.",
        discussion: """
        Cards are drawn from the openb machine mix, workloads (CPU, memory, whole GPUs, GPU shares, \
        model constraints; four tenants with quotas; anti-affinity on a tenth) from an openb pod list. \
        One core. Reports placements per second over all workloads (placed or pending), the p99 \
        decision time and the process's peak RSS.
        """
    )
    @Option(help: "Cards on the bus.") var cards = 10_000
    @Option(help: "Workloads to place.") var workloads = 100_000
    @Option(help: "openb node list (the machine mix).") var nodes = "../shared/traces/placement/openb/openb_node_list_all_node.csv"
    @Option(help: "openb pod list (the workload mix).") var pods = "../shared/traces/placement/openb/openb_pod_list_default.csv"
    @Option(help: "Policy: \(AWBRegistry.policyNames.joined(separator: ", ")).") var policy = "awb"
    @Option(help: "Seed for drawing cards and workloads.") var seed: UInt64 = 1
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        guard let p = AWBRegistry.policy(named: policy) else { throw ValidationError("--policy must be one of \(AWBRegistry.policyNames.joined(separator: ", "))") }
        guard let nodeText = try? String(contentsOfFile: nodes, encoding: .utf8) else { throw ValidationError("--nodes \(nodes): cannot read (run from the repository, next to ../shared, or pass the path)") }
        guard let podText = try? String(contentsOfFile: pods, encoding: .utf8) else { throw ValidationError("--pods \(pods): cannot read") }
        let nodeList = try OpenbTrace.parseNodes(nodeText, file: nodes)
        let taskList = try OpenbTrace.parseTasks(podText, file: pods)
        let r = PlacementBenchmark.run(nodes: nodeList, tasks: taskList, cards: cards, workloads: workloads, policy: p, seed: seed, now: Stats.nowNanoseconds)
        var report = Report()
        report.add("benchmark", "awb")
        report.add("build", Stats.buildMode)
        report.add("cores", ProcessInfo.processInfo.activeProcessorCount)
        report.add("machine", Stats.machine())
        report.add("policy", policy)
        report.add("cards", r.cards)
        report.add("workloads", r.workloads)
        report.add("placed", r.placed)
        report.add("pending", r.pending)
        report.add("card_classes", r.liveClasses)
        report.add("placements_per_s", Int(r.placementsPerSecond))
        report.add("p50_decision_us", Stats.round2(Double(r.p50DecisionNanos) / 1000))
        report.add("p99_decision_us", Stats.round2(Double(r.p99DecisionNanos) / 1000))
        report.add("max_decision_us", Stats.round2(Double(r.maxDecisionNanos) / 1000))
        report.add("peak_rss_mib", Self.peakRSSMiB())
        print(json ? report.json() : report.text())
    }

    static func peakRSSMiB() -> Double {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kib = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
            return Stats.round2(kib / 1024)
        }
        return 0
    }
}
