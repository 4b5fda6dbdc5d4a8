import ArgumentParser
import Foundation
import WorkloadBalancer

extension Sim {
    struct Allocate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay recorded demand against allocation policies: unserved CPU, OOM breaches, provisioned cost.",
            discussion: """
            Each CSV in --usage is one workload's demand over time (header \
            `timestamp,<metric>_<unit>,...`, as ../shared/traces/usage): the first column whose \
            name starts with `cpu` is its CPU demand, the first starting with `memory` its memory \
            demand, each in its own unit; a series without one is scored for the other only. \
            Every policy sees the demand up to step t only and sets the next allocation, which \
            applies after --delay more steps (0: at the next step). Scoring starts after \
            --warmup steps (or a quarter of a series, if shorter), for every policy alike.

            Reported per policy and headroom (each policy's allocation × the headroom): unserved \
            CPU = Σ max(demand − allocation, 0) / Σ demand; memory breaches (steps whose demand \
            exceeded the allocation: OOM kills); provisioned = Σ allocation × time, in the \
            series' unit-hours; resizes. Then, for each baseline at headroom 1, the unserved CPU \
            and memory breaches of `backplane` at the same provisioned cost (interpolated on its \
            headroom sweep).

            Policies: backplane (the forecasting engine's limit model; up at once, down only to \
            the highest recommendation of the last --stabilisation seconds and past a 10 % band), static-peak (the warm-up's peak, fixed), vpa (recommender p90 of a decayed \
            histogram + 15 %, updater applying it only outside [p50, p95] + 15 %), autopilot-mw \
            (decayed p95 with a 12 h half-life for CPU, the 24 h peak for memory), oracle (each \
            step's own demand: the floor). Replica scaling (hpa) needs replica-scaled workloads, \
            which usage traces are not: it is not simulated here.

            Examples:
              backplane sim allocate --usage ../shared/traces/usage/google2011 --json
              backplane sim allocate --usage DIR --svg /tmp/google.svg --max-series 50
            """)

        @Option(help: "A folder of usage CSVs (one series each).") var usage: String
        @Option(name: .customLong("policy"), help: "A policy to run (repeat; default: all).") var policies: [String] = []
        @Option(help: "Comma-separated headrooms to sweep (1 must be among them for the equal-cost comparison).") var headroom = "0.5,0.6,0.7,0.8,0.9,1,1.1,1.25,1.5,2,3,4,6,8"
        @Option(help: "Steps between a decision and its effect (0: the next step).") var delay = 0
        @Option(help: "Steps observed before scoring.") var warmup = 288
        @Option(help: "backplane's scale-down stabilisation, seconds (it sizes down only to the highest recommendation of this window; 0: off).") var stabilisation = 3600.0
        @Option(help: "Use at most this many series (the first by name; 0: all).") var maxSeries = 0
        @Option(help: "Cards of the simulated bus (0: one per 5 series). Each holds Σ of the series' peaks / cards of each resource.") var cards = 0
        @Option(help: "Cost of one card-hour.") var cardCost = 1.0
        @Option(help: "Write the cost/unserved curves as an SVG plot here.") var svg: String?
        @Flag(help: "Print one JSON object.") var json = false

        func validate() throws {
            guard (0...1000).contains(delay) else { throw ValidationError("--delay: 0 to 1000 steps, got \(delay)") }
            guard (1...1_000_000).contains(warmup) else { throw ValidationError("--warmup: 1 to 1,000,000 steps, got \(warmup)") }
            guard stabilisation.isFinite, (0...30 * 86400).contains(stabilisation) else { throw ValidationError("--stabilisation: 0 to 2,592,000 seconds, got \(stabilisation)") }
            guard (0...1_000_000).contains(cards) else { throw ValidationError("--cards: 0 (one per 5 series) to 1,000,000, got \(cards)") }
            guard cardCost.isFinite, cardCost >= 0, cardCost <= 1e9 else { throw ValidationError("--card-cost: 0 to 1e9, got \(cardCost)") }
            guard maxSeries >= 0 else { throw ValidationError("--max-series: 0 (all) or more, got \(maxSeries)") }
            _ = try Self.parseHeadrooms(headroom)
            for p in policies where SizingSimulator.Policy(rawValue: p) == nil {
                throw ValidationError("--policy: '\(p.prefix(40))' is not one of \(SizingSimulator.Policy.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }

        static func parseHeadrooms(_ text: String) throws -> [Double] {
            let values = text.split(separator: ",", omittingEmptySubsequences: false).map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard !values.isEmpty, values.count <= 50, values.allSatisfy({ $0 != nil && $0!.isFinite && $0! > 0 && $0! <= 100 }) else {
                throw ValidationError("--headroom: 1 to 50 comma-separated numbers above 0 and at most 100, got '\(text.prefix(80))'")
            }
            return values.map { $0! }.sorted()
        }

        /// One CSV: its times and its CPU and memory columns (nil when absent).
        struct Series: Sendable {
            var name: String
            var times: [Double] = []
            var cpu: [Double]?
            var memory: [Double]?
            var cpuUnit: String?
            var memoryUnit: String?
            var skipped = 0
        }

        static func load(_ path: String) throws -> Series {
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
            guard size <= 1 << 30 else { throw ValidationError("\(path): \(size) bytes; a series file may be at most 1 GiB") }
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw ValidationError("\(path): not readable as UTF-8 text")
            }
            var lines = text.split(whereSeparator: \.isNewline).makeIterator()
            guard let header = lines.next()?.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }), header.first == "timestamp" else {
                throw ValidationError("\(path): the header must start with `timestamp`")
            }
            let cpu = header.firstIndex { $0.hasPrefix("cpu") }, memory = header.firstIndex { $0.hasPrefix("memory") }
            var s = Series(name: (path as NSString).lastPathComponent)
            s.cpu = cpu.map { _ in [] }
            s.memory = memory.map { _ in [] }
            s.cpuUnit = cpu.map { String(header[$0].dropFirst(3)).trimmingCharacters(in: CharacterSet(charactersIn: "_")) }
            s.memoryUnit = memory.map { String(header[$0].dropFirst(6)).trimmingCharacters(in: CharacterSet(charactersIn: "_")) }
            var last = -Double.infinity
            while let line = lines.next() {
                let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                guard let t = Double(fields[0].trimmingCharacters(in: .whitespaces)), t.isFinite, t > last else { s.skipped += 1; continue }
                func value(_ i: Int?) -> Double?? {
                    guard let i else { return .some(nil) }
                    guard i < fields.count, let v = Double(fields[i].trimmingCharacters(in: .whitespaces)), v.isFinite, v >= 0 else { return nil }
                    return .some(v)
                }
                guard let c = value(cpu), let m = value(memory) else { s.skipped += 1; continue }
                last = t
                s.times.append(t)
                if let c { s.cpu!.append(c) }
                if let m { s.memory!.append(m) }
            }
            return s
        }

        func run() async throws {
            let headrooms = try Self.parseHeadrooms(headroom)
            let chosen = policies.isEmpty ? SizingSimulator.Policy.allCases : policies.compactMap(SizingSimulator.Policy.init(rawValue:))
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: usage, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--usage: '\(usage)' is not a folder")
            }
            var files = try FileManager.default.contentsOfDirectory(atPath: usage).filter { $0.hasSuffix(".csv") && $0 != "capacity.csv" }.sorted()
            if maxSeries > 0 { files = Array(files.prefix(maxSeries)) }
            guard !files.isEmpty else { throw ValidationError("--usage: no .csv series in '\(usage)'") }
            var settings = SizingSimulator.Settings()
            settings.delay = delay
            settings.stabilisation = stabilisation
            let started = Date()
            // Series in parallel (one task per core at a time); totals per policy, resource, headroom.
            typealias Totals = [String: [SizingSimulator.Outcome]]  // "policy/resource" → per headroom
            typealias Sums = [String: [[Double]]]  // "policy/resource" → per headroom, Σ allocation per row
            struct Part: Sendable {
                var totals: [String: [SizingSimulator.Outcome]] = [:]
                var sums: [String: [[Double]]] = [:]
                var rows = 0, skipped = 0
                var units: [String: String] = [:]
                var scored = Set<String>()
                var peaks: [String: Double] = [:]
                var step: Double?
            }
            let base = usage, warmup = self.warmup, names = files
            let (totals, sums, rows, skipped, units, scored, peaks, stepSeconds) = try await withThrowingTaskGroup(of: Part.self) { group in
                var next = 0
                var totals: Totals = [:], rows = 0, skipped = 0
                var sums: Sums = [:]
                var units: [String: String] = [:]
                var scored = Set<String>()
                var peaks: [String: Double] = [:]
                var steps: [Double] = []
                func add() {
                    let file = names[next]
                    next += 1
                    group.addTask { [settings, chosen, headrooms] in
                        let s = try Self.load(base + "/" + file)
                        var part = Part(rows: s.times.count, skipped: s.skipped)
                        var local = settings
                        local.warmup = min(warmup, max(1, s.times.count / 4))
                        if s.times.count > 1 {
                            let gaps = zip(s.times.dropFirst(), s.times).map { $0 - $1 }.sorted()
                            part.step = gaps[gaps.count / 2]
                        }
                        for (resource, values, unit) in [(SizingSimulator.Resource.cpu, s.cpu, s.cpuUnit), (.memory, s.memory, s.memoryUnit)] {
                            guard let values, values.count > 1 else { continue }
                            part.units[resource.rawValue] = unit
                            part.scored.insert(resource.rawValue)
                            part.peaks[resource.rawValue] = values.max() ?? 0
                            for policy in chosen {
                                let runs = SizingSimulator.runRecording(policy, resource: resource, times: s.times, values: values, headrooms: headrooms, settings: local, record: true)
                                part.totals["\(policy.rawValue)/\(resource.rawValue)"] = runs.map(\.outcome)
                                part.sums["\(policy.rawValue)/\(resource.rawValue)"] = runs.map { $0.allocations ?? [] }
                            }
                        }
                        return part
                    }
                }
                for _ in 0..<min(2, names.count) { add() }
                while let part = try await group.next() {
                    for (key, outcomes) in part.totals {
                        var sum = totals[key] ?? headrooms.map { _ in SizingSimulator.Outcome() }
                        for i in sum.indices { sum[i].add(outcomes[i]) }
                        totals[key] = sum
                    }
                    for (key, perHeadroom) in part.sums {
                        var acc = sums[key] ?? headrooms.map { _ in [Double]() }
                        for (i, allocations) in perHeadroom.enumerated() {
                            if acc[i].count < allocations.count { acc[i] += [Double](repeating: 0, count: allocations.count - acc[i].count) }
                            for (t, a) in allocations.enumerated() { acc[i][t] += a }
                        }
                        sums[key] = acc
                    }
                    rows += part.rows
                    skipped += part.skipped
                    units.merge(part.units) { a, _ in a }
                    scored.formUnion(part.scored)
                    peaks.merge(part.peaks, uniquingKeysWith: +)
                    if let step = part.step { steps.append(step) }
                    if next < names.count { add() }
                }
                steps.sort()
                return (totals, sums, rows, skipped, units, scored, peaks, steps.isEmpty ? 0 : steps[steps.count / 2])
            }
            // Cards: the allocations of every series, row by row, on `cards` identical cards.
            let cardCount = cards > 0 ? cards : max(1, (files.count + 4) / 5)
            var peaksByResource: [SizingSimulator.Resource: Double] = [:]
            for (name, peak) in peaks { if let r = SizingSimulator.Resource(rawValue: name) { peaksByResource[r] = peak } }
            let model = CardModel(count: cardCount, peaks: peaksByResource, costPerCardHour: cardCost)
            var usages: [String: [CardModel.Usage]] = [:]  // policy → per headroom
            for policy in chosen {
                usages[policy.rawValue] = headrooms.indices.map { i in
                    var byResource: [SizingSimulator.Resource: [Double]] = [:]
                    for r in peaksByResource.keys { if let s = sums["\(policy.rawValue)/\(r.rawValue)"]?[i] { byResource[r] = s } }
                    return model.usage(byResource, stepSeconds: stepSeconds)
                }
            }
            let seconds = Date().timeIntervalSince(started)
            var report = Self.report(totals: totals, policies: chosen, headrooms: headrooms, resources: scored.sorted())
            report["cards"] = [
                "count": cardCount, "cost_per_card_hour": cardCost, "step_seconds": stepSeconds,
                "capacity": Dictionary(uniqueKeysWithValues: model.capacity.map { ($0.key.rawValue, Self.round6($0.value)) }),
                "by_policy": usages.mapValues { list in zip(headrooms, list).map { h, u in
                    ["headroom": h, "card_hours": Self.round6(u.cardHours), "cost": Self.round6(u.cost), "steps_short": u.stepsShort, "peak_cards": u.peakCards] as [String: Any]
                } },
            ] as [String: Any]
            if let svg {
                try Self.plot(totals: totals, policies: chosen, headrooms: headrooms, resources: scored.sorted(), title: (usage as NSString).lastPathComponent)
                    .write(toFile: svg, atomically: true, encoding: .utf8)
            }
            if json {
                var object: [String: Any] = [
                    "usage": usage, "series": files.count, "rows": rows, "rows_skipped": skipped, "delay_steps": delay, "warmup_steps": warmup,
                    "headrooms": headrooms, "units": units, "stabilisation_seconds": stabilisation, "seconds": (seconds * 100).rounded() / 100,
                ]
                object.merge(report) { a, _ in a }
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            print("\(files.count) series, \(rows) rows (\(skipped) skipped) from \(usage); delay \(delay) steps, warm-up \(warmup) steps; \(cardCount) cards; \(String(format: "%.1f", seconds)) s")
            let one = headrooms.firstIndex(of: 1) ?? headrooms.count / 2
            print("\ncards at headroom 1 (rows of \(Int(stepSeconds)) s; fluid packing on \(cardCount) cards of Σ peaks / \(cardCount)):")
            print(table(["POLICY", "CARD-HOURS", "COST", "PEAK CARDS", "ROWS SHORT OF CARDS"], chosen.compactMap { p in
                guard let u = usages[p.rawValue]?[one] else { return nil }
                return [p.rawValue, String(format: "%.1f", u.cardHours), String(format: "%.1f", u.cost), "\(u.peakCards)", "\(u.stepsShort)"]
            }))
            for resource in scored.sorted() {
                print("\n\(resource) (\(units[resource] ?? "?")), headroom 1:")
                print(table(["POLICY", "UNSERVED", "BREACHES", "PROVISIONED (unit-h)", "RESIZES"], chosen.compactMap { p in
                    guard let o = totals["\(p.rawValue)/\(resource)"]?[headrooms.firstIndex(of: 1) ?? headrooms.count / 2] else { return nil }
                    return [p.rawValue, String(format: "%.4f", o.unservedFraction), "\(o.breaches)", String(format: "%.1f", o.provisioned / 3600), "\(o.resizes)"]
                }))
            }
            if let equal = report["equal_cost"] as? [String: [String: Any]] {
                print("\nbackplane against each baseline at headroom 1, at the baseline's provisioned cost:")
                for (baseline, row) in equal.sorted(by: { $0.key < $1.key }) {
                    print("  \(baseline): " + row.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value is NSNull ? "n/a (the baseline's cost is outside backplane's sweep)" : "\($0.value)")" }.joined(separator: ", "))
                }
            }
        }

        /// The JSON figures: every point of every curve, and the equal-cost comparison.
        static func report(totals: [String: [SizingSimulator.Outcome]], policies: [SizingSimulator.Policy], headrooms: [Double], resources: [String]) -> [String: Any] {
            var curves: [String: Any] = [:]
            for p in policies {
                var byResource: [String: Any] = [:]
                for r in resources {
                    guard let outcomes = totals["\(p.rawValue)/\(r)"] else { continue }
                    byResource[r] = zip(headrooms, outcomes).map { h, o in
                        ["headroom": h, "unserved": round6(o.unservedFraction), "breaches": o.breaches, "provisioned_unit_hours": round6(o.provisioned / 3600), "resizes": o.resizes, "steps": o.steps] as [String: Any]
                    }
                }
                curves[p.rawValue] = byResource
            }
            var equal: [String: [String: Any]] = [:]
            let one = headrooms.firstIndex(of: 1)
            for baseline in policies where baseline != .backplane && baseline != .oracle {
                guard let one else { break }
                var row: [String: Any] = [:]
                for r in resources {
                    guard let b = totals["\(baseline.rawValue)/\(r)"]?[one], let ours = totals["backplane/\(r)"] else { continue }
                    let at = interpolate(ours, cost: b.provisioned)
                    if r == "cpu" {
                        row["cpu_unserved_baseline"] = round6(b.unservedFraction)
                        row["cpu_unserved_backplane"] = at.map { round6($0.unserved) } ?? NSNull()
                    } else {
                        row["memory_breaches_baseline"] = b.breaches
                        row["memory_breaches_backplane"] = at.map { Int($0.breaches.rounded()) } ?? NSNull()
                    }
                }
                equal[baseline.rawValue] = row
            }
            return ["curves": curves, "equal_cost": equal]
        }

        /// `backplane`'s unserved fraction and breaches at `cost` on its sweep (linear between
        /// the two points around it); nil outside the swept costs.
        static func interpolate(_ sweep: [SizingSimulator.Outcome], cost: Double) -> (unserved: Double, breaches: Double)? {
            let points = sweep.sorted { $0.provisioned < $1.provisioned }
            guard let first = points.first, let last = points.last, cost >= first.provisioned, cost <= last.provisioned else { return nil }
            for (a, b) in zip(points, points.dropFirst()) where a.provisioned <= cost && cost <= b.provisioned {
                let w = b.provisioned > a.provisioned ? (cost - a.provisioned) / (b.provisioned - a.provisioned) : 0
                return (a.unservedFraction + w * (b.unservedFraction - a.unservedFraction), Double(a.breaches) + w * Double(b.breaches - a.breaches))
            }
            return (first.unservedFraction, Double(first.breaches))
        }

        static func round6(_ x: Double) -> Double { (x * 1e6).rounded() / 1e6 }

        /// One panel per resource: provisioned cost (relative to static-peak at headroom 1) on
        /// x, unserved CPU (or memory breaches per 1,000 steps) on y, one line per policy.
        static func plot(totals: [String: [SizingSimulator.Outcome]], policies: [SizingSimulator.Policy], headrooms: [Double], resources: [String], title: String) -> String {
            let width = 480.0, height = 340.0, margin = (left: 64.0, right: 16.0, top: 36.0, bottom: 46.0)
            let colours = ["backplane": "#d62728", "static-peak": "#7f7f7f", "vpa": "#1f77b4", "autopilot-mw": "#2ca02c", "oracle": "#000000"]
            var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width) * max(1, resources.count))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">\n"
            for (panel, r) in resources.enumerated() {
                let x0 = Double(panel) * width
                let one = headrooms.firstIndex(of: 1) ?? headrooms.count / 2
                let reference = totals["static-peak/\(r)"]?[one].provisioned ?? totals.filter { $0.key.hasSuffix("/\(r)") }.map { $0.value[one].provisioned }.max() ?? 1
                func y(_ o: SizingSimulator.Outcome) -> Double { r == "cpu" ? o.unservedFraction : (o.steps > 0 ? 1000 * Double(o.breaches) / Double(o.steps) : 0) }
                let series = policies.compactMap { p in totals["\(p.rawValue)/\(r)"].map { (p.rawValue, $0.map { (x: $0.provisioned / max(reference, 1e-12), y: y($0)) }) } }
                let maxX = min(4, series.flatMap { $0.1.map(\.x) }.max() ?? 1) * 1.05
                let maxY = max(1e-9, series.flatMap { $0.1.filter { $0.x <= maxX }.map(\.y) }.max() ?? 1) * 1.05
                let plotW = width - margin.left - margin.right, plotH = height - margin.top - margin.bottom
                func px(_ x: Double) -> Double { x0 + margin.left + min(x, maxX) / maxX * plotW }
                func py(_ v: Double) -> Double { margin.top + plotH - min(v, maxY) / maxY * plotH }
                svg += "<text x=\"\(x0 + margin.left)\" y=\"18\" font-size=\"13\">\(escape(title)): \(r == "cpu" ? "unserved CPU demand" : "memory breaches per 1,000 steps") vs provisioned</text>\n"
                svg += "<rect x=\"\(x0 + margin.left)\" y=\"\(margin.top)\" width=\"\(plotW)\" height=\"\(plotH)\" fill=\"none\" stroke=\"#ccc\"/>\n"
                for i in 0...4 {
                    let fx = maxX * Double(i) / 4, fy = maxY * Double(i) / 4
                    svg += "<text x=\"\(px(fx))\" y=\"\(height - margin.bottom + 14)\" text-anchor=\"middle\">\(String(format: "%.2f", fx))</text>\n"
                    svg += "<text x=\"\(x0 + margin.left - 4)\" y=\"\(py(fy) + 4)\" text-anchor=\"end\">\(r == "cpu" ? String(format: "%.3f", fy) : String(format: "%.1f", fy))</text>\n"
                }
                svg += "<text x=\"\(x0 + margin.left + plotW / 2)\" y=\"\(height - 8)\" text-anchor=\"middle\">provisioned \(r), relative to static-peak at headroom 1</text>\n"
                for (k, (name, points)) in series.enumerated() {
                    let colour = colours[name] ?? "#9467bd"
                    let visible = points.filter { $0.x <= maxX }
                    svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.6\" points=\"\(visible.map { "\(px($0.x)),\(py($0.y))" }.joined(separator: " "))\"/>\n"
                    for p in visible { svg += "<circle cx=\"\(px(p.x))\" cy=\"\(py(p.y))\" r=\"2.2\" fill=\"\(colour)\"/>\n" }
                    let ly = margin.top + 12 + Double(k) * 14
                    svg += "<line x1=\"\(x0 + width - 130)\" y1=\"\(ly - 4)\" x2=\"\(x0 + width - 112)\" y2=\"\(ly - 4)\" stroke=\"\(colour)\" stroke-width=\"2\"/><text x=\"\(x0 + width - 108)\" y=\"\(ly)\">\(escape(name))</text>\n"
                }
            }
            return svg + "</svg>\n"
        }

        static func escape(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
    }
}
