import ArgumentParser

/// The `backplane` command line (a library so it can be tested; `@main` is in the executable).
public struct Backplane: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "backplane",
        abstract: "Run and use a Backplane bus: cards, workloads, instances.",
        discussion: """
        Start here: `backplane up` brings up a local bus (a BMC and 3 cards); then \
        `backplane deploy examples/web.yaml` and `backplane instances`. Client commands talk to the \
        BMC's API (--bmc, or $BACKPLANE_BMC; default http://127.0.0.1:7070).

        Exit codes: 0 ok, 1 the request failed (e.g. not found, invalid spec), 2 bad usage, 3 BMC unreachable.
        """,
        subcommands: [Up.self, BMCCommand.self, CardCommand.self, Deploy.self, Delete.self, Scale.self, Cards.self, Drain.self, Workloads.self, Instances.self, Logs.self, Events.self, Top.self, Explain.self, Forecast.self, Sim.self]
    )
    public init() {}
}
