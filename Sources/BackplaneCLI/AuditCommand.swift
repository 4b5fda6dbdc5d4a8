import ArgumentParser
import BusController
import Foundation

/// `backplane audit`: the changes asked of the API (who, what, the answer), oldest first.
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the audit log: every change asked of the API, refused ones included.",
        discussion: "Example: backplane audit --since 1h. WHO is the token's id (`backplane token list`), or anonymous for requests without a valid token (refused with 401). A tenant-admin sees its tenant's tokens' entries."
    )
    @Option(help: "Only entries newer than this: 30s, 15m, 2h or 1d.") var since: String?
    @Option(help: "At most this many of the newest entries (1-10000).") var limit = 1000
    @OptionGroup var options: BMCOptions

    func run() async throws {
        var query = ["limit": "\(limit)"]
        if let since {
            guard let seconds = Self.seconds(since) else { throw ValidationError("--since must be a duration such as 30s, 15m, 2h or 1d, got '\(since)'") }
            query["since"] = String(format: "%.3f", Date().timeIntervalSince1970 - seconds)
        }
        try await runClient {
            let client = try options.client()
            if options.json { printJSON(try await client.request("GET", "v1/audit", query: query)); return }
            let data = try await client.request("GET", "v1/audit", query: query)
            let entries = try JSONDecoder().decode([AuditEntry].self, from: data)
            guard !entries.isEmpty else { print("no changes in the audit log\(since.map { " in the last \($0)" } ?? "")"); return }
            let format = DateFormatter()
            format.dateFormat = "yyyy-MM-dd HH:mm:ss"
            print(table(["TIME", "WHO", "ROLE", "TENANT", "METHOD", "TARGET", "STATUS"], entries.map { e in
                [format.string(from: Date(timeIntervalSince1970: Double(e.time.nanoseconds) / 1e9)), e.who, e.role ?? "-", e.tenant ?? "-", e.method, e.target, "\(e.status)"]
            }))
        }
    }

    static func seconds(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        guard let unit = text.last.flatMap({ units[$0] }), let n = Double(text.dropLast()), n.isFinite, n >= 0, n <= 3650 * 86400 / unit else { return nil }
        return n * unit
    }
}
