import ArgumentParser
import BackplaneModel
import BusController
import Foundation
import WorkloadBalancer

struct Plan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the Resource Allocator's next plan without applying it.",
        discussion: """
        Every interval (`bmc --allocator-interval`, default 10 s) the allocator plans from the \
        forecasts (1 and 5 minutes for growing, 1 hour as the floor for shrinking) and live usage: \
        in-place resizes of `vertical: auto` workloads (`recommend`, the default, only shows them; \
        `off` leaves a workload out), replica changes of `autoscale:` workloads, moves off cards the \
        forecast overfills (planned only: the BMC does not carry out moves yet), idle cards that \
        could be released, and how many more cards the bus needs. This command asks for a fresh \
        plan and applies nothing. What the allocator did is in `backplane events` (allocator.*).
        """
    )
    @Option(help: "Only this tenant's workloads (default: the token's; a bus-admin sees every tenant).") var tenant: String?
    @OptionGroup var options: BMCOptions

    func run() async throws {
        try await runClient {
            let client = try options.client()
            let data = try await client.request("GET", "v1/plan", query: tenant.map { ["tenant": $0] } ?? [:])
            if options.json { printJSON(data); return }
            let r: AllocatorService.Report
            do { r = try JSONDecoder().decode(AllocatorService.Report.self, from: data) } catch { throw CLIError("unexpected answer from the BMC: \(error)") }
            print(r.intervalSeconds.map { "allocator: every \(Int($0)) s" } ?? "allocator: off (bmc --allocator-interval 0); this is what it would do")
            if !r.forecasts.isEmpty {
                print("\nFORECASTS (p99, all instances)")
                print(table(["WORKLOAD", "POINTS", "CPU NOW", "CPU 5M", "CPU 1H", "MEM NOW", "MEM 5M", "MEM 1H"], r.forecasts.map { f in
                    [f.workload, "\(f.observedPoints)", cores(f.usageCPUMillicores), f.shortCPUMillicores.map(cores) ?? "-", f.longCPUMillicores.map(cores) ?? "-",
                     mib(f.usageMemoryBytes), f.shortMemoryBytes.map(mib) ?? "-", f.longMemoryBytes.map(mib) ?? "-"]
                }))
            }
            print("\nRESIZES")
            print(r.resizes.isEmpty ? "  none" : table(["INSTANCE", "CARD", "FROM", "TO", "ACTION", "REASON"], r.resizes.map { z in
                [z.instance, "\(z.card)", short(z.from), short(z.to), z.applied ? "resize" : "hold: \(z.held ?? "")", z.reason]
            }))
            print("\nREPLICAS")
            print(r.scales.isEmpty ? "  no change" : table(["WORKLOAD", "FROM", "TO", "REASON"], r.scales.map { s in [s.workload, "\(s.from)", "\(s.to)", s.reason] }))
            if !r.moves.isEmpty {
                print("\nMOVES (planned only: not carried out yet)")
                print(table(["INSTANCE", "FROM", "TO", "REASON"], r.moves.map { m in [m.instance, "\(m.from)", "\(m.to)", m.reason] }))
            }
            if let c = r.consolidated, !c.isEmpty {
                print("\nCONSOLIDATION: the planned moves would empty \(c.map(\.description).joined(separator: ", "))")
            }
            if !r.idleCards.isEmpty {
                print("\nIDLE CARDS (releasable)")
                print(table(["CARD", "NAME", "COST/H"], r.idleCards.map { c in ["\(c.card)", c.name, String(format: "%.2f", c.costPerHour)] }))
            }
            if let c = r.cardRequest {
                print("\nCARDS NEEDED: " + (c.count > 0 ? "\(c.count) more of \(c.shape): \(c.reason)" : c.reason))
            }
        }
    }
}

func cores(_ millis: Double) -> String { String(format: "%.2f", millis / 1000) }
func mib(_ bytes: Double) -> String { "\(Int((bytes / 1_048_576).rounded()))Mi" }
private func short(_ r: Resources) -> String { "\(cores(Double(r.cpuMillis))) cpu, \(mib(Double(r.memoryBytes)))" }
