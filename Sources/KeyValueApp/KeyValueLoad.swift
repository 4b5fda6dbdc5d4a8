import BackplaneModel
import DirectCardLinkNIO
import Foundation
import NIOCore
import Synchronization

/// Checks that every read returns the last acknowledged write of its key (or a write still in
/// flight when the read ended): the load generator's oracle (pure; no I/O, no clock).
///
/// Values are `<run>/<key>#<version>` then padding; a value another run wrote counts as "not
/// written in this run". A key has at most one write in flight (the
/// generator never starts a second), so writes to a key apply in version order; a read that
/// began after version v was acknowledged must see a version ≥ v, and cannot see a version that
/// was not yet written when it ended.
public struct ReadOracle: Sendable {
    public struct KeyState: Sendable {
        /// Highest version acknowledged.
        var acknowledged: UInt64 = 0
        /// Highest version sent (acknowledged or not).
        var issued: UInt64 = 0
        var writing = false
        /// A write failed (no answer): its version may or may not have applied.
        var uncertainAbove: UInt64?
    }

    public private(set) var keys: [KeyState]
    public init(keys: Int) { self.keys = Array(repeating: KeyState(), count: keys) }

    /// Starts a write of `key`: its version, or nil when one is already in flight.
    public mutating func beginWrite(_ key: Int) -> UInt64? {
        guard !keys[key].writing else { return nil }
        keys[key].writing = true
        keys[key].issued += 1
        return keys[key].issued
    }

    public mutating func endWrite(_ key: Int, version: UInt64, acknowledged: Bool) {
        keys[key].writing = false
        if acknowledged {
            keys[key].acknowledged = max(keys[key].acknowledged, version)
        } else {
            keys[key].uncertainAbove = max(keys[key].uncertainAbove ?? 0, version)
        }
    }

    /// What a read of `key` starting now must at least see.
    public func beginRead(_ key: Int) -> UInt64 { keys[key].acknowledged }

    /// Whether a read that began when `floor` was acknowledged and returned `version` (nil: not
    /// found, or a value of another run) is correct.
    public func readIsCorrect(_ key: Int, floor: UInt64, version: UInt64?) -> Bool {
        guard let version else { return floor == 0 }
        return version >= floor && version <= keys[key].issued
    }

    public static func value(run: String, key: Int, version: UInt64, size: Int) -> ByteBuffer {
        var b = ByteBuffer(string: "\(run)/\(key)#\(version)")
        if b.readableBytes < size { b.writeRepeatingByte(UInt8(ascii: "."), count: size - b.readableBytes) }
        return b
    }

    /// The version in a value, or nil when it is not one this run wrote for `key`.
    public static func version(of value: ByteBuffer, run: String, key: Int) -> UInt64? {
        let text = String(buffer: value)
        guard let hash = text.firstIndex(of: "#"), text[..<hash] == "\(run)/\(key)" else { return nil }
        let digits = text[text.index(after: hash)...].prefix { $0.isNumber }
        return UInt64(digits)
    }
}

/// Latency samples and outcome counts of a load run.
public struct LoadTally: Sendable {
    /// Requests sent again after a transient failure (no route to a card that is restarting).
    var retried = 0
    var ok = 0
    var failed = 0
    var wrong = 0
    var reads = 0
    var writes = 0
    var latenciesMicros: [Double] = []
    var failures: [String: Int] = [:]
    var wrongExamples: [String] = []

    mutating func failed(_ error: any Error) {
        failed += 1
        let text = "\(error)"
        failures[String(text.prefix(160)), default: 0] += 1
    }

    func percentile(_ p: Double) -> Double {
        guard !latenciesMicros.isEmpty else { return 0 }
        let sorted = latenciesMicros.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
    }
}

/// A value behind a lock that tasks share.
public final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    public init(_ value: Value) { mutex = Mutex(value) }
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R { try mutex.withLock { try body(&$0) } }
}

/// A load of reads and writes on the key-value app, checked by ``ReadOracle`` (open loop:
/// requests start on schedule, whatever the latency; a key never has two writes in flight).
/// `send` carries one request (key, ``KeyValueWire`` body) to the workload and returns the
/// answer; `backplane load` and `backplane-bench migrate` give it a DCL data client.
public struct KeyValueLoad: Sendable {
    public struct Report: Codable, Sendable {
        public var ok: Int
        public var failed: Int
        public var wrong: Int
        public var reads: Int
        public var writes: Int
        public var p50Micros: Double
        public var p99Micros: Double
        public var maxMicros: Double
        public var verified: Int
        public var verifyFailed: Int
        public var failures: [String: Int]
        public var wrongExamples: [String]
        public var retried: Int
    }

    public let keys: Int
    public let valueBytes: Int
    public let writeShare: Double
    public let seed: UInt64
    public let send: @Sendable (ByteBuffer, ByteBuffer) async throws -> ByteBuffer
    /// How long a request is retried after a transient failure (as a Redis Cluster client retries
    /// TRYAGAIN and CLUSTERDOWN); zero: never.
    public var retryFor: Duration = .zero

    public init(keys: Int, valueBytes: Int, writeShare: Double, seed: UInt64, send: @escaping @Sendable (ByteBuffer, ByteBuffer) async throws -> ByteBuffer) {
        self.keys = keys
        self.valueBytes = valueBytes
        self.writeShare = writeShare
        self.seed = seed
        self.send = send
    }

    public func key(_ i: Int) -> ByteBuffer { ByteBuffer(string: "key:\(i)") }

    /// Runs `rate` requests a second for `duration`, then reads back every key written.
    /// `stop`, when given, ends the run early once it returns true (checked every tick).
    public func run(rate: Int, duration: Duration, preload: Bool, stop: (@Sendable () -> Bool)? = nil, progress: @escaping @Sendable (String) -> Void) async throws -> Report {
        // Tells this run's values from earlier runs' (each run has its own oracle).
        let run = String(UInt64.random(in: 1...UInt64.max), radix: 36)
        let oracle = Locked(ReadOracle(keys: keys))
        let tally = Locked(LoadTally())
        if preload {
            try await withThrowingTaskGroup(of: Void.self) { group in
                var next = 0
                for _ in 0..<min(64, keys) {
                    let i = next
                    next += 1
                    group.addTask { try await self.write(i, run: run, oracle: oracle, tally: nil) }
                }
                while try await group.next() != nil {
                    if next < keys {
                        let i = next
                        next += 1
                        group.addTask { try await self.write(i, run: run, oracle: oracle, tally: nil) }
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
            while sent < total, stop?() != true {
                let due = min(total, Int(Double(rate) * Self.seconds(clock.now - start)) + 1)
                while sent < due {
                    let k = Int(rng.next() % UInt64(keys))
                    let isWrite = Double(rng.next() % 1_000_000) / 1_000_000 < writeShare
                    sent += 1
                    group.addTask {
                        if isWrite { try? await self.write(k, run: run, oracle: oracle, tally: tally) } else { await self.read(k, run: run, oracle: oracle, tally: tally) }
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
                    let value = try? await self.get(k)
                    let version = value.flatMap { ReadOracle.version(of: $0, run: run, key: k) }
                    if version.map({ $0 < acknowledged || $0 > issued }) ?? true { verifyFailed.withLock { $0 += 1 } }
                }
                return true
            }
            for _ in 0..<64 where addNext() {}
            while await group.next() != nil { _ = addNext() }
        }
        let t = tally.withLock { $0 }
        return Report(ok: t.ok, failed: t.failed, wrong: t.wrong, reads: t.reads, writes: t.writes, p50Micros: t.percentile(0.5), p99Micros: t.percentile(0.99),
                           maxMicros: t.latenciesMicros.max() ?? 0, verified: written.count, verifyFailed: verifyFailed.withLock { $0 }, failures: t.failures, wrongExamples: t.wrongExamples, retried: t.retried)
    }

    /// Whether a failure may pass if the request is sent again: the owner's card is
    /// unreachable for now, or the request got no answer (it died with a card that was killed).
    /// A retried SET of the same version is idempotent; a first copy that lands after a newer
    /// write of its key would make a later read wrong, and the oracle would report it (it has
    /// not happened in any run; the card that held it is gone).
    public static func isTransient(_ error: any Error) -> Bool {
        guard let error = error as? DCLError else { return false }
        return [.noRoute, .peerDead, .shuttingDown, .noShardOwner, .timeout].contains(error.status)
    }

    func sending(_ key: ByteBuffer, _ body: ByteBuffer, tally: Locked<LoadTally>?) async throws -> ByteBuffer {
        let deadline = ContinuousClock.now + retryFor
        var attempt = 0
        while true {
            do {
                return try await send(key, body)
            } catch where Self.isTransient(error) && ContinuousClock.now < deadline {
                attempt += 1
                tally?.withLock { $0.retried += 1 }
                try await Task.sleep(for: .milliseconds(min(200, 5 << min(attempt, 5))))  // retry backoff
            }
        }
    }

    func get(_ k: Int, tally: Locked<LoadTally>? = nil) async throws -> ByteBuffer? {
        switch try KeyValueWire.decodeAnswer(try await sending(key(k), KeyValueWire.request(.get), tally: tally)) {
        case .value(let v): return v
        case .notFound: return nil
        case let other: throw KeyValueError("GET answered \(other)")
        }
    }

    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

    private func write(_ k: Int, run: String, oracle: Locked<ReadOracle>, tally: Locked<LoadTally>?) async throws {
        guard let version = oracle.withLock({ $0.beginWrite(k) }) else {
            // A write of this key is in flight: read it instead (keeps the rate).
            if let tally { await read(k, run: run, oracle: oracle, tally: tally) }
            return
        }
        let began = ContinuousClock.now
        do {
            let answer = try KeyValueWire.decodeAnswer(try await sending(key(k), KeyValueWire.request(.set, value: ReadOracle.value(run: run, key: k, version: version, size: valueBytes)), tally: tally))
            guard answer == .stored else { throw KeyValueError("SET answered \(answer)") }
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

    private func read(_ k: Int, run: String, oracle: Locked<ReadOracle>, tally: Locked<LoadTally>) async {
        let floor = oracle.withLock { $0.beginRead(k) }
        let began = ContinuousClock.now
        do {
            let value = try await get(k, tally: tally)
            let micros = Self.seconds(ContinuousClock.now - began) * 1e6
            let version = value.flatMap { ReadOracle.version(of: $0, run: run, key: k) }
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
