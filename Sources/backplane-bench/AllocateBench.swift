import ArgumentParser
import BackplaneModel
import Foundation
import WorkloadBalancer

struct AllocateBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allocate",
        abstract: "Resource Allocator speed: one full plan over a large bus, interval after interval.",
        discussion: """
        A seeded bus: cards of four shapes (4–64 cores, 16–256 GiB, costs by size), workloads of \
        one instance each placed first-fit, 60 % `vertical: auto`, 30 % `recommend`, 10 % `off`; \
        one in 20 with `autoscale:`; 1 % of instances waiting for room. Every interval each \
        instance's usage and forecast drift (a seeded random walk, with one in 50 jumping), and \
        Allocator.plan runs over the whole bus (resizes, replica changes, moves, consolidation, \
        card requests). The time is the pure plan only; the BMC adds reading its store and \
        building the snapshot. One core. Reports plan_ms_p50 / p99 / max over the intervals and \
        the process's peak RSS.
        """
    )
    @Option(help: "Cards on the bus.") var cards = 10_000
    @Option(help: "Workloads (one instance each).") var workloads = 100_000
    @Option(help: "Allocator intervals to time.") var intervals = 20
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard (1...1_000_000).contains(cards) else { throw ValidationError("--cards must be 1 to 1000000") }
        guard (0...10_000_000).contains(workloads) else { throw ValidationError("--workloads must be 0 to 10000000") }
        guard (1...10_000).contains(intervals) else { throw ValidationError("--intervals must be 1 to 10000") }
    }

    func run() async throws {
        var rng = SplitMix64(seed: seed)
        let shapes: [(Int64, Int64, Double)] = [(4000, 16 << 30, 0.2), (16000, 64 << 30, 0.8), (32000, 128 << 30, 1.6), (64000, 256 << 30, 3.2)]
        var busCards: [Allocator.Card] = []
        var free: [Resources] = []
        for i in 0..<cards {
            let s = shapes[Int(rng.next() % UInt64(shapes.count))]
            busCards.append(Allocator.Card(id: CardID(0x1_000000 + UInt64(i)), name: "card-\(i)", capacity: Resources(cpuMillis: s.0, memoryBytes: s.1), costPerHour: s.2))
            free.append(Resources(cpuMillis: s.0, memoryBytes: s.1))
        }
        var instances: [Allocator.Instance] = []
        var specs: [Allocator.Workload] = []
        var waiting: [Allocator.Waiting] = []
        var cursor = 0
        instances.reserveCapacity(workloads)
        for w in 0..<workloads {
            let cpu = Int64(rng.next() % 1900 + 100)
            let memory = Int64(rng.next() % 3968 + 128) << 20
            let key = "default/w\(w)"
            let autoscaled = w % 20 == 0
            specs.append(Allocator.Workload(key: key, replicas: 1, autoscale: autoscaled ? Autoscale(min: 1, max: 8) : nil, requestCPU: cpu, forecastCPU: 0, usageCPU: 0))
            let need = Resources(cpuMillis: cpu, memoryBytes: memory)
            // First fit from a moving cursor (what placement would leave); 1 % wait for room.
            var placed: Int?
            if rng.next() % 100 != 0 {
                for step in 0..<min(cards, 64) {
                    let c = (cursor + step) % cards
                    if need.cpuMillis <= free[c].cpuMillis && need.memoryBytes <= free[c].memoryBytes { placed = c; break }
                }
            }
            guard let c = placed else {
                waiting.append(Allocator.Waiting(instance: "w\(w)-0", resources: need))
                continue
            }
            cursor = c
            free[c] = free[c] - need
            let roll = rng.next() % 10
            let mode: VerticalMode = roll < 6 ? .auto : roll < 9 ? .recommend : .off
            let use = Double(cpu) * Double(rng.next() % 100 + 10) / 100
            var sizing = VerticalPlanner.Instance(id: "w\(w)-0", card: busCards[c].id, priority: Int(rng.next() % 1000), mode: mode, current: need,
                                                  usageCPU: use, usageMemory: Double(memory) * 0.5, forecastCPU: use * 1.1, forecastMemory: Double(memory) * 0.55)
            sizing.longForecastCPU = use
            instances.append(Allocator.Instance(sizing: sizing, workload: key))
        }
        let specIndex = Dictionary(specs.enumerated().map { ($1.key, $0) }, uniquingKeysWith: { a, _ in a })
        var times: [Double] = []
        var resizes = 0, applied = 0, scales = 0, moves = 0, consolidated = 0, requested = 0
        for interval in 0..<intervals {
            // Drift: a random walk, one in 50 jumping.
            for i in instances.indices {
                let r = rng.next()
                let factor = r % 50 == 0 ? Double(r % 300 + 50) / 100 : Double(r % 21 + 90) / 100
                instances[i].sizing.usageCPU = min(instances[i].sizing.usageCPU * factor, 64000)
                instances[i].sizing.forecastCPU = instances[i].sizing.usageCPU * 1.1
                instances[i].sizing.usageMemory = min(instances[i].sizing.usageMemory * (factor + 1) / 2, Double(200 << 30))
                instances[i].sizing.forecastMemory = instances[i].sizing.usageMemory * 1.05
            }
            for w in specs.indices where specs[w].autoscale != nil {
                specs[w].forecastCPU = Double(specs[w].requestCPU) * Double(rng.next() % 600) / 100
            }
            let snapshot = Allocator.Snapshot(now: Double(interval) * 10, cards: busCards, instances: instances, workloads: specs, waiting: waiting)
            let start = Stats.nowNanoseconds()
            let plan = Allocator.plan(snapshot)
            times.append(Double(Stats.nowNanoseconds() - start) / 1e6)
            resizes += plan.resizes.count
            applied += plan.resizes.filter(\.applied).count
            scales += plan.scales.count
            moves += plan.moves.count
            consolidated += plan.consolidated.count
            requested = plan.cardRequest?.count ?? 0
            // Carry out what the plan made, so the next interval starts from it.
            let made = Dictionary(plan.resizes.filter(\.applied).map { ($0.instance, $0.to) }, uniquingKeysWith: { a, _ in a })
            for i in instances.indices {
                if let to = made[instances[i].sizing.id] {
                    instances[i].sizing.current = to
                    instances[i].sizing.lastResized = Double(interval) * 10
                }
            }
            for s in plan.scales { if let w = specIndex[s.workload] { specs[w].replicas = s.to } }
        }
        var report = Report()
        report.add("benchmark", "allocate")
        report.add("build", Stats.buildMode)
        report.add("cores", ProcessInfo.processInfo.activeProcessorCount)
        report.add("machine", Stats.machine())
        report.add("cards", cards)
        report.add("workloads", workloads)
        report.add("instances_placed", instances.count)
        report.add("instances_waiting", waiting.count)
        report.add("intervals", intervals)
        report.add("plan_ms_p50", Stats.round2(Stats.percentile(times, 50)))
        report.add("plan_ms_p99", Stats.round2(Stats.percentile(times, 99)))
        report.add("plan_ms_max", Stats.round2(times.max() ?? 0))
        report.add("resize_rows_per_plan", resizes / intervals)
        report.add("resizes_applied_per_plan", applied / intervals)
        report.add("replica_changes_per_plan", scales / intervals)
        report.add("moves_planned_per_plan", moves / intervals)
        report.add("cards_consolidated_per_plan", consolidated / intervals)
        report.add("cards_requested_last_plan", requested)
        report.add("peak_rss_mib", AWBBench.peakRSSMiB())
        print(json ? report.json() : report.text())
    }
}
