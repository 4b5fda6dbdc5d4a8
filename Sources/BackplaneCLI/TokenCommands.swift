import ArgumentParser
import BackplaneModel
import BusController
import Foundation

/// `backplane token create|list|revoke`: the API's bearer tokens (a bus-admin manages all, a
/// tenant-admin those of its tenant).
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Create, list and revoke API tokens (and join tokens for cards).",
        discussion: """
        Roles: bus-admin (everything), tenant-admin (everything in its tenant, its tokens and audit; not quotas), \
        operator (deploy, delete, scale, logs in its tenant), viewer (read-only in its tenant; env values redacted, no logs). \
        Example: backplane token create --role operator --tenant team-a --ttl 7d --description CI. \
        A token is shown once; the BMC keeps only its hash.
        """,
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a token; prints it once.")
        @Option(help: "bus-admin, tenant-admin, operator or viewer (default: viewer).") var role: String?
        @Option(help: "The tenant of a tenant-admin, operator or viewer token (a tenant-admin's own by default).") var tenant: String?
        @Option(help: "Expires after this long: 30m, 12h, 7d (1 to 9999 of s, m, h or d). Default: never (a join token: 1h).") var ttl: String?
        @Option(help: "What it is for (at most 200 characters).") var description: String?
        @Flag(help: "A join token for card enrollment (bus-admin only; not valid on the API).") var join = false
        @OptionGroup var options: BMCOptions

        func validate() throws {
            if join && (tenant != nil || role != nil) { throw ValidationError("--join makes a join token: it has no --role or --tenant") }
        }

        func run() async throws {
            var body: [String: String] = ["role": join ? "join" : role ?? "viewer"]
            body["tenant"] = tenant
            body["ttl"] = ttl
            body["description"] = description
            try await runClient {
                let data = try await options.client().request("POST", "v1/tokens", body: try JSONEncoder().encode(body))
                if options.json { printJSON(data); return }
                let issued = try JSONDecoder().decode(IssuedToken.self, from: data)
                print(issued.token)
                let expiry = issued.expires.map { "expires \(TokenCommand.format($0))" } ?? "never expires"
                let use = issued.role == .join ? "give it to the card that enrolls with it" : "use it with BACKPLANE_TOKEN=… or \"token\" in the client config"
                FileHandle.standardError.write(Data("\(issued.role.rawValue) token \(issued.id)\(issued.tenant.map { " of tenant \($0)" } ?? ""); \(expiry). Shown once: \(use). Revoke: backplane token revoke \(issued.id)\n".utf8))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List tokens (never their secrets).")
        @Option(help: "Only this tenant's tokens.") var tenant: String?
        @OptionGroup var options: BMCOptions

        func run() async throws {
            try await runClient {
                let data = try await options.client().request("GET", "v1/tokens", query: tenant.map { ["tenant": $0] } ?? [:])
                if options.json { printJSON(data); return }
                let tokens = try JSONDecoder().decode([TokenInfo].self, from: data)
                guard !tokens.isEmpty else { print("no tokens"); return }
                print(table(["ID", "ROLE", "TENANT", "CREATED", "EXPIRES", "DESCRIPTION"], tokens.map { t in
                    [t.id, t.role.rawValue, t.tenant ?? "-", TokenCommand.format(t.created), t.expires.map(TokenCommand.format) ?? "never", t.description]
                }))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a token: it is refused from now on.")
        @Argument(help: "The token's id (see backplane token list).") var id: String
        @OptionGroup var options: BMCOptions

        func run() async throws {
            try await runClient {
                _ = try await options.client().request("DELETE", "v1/tokens/\(id)")
                print("token \(id) revoked")
            }
        }
    }

    static func format(_ time: Instant) -> String {
        let format = DateFormatter()
        format.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return format.string(from: Date(timeIntervalSince1970: Double(time.nanoseconds) / 1e9))
    }
}
