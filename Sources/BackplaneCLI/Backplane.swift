import ArgumentParser
import Foundation
import Logging

/// The `backplane` command line (a library so it can be tested; `@main` is in the executable).
public struct Backplane: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "backplane",
        abstract: "Run and use a Backplane bus: cards, workloads, instances.",
        discussion: """
        Start here: `backplane up` brings up a local bus (a BMC and 3 cards); then \
        `backplane deploy examples/web.yaml` and `backplane instances`. Client commands talk to the \
        BMC's API (--bmc, or $BACKPLANE_BMC; default http://127.0.0.1:7070) with a bearer token \
        (--token, $BACKPLANE_TOKEN, or the client config that `backplane up` writes: $BACKPLANE_CONFIG, \
        else ~/.config/backplane/config.json).

        Exit codes: 0 ok, 1 the request failed (e.g. not found, invalid spec), 2 bad usage, 3 BMC unreachable.
        """,
        subcommands: [Up.self, Leftovers.self, Image.self, BMCCommand.self, CardCommand.self, Deploy.self, Delete.self, Scale.self, Cards.self, Drain.self, Workloads.self, Instances.self, Logs.self, Events.self, Top.self, Explain.self, Plan.self, Forecast.self, QuotaCommand.self, Audit.self, TokenCommand.self, Sim.self, Shards.self, Migrate.self, Split.self, Merge.self, Load.self, Gateway.self]
    )
    public init() {}
}

extension Backplane {
    /// Parses and runs a command, exiting as the help text promises: usage errors exit 2 (not
    /// ArgumentParser's 64), failures the command reports keep their code.
    public static func runMain() async -> Never {
        // Diagnostics of long-running parts go to stderr (bmc.log / card-N.log under `up`);
        // $BACKPLANE_LOG_LEVEL: trace, debug, info (default), notice, warning, error, critical.
        let level = ProcessInfo.processInfo.environment["BACKPLANE_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            Foundation.exit(0)
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
