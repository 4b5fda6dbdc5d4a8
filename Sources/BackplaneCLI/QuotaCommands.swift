import ArgumentParser
import BackplaneModel
import BusController
import Foundation

/// `backplane quota set|list|delete`: per-tenant quotas, which AWB enforces before it looks at
/// any card (an instance over its tenant's quota stays pending, with the reason).
struct QuotaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quota",
        abstract: "Set, list and remove per-tenant quotas.",
        discussion: "Example: backplane quota set team-a --cpu 4 --memory 8Gi --gpu 2. Instances of team-a past it stay pending; `backplane workloads` says why.",
        subcommands: [Set.self, List.self, Delete.self]
    )

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set", abstract: "Set a tenant's quota (replaces the one it has).")
        @Argument(help: "The tenant.") var tenant: String
        @Option(help: "CPU for all its instances together, e.g. 4 or 2500m.") var cpu: String
        @Option(help: "Memory for all its instances together, e.g. 8Gi.") var memory: String
        @Option(help: "GPUs, e.g. 2 or 500m (default: no GPU limit).") var gpu: String?
        @OptionGroup var options: BMCOptions

        func run() async throws {
            try await runClient {
                var body: [String: String] = ["cpu": cpu, "memory": memory]
                if let gpu { body["gpu"] = gpu }
                let data = try await options.client().request("PUT", "v1/quotas/\(tenant)", body: try JSONEncoder().encode(body))
                if options.json { printJSON(data); return }
                let q = try JSONDecoder().decode(Quota.self, from: data)
                print("tenant \(q.tenant): quota cpu \(Quantity.formatCPU(q.cpuMillis)), memory \(Quantity.formatBytes(q.memoryBytes))\(q.gpuMilli.map { ", gpu \(String(format: "%g", Double($0) / 1000))" } ?? "")")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List every tenant's quota.")
        @OptionGroup var options: BMCOptions

        func run() async throws {
            try await runClient {
                let client = try options.client()
                if options.json { printJSON(try await client.request("GET", "v1/quotas")); return }
                let quotas = try await client.get("v1/quotas", as: [Quota].self)
                guard !quotas.isEmpty else { print("no tenant has a quota"); return }
                print(table(["TENANT", "CPU", "MEMORY", "GPU"], quotas.map { q in
                    [q.tenant, Quantity.formatCPU(q.cpuMillis), Quantity.formatBytes(q.memoryBytes), q.gpuMilli.map { String(format: "%g", Double($0) / 1000) } ?? "-"]
                }))
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "delete", abstract: "Remove a tenant's quota.")
        @Argument(help: "The tenant.") var tenant: String
        @OptionGroup var options: BMCOptions

        func run() async throws {
            try await runClient {
                _ = try await options.client().request("DELETE", "v1/quotas/\(tenant)")
                print("tenant \(tenant): quota removed")
            }
        }
    }
}
