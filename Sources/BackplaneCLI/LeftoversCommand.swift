import ArgumentParser
import Foundation

/// `backplane leftovers`: what the cards of a bus left on the host, from the host's view (for
/// fault tests and scripts; `backplane up` runs the same check when it stops).
struct Leftovers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leftovers",
        abstract: "List (and with --clean remove) what a bus's cards left on the host.",
        discussion: """
        Looks, for each card of the bus in --state (its card-* directories, or --card), for runc \
        containers in <state>/<card>/runtime/runc, cgroup directories under backplane/<card> and \
        live backplane-shim processes that name <state>/<card>. Exit codes: 0 nothing was left, \
        1 something was (also when --clean removed it), 2 bad usage.
        """
    )
    @Option(help: "State directory of the bus (as given to `backplane up`).") var state = ".backplane"
    @Option(name: .customLong("card"), help: "A card to check (repeatable). Default: every card-* directory in --state.") var cards: [String] = []
    @Flag(help: "Remove what is found: kill and delete containers, kill shims, remove cgroups.") var clean = false
    @Flag(help: "Print JSON: {\"leftovers\": [...], \"remaining\": [...]}.") var json = false

    struct Report: Codable {
        var leftovers: [Leftover]
        /// After --clean: what could not be removed. Without --clean: the same as `leftovers`.
        var remaining: [Leftover]
    }

    func run() async throws {
        let state = URL(fileURLWithPath: (self.state as NSString).standardizingPath, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL.path
        let cardNames = cards.isEmpty ? HostLeftovers.cardNames(in: state) : cards
        let host = HostLeftovers()
        let found = await host.scan(stateDirectory: state, cardNames: cardNames)
        let remaining = clean && !found.isEmpty ? await host.clean(found, stateDirectory: state, cardNames: cardNames) : found
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(Report(leftovers: found, remaining: remaining)), as: UTF8.self))
        } else if found.isEmpty {
            print("nothing left by \(cardNames.count) card(s) in \(state)")
        } else {
            print("\(found.count) thing(s) left by the cards in \(state):\n" + HostLeftovers.describe(found))
            if clean {
                print(remaining.isEmpty ? "all removed" : "could not remove \(remaining.count):\n" + HostLeftovers.describe(remaining))
            }
        }
        if !found.isEmpty { throw ExitCode(1) }
    }
}
