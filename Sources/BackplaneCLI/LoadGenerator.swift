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
struct ReadOracle: Sendable {
    struct KeyState: Sendable {
        /// Highest version acknowledged.
        var acknowledged: UInt64 = 0
        /// Highest version sent (acknowledged or not).
        var issued: UInt64 = 0
        var writing = false
        /// A write failed (no answer): its version may or may not have applied.
        var uncertainAbove: UInt64?
    }

    private(set) var keys: [KeyState]
    init(keys: Int) { self.keys = Array(repeating: KeyState(), count: keys) }

    /// Starts a write of `key`: its version, or nil when one is already in flight.
    mutating func beginWrite(_ key: Int) -> UInt64? {
        guard !keys[key].writing else { return nil }
        keys[key].writing = true
        keys[key].issued += 1
        return keys[key].issued
    }

    mutating func endWrite(_ key: Int, version: UInt64, acknowledged: Bool) {
        keys[key].writing = false
        if acknowledged {
            keys[key].acknowledged = max(keys[key].acknowledged, version)
        } else {
            keys[key].uncertainAbove = max(keys[key].uncertainAbove ?? 0, version)
        }
    }

    /// What a read of `key` starting now must at least see.
    func beginRead(_ key: Int) -> UInt64 { keys[key].acknowledged }

    /// Whether a read that began when `floor` was acknowledged and returned `version` (nil: not
    /// found, or a value of another run) is correct.
    func readIsCorrect(_ key: Int, floor: UInt64, version: UInt64?) -> Bool {
        guard let version else { return floor == 0 }
        return version >= floor && version <= keys[key].issued
    }

    static func value(run: String, key: Int, version: UInt64, size: Int) -> ByteBuffer {
        var b = ByteBuffer(string: "\(run)/\(key)#\(version)")
        if b.readableBytes < size { b.writeRepeatingByte(UInt8(ascii: "."), count: size - b.readableBytes) }
        return b
    }

    /// The version in a value, or nil when it is not one this run wrote for `key`.
    static func version(of value: ByteBuffer, run: String, key: Int) -> UInt64? {
        let text = String(buffer: value)
        guard let hash = text.firstIndex(of: "#"), text[..<hash] == "\(run)/\(key)" else { return nil }
        let digits = text[text.index(after: hash)...].prefix { $0.isNumber }
        return UInt64(digits)
    }
}

/// Latency samples and outcome counts of a load run.
struct LoadTally: Sendable {
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
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R { try mutex.withLock { try body(&$0) } }
}
