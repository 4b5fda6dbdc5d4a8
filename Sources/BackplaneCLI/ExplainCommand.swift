import ArgumentParser
import BusController
import Foundation

struct Explain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Why a workload's instance goes where it goes, or why it is pending.",
        discussion: """
        Runs the BMC's AWB on the bus as it is now, without committing anything, for the workload's \
        first pending instance (or, when none is pending, for one more replica): how many cards each \
        filter refused, the verdict per class of identical cards, and the best-scoring cards with \
        each scorer's contribution; then the Resource Allocator's view of it (its forecasts and what \
        the next plan would resize, scale or move; see `backplane plan`).
        """
    )
    @Argument(help: "The workload name.") var name: String
    @Option(help: "The workload's tenant (default: the token's; a bus-admin's is default).") var tenant: String?
    @OptionGroup var options: BMCOptions

    func run() async throws {
        try await runClient {
            let client = try options.client()
            let data = try await client.request("GET", "v1/workloads/\(name)/explain", query: tenant.map { ["tenant": $0] } ?? [:])
            if options.json { printJSON(data); return }
            let e: APIServer.WorkloadExplanation
            do { e = try JSONDecoder().decode(APIServer.WorkloadExplanation.self, from: data) } catch { throw CLIError("unexpected answer from the BMC: \(error)") }
            print("\(e.workload): \(e.hypothetical ? "one more replica (\(e.instance))" : e.instance) requesting \(e.requested)\(e.gpu.map { ", \($0)" } ?? ""); policy \(e.policy)")
            print("decision: \(e.decision)")
            print("\(e.feasibleCards) of \(e.cards) cards fit" + (e.refusedBy.isEmpty ? "" : "; refused: " + e.refusedBy.sorted { $0.value > $1.value }.map { "\($0.key) on \($0.value)" }.joined(separator: ", ")))
            print("\nCARD CLASSES (identical cards grouped)")
            print(table(["CARDS", "EXAMPLE", "VERDICT", "SCORE"], e.classes.map { c in
                ["\(c.cards)", "\(c.example) (\(c.exampleName))", c.refusals.isEmpty ? "fits" : c.refusals.joined(separator: ", "), c.score.map { String(format: "%.3f", $0) } ?? "-"]
            }))
            if !e.top.isEmpty {
                print("\nTOP CARDS")
                print(table(["CARD", "NAME", "SCORE", "BREAKDOWN"], e.top.map { t in
                    ["\(t.card)", t.name, String(format: "%.3f", t.score), t.breakdown.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.3f", $0.value))" }.joined(separator: ", ")]
                }))
            }
            if let a = e.allocator {
                print("\nALLOCATOR (vertical: \(a.vertical)\(a.autoscale.map { "; autoscale \($0.min)–\($0.max) at \($0.target)% of requested CPU" } ?? ""))")
                if let f = a.forecast {
                    print("  cpu now \(cores(f.usageCPUMillicores)), p99 next 5 min \(f.shortCPUMillicores.map(cores) ?? "-"), next hour \(f.longCPUMillicores.map(cores) ?? "-"); memory now \(mib(f.usageMemoryBytes)), next 5 min \(f.shortMemoryBytes.map(mib) ?? "-") (\(f.observedPoints) points seen)")
                }
                for z in a.resizes { print("  \(z.applied ? "resize" : "hold") \(z.instance): \(z.reason)\(z.held.map { " — \($0)" } ?? "")") }
                if let s = a.scale { print("  replicas \(s.from) → \(s.to): \(s.reason)") }
                for m in a.moves { print("  move \(m.instance) \(m.from) → \(m.to) (planned only): \(m.reason)") }
                if a.resizes.isEmpty && a.scale == nil && a.moves.isEmpty { print("  nothing to change now") }
            }
        }
    }
}
