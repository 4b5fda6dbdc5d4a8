import ArgumentParser
import BackplaneModel
import BusController
import Foundation
import NIOCore
import Synchronization

struct Shards: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a sharded workload's shard map: ranges, owners, load.",
        discussion: """
        One row per shard: its range of the 64-bit key-hash space, the instance that owns it and \
        that instance's card, requests per second (since the previous `backplane shards`), \
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
            print(table(["SHARD", "RANGE", "SHARE", "OWNER", "CARD", "REQ/S", "REQUESTS", "BYTES", "STATE"], view.shards.map { s in
                ["\(s.id)", "\(s.lower)–\(s.upper)", String(format: "%.2f%%", s.share * 100), s.owner, s.card.map { "\($0)" } ?? "(not running)",
                 s.requestsPerSecond.map { String(format: "%.0f", $0) } ?? "-", s.requests.map(String.init) ?? "-",
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
    @OptionGroup var options: BMCOptions

    func validate() throws {
        guard (1...200_000).contains(rate) else { throw ValidationError("--rate: \(rate); must be 1 to 200000") }
        guard duration > 0, duration <= 86_400 else { throw ValidationError("--duration: \(duration); must be more than 0 and at most 86400 seconds") }
        guard (1...10_000_000).contains(keys) else { throw ValidationError("--keys: \(keys); must be 1 to 10000000") }
        guard (16...(1 << 20)).contains(valueBytes) else { throw ValidationError("--value-bytes: \(valueBytes); must be 16 to 1048576") }
        guard (0...1).contains(writes) else { throw ValidationError("--writes: \(writes); must be 0 to 1") }
    }

    struct Report: Codable {
        var ok: Int
        var failed: Int
        var wrong: Int
        var reads: Int
        var writes: Int
        var p50Micros: Double
        var p99Micros: Double
        var maxMicros: Double
        var verified: Int
        var verifyFailed: Int
        var failures: [String: Int]
        var wrongExamples: [String]
    }

    func run() async throws {
        try await runClient {
            let client = try await ShardClient.connect(options: options, bus: bus, workload: name, tenant: tenant)
            defer { Task { await client.close() } }
            let report = try await LoadRun(client: client, keys: keys, valueBytes: valueBytes, writeShare: writes, seed: seed)
                .run(rate: rate, duration: .milliseconds(Int64(duration * 1000)), preload: preload) { line in
                    if !options.json { print(line) }
                }
            if options.json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print("ok \(report.ok), failed \(report.failed), wrong \(report.wrong) (\(report.reads) reads, \(report.writes) writes); latency p50 \(Int(report.p50Micros)) µs, p99 \(Int(report.p99Micros)) µs, max \(Int(report.maxMicros)) µs")
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

/// One run of the load generator (open loop: requests start on schedule, whatever the
/// latency; a key never has two writes in flight).
struct LoadRun: Sendable {
    let client: ShardClient
    let keys: Int
    let valueBytes: Int
    let writeShare: Double
    let seed: UInt64
    /// Tells this run's values from earlier runs'.
    let run = String(UInt64.random(in: 1...UInt64.max), radix: 36)

    func key(_ i: Int) -> ByteBuffer { ByteBuffer(string: "key:\(i)") }

    func run(rate: Int, duration: Duration, preload: Bool, progress: @escaping @Sendable (String) -> Void) async throws -> Load.Report {
        let oracle = Locked(ReadOracle(keys: keys))
        let tally = Locked(LoadTally())
        if preload {
            try await withThrowingTaskGroup(of: Void.self) { group in
                var next = 0
                for _ in 0..<min(64, keys) {
                    let i = next
                    next += 1
                    group.addTask { try await self.write(i, oracle: oracle, tally: nil) }
                }
                while try await group.next() != nil {
                    if next < keys {
                        let i = next
                        next += 1
                        group.addTask { try await self.write(i, oracle: oracle, tally: nil) }
                    }
                }
            }
            progress("preloaded \(keys) keys")
        }
        let clock = ContinuousClock()
        let start = clock.now
        var rng = SplitMix64(seed: seed)
        let total = Int((Double(rate) * (Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)).rounded())
        await withTaskGroup(of: Void.self) { group in
            var sent = 0
            var lastReport = start
            while sent < total {
                let due = min(total, Int(Double(rate) * Self.seconds(clock.now - start)) + 1)
                while sent < due {
                    let k = Int(rng.next() % UInt64(keys))
                    let isWrite = Double(rng.next() % 1_000_000) / 1_000_000 < writeShare
                    sent += 1
                    group.addTask {
                        if isWrite { try? await self.write(k, oracle: oracle, tally: tally) } else { await self.read(k, oracle: oracle, tally: tally) }
                    }
                }
                if clock.now - lastReport >= .seconds(5) {
                    lastReport = clock.now
                    let t = tally.withLock { $0 }
                    progress(String(format: "%.0f s: ok %d, failed %d, wrong %d", Self.seconds(clock.now - start), t.ok, t.failed, t.wrong))
                }
                try? await Task.sleep(for: .milliseconds(1))  // the schedule's tick
            }
        }
        // Every key written reads back as its last acknowledged write.
        let written = oracle.withLock { o in o.keys.enumerated().filter { $0.element.acknowledged > 0 }.map { ($0.offset, $0.element.acknowledged, $0.element.issued) } }
        let verifyFailed = Locked(0)
        await withTaskGroup(of: Void.self) { group in
            var iterator = written.makeIterator()
            func addNext() -> Bool {
                guard let (k, acknowledged, issued) = iterator.next() else { return false }
                group.addTask {
                    let value = try? await self.client.get(self.key(k))
                    let version = value.flatMap { ReadOracle.version(of: $0, run: self.run, key: k) }
                    if version.map({ $0 < acknowledged || $0 > issued }) ?? true { verifyFailed.withLock { $0 += 1 } }
                }
                return true
            }
            for _ in 0..<64 where addNext() {}
            while await group.next() != nil { _ = addNext() }
        }
        let t = tally.withLock { $0 }
        return Load.Report(ok: t.ok, failed: t.failed, wrong: t.wrong, reads: t.reads, writes: t.writes, p50Micros: t.percentile(0.5), p99Micros: t.percentile(0.99),
                           maxMicros: t.latenciesMicros.max() ?? 0, verified: written.count, verifyFailed: verifyFailed.withLock { $0 }, failures: t.failures, wrongExamples: t.wrongExamples)
    }

    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

    private func write(_ k: Int, oracle: Locked<ReadOracle>, tally: Locked<LoadTally>?) async throws {
        guard let version = oracle.withLock({ $0.beginWrite(k) }) else {
            // A write of this key is in flight: read it instead (keeps the rate).
            if let tally { await read(k, oracle: oracle, tally: tally) }
            return
        }
        let began = ContinuousClock.now
        do {
            try await client.set(key(k), ReadOracle.value(run: run, key: k, version: version, size: valueBytes))
            oracle.withLock { $0.endWrite(k, version: version, acknowledged: true) }
            let micros = Self.seconds(ContinuousClock.now - began) * 1e6
            tally?.withLock { t in
                t.ok += 1
                t.writes += 1
                t.latenciesMicros.append(micros)
            }
        } catch {
            oracle.withLock { $0.endWrite(k, version: version, acknowledged: false) }
            guard let tally else { throw error }
            tally.withLock { t in
                t.writes += 1
                t.failed(error)
            }
        }
    }

    private func read(_ k: Int, oracle: Locked<ReadOracle>, tally: Locked<LoadTally>) async {
        let floor = oracle.withLock { $0.beginRead(k) }
        let began = ContinuousClock.now
        do {
            let value = try await client.get(key(k))
            let micros = Self.seconds(ContinuousClock.now - began) * 1e6
            let version = value.flatMap { ReadOracle.version(of: $0, run: self.run, key: k) }
            let correct = oracle.withLock { $0.readIsCorrect(k, floor: floor, version: version) }
            tally.withLock { t in
                t.reads += 1
                t.latenciesMicros.append(micros)
                if correct {
                    t.ok += 1
                } else {
                    t.wrong += 1
                    if t.wrongExamples.count < 20 { t.wrongExamples.append("key:\(k) read \(value.map { String(buffer: $0).prefix(40) } ?? "nothing"), expected version ≥ \(floor)") }
                }
            }
        } catch {
            tally.withLock { t in
                t.reads += 1
                t.failed(error)
            }
        }
    }
}
