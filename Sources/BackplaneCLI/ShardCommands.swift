import ArgumentParser
import BackplaneModel
import BusController
import Foundation
import NIOCore
import KeyValueApp
import Synchronization

struct Shards: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a sharded workload's shard map: ranges, owners, load.",
        discussion: """
        One row per shard: its range of the 64-bit key-hash space, the instance that owns it and \
        that instance's card, requests per second (since the previous `backplane shards`, else \
        as the cards last reported), the forecast: the highest rate expected over the next 5 \
        minutes (p99; from the cards' reports every 10 s, shown after three of them), \
        requests served and bytes held (as the app reports them). MOVING marks a shard in a \
        migration; SPLIT? one over the spec's shards.max_shard_bytes.
        """)
    @Argument(help: "The workload name.") var name: String
    @Option(help: "The workload's tenant (default: the token's; a bus-admin's is default).") var tenant: String?
    @OptionGroup var options: BMCOptions

    func run() async throws {
        try await runClient {
            let client = try options.client()
            let query = tenant.map { ["tenant": $0] } ?? [:]
            if options.json { printJSON(try await client.request("GET", "v1/workloads/\(name)/shards", query: query)); return }
            let view = try await client.get("v1/workloads/\(name)/shards", query: query, as: ShardService.ShardsView.self)
            print("\(view.workload): \(view.shards.count) shards, epoch \(view.epoch)")
            print(table(["SHARD", "RANGE", "SHARE", "OWNER", "CARD", "REQ/S", "FORECAST REQ/S", "REQUESTS", "BYTES", "STATE"], view.shards.map { s in
                ["\(s.id)", "\(s.lower)–\(s.upper)", String(format: "%.2f%%", s.share * 100), s.owner, s.card.map { "\($0)" } ?? "(not running)",
                 s.requestsPerSecond.map { String(format: "%.0f", $0) } ?? "-", s.forecastRequestsPerSecond.map { String(format: "%.0f", $0) } ?? "-", s.requests.map(String.init) ?? "-",
                 s.bytes.map { Quantity.formatBytes(Int64(clamping: $0)) } ?? "-",
                 s.migrating ? "MOVING" : (s.overLimit ? "SPLIT?" : "ok")]
            }))
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move shards of a sharded workload to another instance, live.",
        discussion: """
        Make-before-break (docs/sharding.md): the target pulls a snapshot, catches up the \
        changes, the source holds the shard's requests for the cut-over, the map's epoch moves \
        on, held requests go to the new owner. Requests never fail for it; a failure before \
        the commit leaves the shard where it was.

        Examples:
          backplane migrate kv --shard 3 --to c-0002-000000
          backplane migrate kv --shard 0 --shard 1 --shard 2     (each to the instance with the fewest shards)
        """)
    @Argument(help: "The workload name.") var name: String
    @Option(name: .long, help: "A shard id (repeat to move several, one after another).") var shard: [UInt32]
    @Option(name: .long, help: "The card to move to (an instance of the workload must run there).") var to: String?
    @Option(name: .long, help: "The instance to move to (instead of --to).") var instance: String?
    @Option(help: "The workload's tenant (default: the token's; a bus-admin's is default).") var tenant: String?
    @OptionGroup var options: BMCOptions

    func validate() throws {
        guard !shard.isEmpty else { throw ValidationError("give --shard S (one or more)") }
        if to != nil && instance != nil { throw ValidationError("give --to or --instance, not both") }
    }

    func run() async throws {
        try await runClient {
            let client = try options.client()
            let query = tenant.map { ["tenant": $0] } ?? [:]
            var body: [String: String] = [:]
            body["to"] = to
            body["instance"] = instance
            var aborted = 0
            for id in shard {
                let data: Data
                do {
                    data = try await client.request("POST", "v1/workloads/\(name)/shards/\(id)/migrate", query: query, body: try JSONEncoder().encode(body))
                } catch let error as CLIError where shard.count > 1 {
                    aborted += 1
                    print("shard \(id): not moved: \(error.message)")
                    continue
                }
                if options.json { printJSON(data); continue }
                let report = try JSONDecoder().decode(ShardService.MigrationReport.self, from: data)
                let steps = report.steps.map { "\($0.phase) \(String(format: "%.1f", $0.milliseconds))" }.joined(separator: ", ")
                if report.outcome == "done" {
                    print("shard \(report.shard): \(report.from) → \(report.to) (\(report.toCard.map { "\($0)" } ?? "?")), epoch \(report.epoch), \(Quantity.formatBytes(Int64(clamping: report.bytes))) copied, paused \(String(format: "%.2f", report.pauseMilliseconds ?? 0)) ms, \(String(format: "%.0f", report.totalMilliseconds)) ms in all [\(steps) ms]")
                } else {
                    aborted += 1
                    print("shard \(report.shard): aborted, it stays on \(report.from): \(report.reason ?? "?") [\(steps) ms]")
                }
            }
            if aborted > 0 { throw CLIError("\(aborted) of \(shard.count) shards not moved (they stayed where they were)", exitCode: 1) }
        }
    }
}

struct Split: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Split a shard of a sharded workload in two.",
        discussion: """
        The shard keeps the lower part of its key-hash range; the upper part, from --at (a hash \
        in hex; default: the middle), becomes a new shard whose id is the highest id + 1. Both stay \
        with the same instance: apps keep their data by key hash (docs/shard-sdk.md), so \
        nothing is copied and no request waits. Move one part afterwards with \
        `backplane migrate`. `backplane shards` marks SPLIT? the shards over the spec's \
        shards.max_shard_bytes.

        Examples:
          backplane split kv --shard 3
          backplane split kv --shard 3 --at 0e00000000000000     (shard 3 of 64 is 0c00…–0fff…)
          backplane split kv --shard 3 && backplane migrate kv --shard 64 --to c-0003-000000
        """)
    @Argument(help: "The workload name.") var name: String
    @Option(name: .long, help: "The shard to split.") var shard: UInt32
    @Option(name: .long, help: "The first hash of the new upper shard, 1 to 16 hex digits (default: the middle of the range).") var at: String?
    @Option(help: "The workload's tenant (default: the token's; a bus-admin's is default).") var tenant: String?
    @OptionGroup var options: BMCOptions

    func validate() throws {
        if let at, at.isEmpty || at.count > 16 || UInt64(at, radix: 16) == nil { throw ValidationError("--at: '\(at.prefix(40))' is not a key hash of 1 to 16 hex digits") }
    }

    func run() async throws {
        try await runClient {
            let client = try options.client()
            let query = tenant.map { ["tenant": $0] } ?? [:]
            var body: [String: String] = [:]
            body["at"] = at
            let data = try await client.request("POST", "v1/workloads/\(name)/shards/\(shard)/split", query: query, body: try JSONEncoder().encode(body))
            if options.json { printJSON(data); return }
            let change = try JSONDecoder().decode(ShardService.RangeChange.self, from: data)
            print("shard \(change.shard) split: shard \(change.other) is new; both on \(change.owner), epoch \(change.epoch)")
            printRanges(change.shards)
        }
    }
}

struct Merge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge a shard with its neighbour above it in the key-hash space.",
        discussion: """
        Both shards must belong to the same instance (move one with `backplane migrate` \
        first). The shard keeps its id and takes in its neighbour's range; nothing is copied \
        and no request waits.

        Example:
          backplane merge kv --shard 3
        """)
    @Argument(help: "The workload name.") var name: String
    @Option(name: .long, help: "The shard that takes in the shard right above it.") var shard: UInt32
    @Option(help: "The workload's tenant (default: the token's; a bus-admin's is default).") var tenant: String?
    @OptionGroup var options: BMCOptions

    func run() async throws {
        try await runClient {
            let client = try options.client()
            let query = tenant.map { ["tenant": $0] } ?? [:]
            let data = try await client.request("POST", "v1/workloads/\(name)/shards/\(shard)/merge", query: query, body: Data("{}".utf8))
            if options.json { printJSON(data); return }
            let change = try JSONDecoder().decode(ShardService.RangeChange.self, from: data)
            print("shard \(change.other) merged into shard \(change.shard) on \(change.owner), epoch \(change.epoch)")
            printRanges(change.shards)
        }
    }
}

private func printRanges(_ rows: [ShardService.ShardRow]) {
    print(table(["SHARD", "RANGE", "SHARE", "OWNER", "CARD"], rows.map { s in
        ["\(s.id)", "\(s.lower)–\(s.upper)", String(format: "%.2f%%", s.share * 100), s.owner, s.card.map { "\($0)" } ?? "(not running)"]
    }))
}

struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drive a sharded key-value workload over DCL and check every read.",
        discussion: """
        Sends reads and writes at a fixed rate to keys key:0 … key:N-1 of a workload running \
        the key-value app (examples/kv.yaml), as a data client of the bus (its API token, the \
        BMC's DCL port). Each read must return the last acknowledged write of its key (or one \
        still in flight); anything else is WRONG. At the end every key written is read back. \
        Exit status: 0 when nothing failed and nothing was wrong, 1 otherwise.

        Example: backplane load kv --rate 500 --duration 30
        """)
    @Argument(help: "The workload name.") var name: String
    @Option(help: "Requests per second.") var rate: Int = 200
    @Option(help: "How long, in seconds.") var duration: Double = 10
    @Option(help: "Distinct keys.") var keys: Int = 1000
    @Option(help: "Bytes per value.") var valueBytes: Int = 100
    @Option(help: "Share of requests that write, 0 to 1.") var writes: Double = 0.5
    @Flag(help: "First write every key once (not counted in the run).") var preload = false
    @Option(help: "The BMC's DCL address, host:port (default: the API's host, its port + 1).") var bus: String?
    @Option(help: "The workload's tenant (default: the token's; a bus-admin's is default).") var tenant: String?
    @Option(help: "Seed of the key and operation choice.") var seed: UInt64 = 1
    @Option(help: "Seconds to retry a request whose owner's card is unreachable for now (0: never; such a request fails).") var retry: Double = 5
    @OptionGroup var options: BMCOptions

    func validate() throws {
        guard (1...200_000).contains(rate) else { throw ValidationError("--rate: \(rate); must be 1 to 200000") }
        guard duration > 0, duration <= 86_400 else { throw ValidationError("--duration: \(duration); must be more than 0 and at most 86400 seconds") }
        guard (1...10_000_000).contains(keys) else { throw ValidationError("--keys: \(keys); must be 1 to 10000000") }
        guard (16...(1 << 20)).contains(valueBytes) else { throw ValidationError("--value-bytes: \(valueBytes); must be 16 to 1048576") }
        guard (0...1).contains(writes) else { throw ValidationError("--writes: \(writes); must be 0 to 1") }
        guard (0...600).contains(retry) else { throw ValidationError("--retry: \(retry); must be 0 to 600 seconds") }
    }


    func run() async throws {
        try await runClient {
            let client = try await ShardClient.connect(options: options, bus: bus, workload: name, tenant: tenant)
            defer { Task { await client.close() } }
            var load = KeyValueLoad(keys: keys, valueBytes: valueBytes, writeShare: writes, seed: seed) { key, body in
                try await client.request(key: key, body: body)
            }
            load.retryFor = .milliseconds(Int64(retry * 1000))
            let report = try await load.run(rate: rate, duration: .milliseconds(Int64(duration * 1000)), preload: preload) { line in
                if !options.json { print(line) }
            }
            if options.json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print("ok \(report.ok), failed \(report.failed), wrong \(report.wrong) (\(report.reads) reads, \(report.writes) writes, \(report.retried) retries); latency p50 \(Int(report.p50Micros)) µs, p99 \(Int(report.p99Micros)) µs, max \(Int(report.maxMicros)) µs")
                print("read back \(report.verified) keys written: \(report.verifyFailed) not as last acknowledged")
                for (failure, count) in report.failures.sorted(by: { $0.value > $1.value }).prefix(5) { print("  failed \(count)×: \(failure)") }
                for example in report.wrongExamples.prefix(5) { print("  wrong: \(example)") }
            }
            if report.failed > 0 || report.wrong > 0 || report.verifyFailed > 0 {
                throw CLIError("load: \(report.failed) failed, \(report.wrong) wrong, \(report.verifyFailed) not read back as written", exitCode: 1)
            }
        }
    }
}
