import ArgumentParser

@main
struct BackplaneBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backplane-bench",
        abstract: "Benchmarks for Backplane's modules. Each prints one JSON object with --json.",
        discussion: "Run in release mode: swift run -c release backplane-bench dcl --json",
        subcommands: [DCLBench.self, ForecastBench.self, AWBBench.self, MigrateBench.self, AllocateBench.self]
    )
}
