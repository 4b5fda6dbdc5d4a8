import ArgumentParser
import BackplaneModel
import Forecasting
import Foundation

struct ForecastBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forecast",
        abstract: "Predictive Model Engine speed: one observation into a model plus one limit query, many series round-robin.",
        discussion: "Series get a daily pattern plus noise from a seeded generator; one core; caches go cold because every update moves to the next series."
    )
    @Flag(help: "Print one JSON object.") var json = false
    @Option(help: "How many series.") var series = 10_000
    @Option(help: "Timed updates (after one warm-up round per series of two days).") var updates = 3_000_000
    @Option(help: "Model: \(ModelKind.allCases.map(\.rawValue).joined(separator: ", ")).") var model = "ensemble"

    func run() async throws {
        guard let kind = ModelKind(rawValue: model) else { throw ValidationError("--model must be one of \(ModelKind.allCases.map(\.rawValue).joined(separator: ", "))") }
        var rng = SplitMix64(seed: 42)
        var models = (0..<series).map { _ in kind.make(horizon: 12, quantile: 0.99) }
        let phases = (0..<series).map { _ in Double.random(in: 0..<(2 * .pi), using: &rng) }
        let noise = (0..<4096).map { _ in Double.random(in: 0...20, using: &rng) }
        func value(_ s: Int, _ step: Int) -> Double {
            50 + 40 * sin(Double(step % 288) / 288 * 2 * .pi + phases[s]) + noise[(s &* 31 &+ step) & 4095]
        }
        // Warm-up: two days of history for every series.
        for step in 0..<576 { for s in 0..<series { models[s].observe(value(s, step), at: Double(step) * 300) } }
        var sink = 0.0
        var step = 576
        let t0 = Stats.nowNanoseconds()
        var done = 0
        while done < updates {
            for s in 0..<series where done < updates {
                models[s].observe(value(s, step), at: Double(step) * 300)
                sink += models[s].limit(horizon: 12, quantile: 0.99)
                done += 1
            }
            step += 1
        }
        let seconds = Double(Stats.nowNanoseconds() - t0) / 1e9
        let bytes = models.reduce(0) { $0 + $1.stateBytes } / series
        var report = Report()
        report.add("benchmark", "forecast")
        report.add("build", Stats.buildMode)
        report.add("cores", ProcessInfo.processInfo.activeProcessorCount)
        report.add("machine", Stats.machine())
        report.add("model", kind.rawValue)
        report.add("series", series)
        report.add("updates", updates)
        report.add("updates_per_s", Int(Double(updates) / seconds))
        report.add("state_bytes_per_series", bytes)
        report.add("checksum", Int(sink) % 1000)
        print(json ? report.json() : report.text())
    }
}
