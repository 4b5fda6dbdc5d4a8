import NIOCore
import ShardSDK
import Sharding
import Synchronization

/// The reference sharded app: an in-memory key-value store built on the shard SDK.
///
/// Keys live in 4,096 buckets by the top 12 bits of their hash, never by shard id, so a split
/// or a merge of shards (a change of ranges in the map) needs nothing from the app: a shard's
/// range is a run of buckets (whole ones inside it, the two end ones filtered by hash). Every
/// change takes the instance's next number; from a range's snapshot until its migration ends the
/// store keeps the range's changes, so a target can catch up (docs/shard-sdk.md).
public final class KeyValueStore: ShardApp {
    struct Change {
        var sequence: UInt64
        var key: ByteBuffer
        /// nil: deleted.
        var value: ByteBuffer?
    }

    struct Entry {
        var value: ByteBuffer
        var hash: UInt64
    }

    struct Bucket {
        var entries: [ByteBuffer: Entry] = [:]
        var bytes: UInt64 = 0
    }

    /// The changes of one range, kept from its snapshot until release or drop.
    struct Log {
        var range: ShardRange
        /// The snapshot's number: changes after it are all here.
        var start: UInt64
        /// The number of the range's last change (`start` when there was none).
        var last: UInt64
        var changes: [Change] = []
    }

    struct State {
        var buckets = [Bucket](repeating: Bucket(), count: KeyValueStore.bucketCount)
        var sequence: UInt64 = 0
        /// By shard id (the BMC runs one migration per shard, and never splits a moving one).
        var logs: [UInt32: Log] = [:]
        /// Ranges prepared for a restore (this instance is a migration's target).
        var prepared: [UInt32: ShardRange] = [:]

        mutating func set(_ key: ByteBuffer, hash: UInt64, _ value: ByteBuffer?) {
            let b = KeyValueStore.bucket(of: hash)
            if let old = buckets[b].entries[key] { buckets[b].bytes -= UInt64(key.readableBytes + old.value.readableBytes) }
            if let value {
                buckets[b].entries[key] = Entry(value: value, hash: hash)
                buckets[b].bytes += UInt64(key.readableBytes + value.readableBytes)
            } else {
                buckets[b].entries[key] = nil
            }
            sequence += 1
            guard !logs.isEmpty else { return }
            for (id, log) in logs where log.range.contains(hash) {
                logs[id]!.changes.append(Change(sequence: sequence, key: key, value: value))
                logs[id]!.last = sequence
            }
        }

        /// Removes every key in `range`. Returns the whole buckets taken out, for the caller to
        /// free after it lets go of the lock (freeing thousands of entries takes milliseconds).
        @discardableResult
        mutating func removeAll(in range: ShardRange) -> [Bucket] {
            var removed: [Bucket] = []
            for b in KeyValueStore.buckets(of: range) {
                if KeyValueStore.covers(range, bucket: b) {
                    if !buckets[b].entries.isEmpty {
                        removed.append(buckets[b])
                        buckets[b] = Bucket()
                    }
                } else {
                    for (key, entry) in buckets[b].entries where range.contains(entry.hash) {
                        buckets[b].entries[key] = nil
                        buckets[b].bytes -= UInt64(key.readableBytes + entry.value.readableBytes)
                    }
                }
            }
            return removed
        }
    }

    static let bucketBits = 12
    static let bucketCount = 1 << bucketBits

    static func bucket(of hash: UInt64) -> Int { Int(hash >> UInt64(64 - bucketBits)) }
    static func buckets(of range: ShardRange) -> ClosedRange<Int> { bucket(of: range.lower)...bucket(of: range.upper) }
    /// Whether every hash of bucket `b` is in `range`.
    static func covers(_ range: ShardRange, bucket b: Int) -> Bool {
        let first = UInt64(b) << UInt64(64 - bucketBits)
        let last = first | (UInt64.max >> UInt64(bucketBits))
        return range.lower <= first && last <= range.upper
    }

    private let state = Mutex(State())

    public init() {}

    public func serve(_ shard: ShardRange, key: ByteBuffer, request: ByteBuffer) async throws -> ByteBuffer {
        let (op, value) = try KeyValueWire.decodeRequest(request)
        let hash = KeyHash.of(key.readableBytesView)
        let b = Self.bucket(of: hash)
        let answer: KeyValueWire.Answer = state.withLock { s in
            switch op {
            case .get:
                return s.buckets[b].entries[key].map { .value($0.value) } ?? .notFound
            case .set:
                s.set(key, hash: hash, value)
                return .stored
            case .delete:
                guard s.buckets[b].entries[key] != nil else { return .deleted(false) }
                s.set(key, hash: hash, nil)
                return .deleted(true)
            }
        }
        return KeyValueWire.answer(answer)
    }

    public func prepare(_ shard: ShardRange) async throws {
        let garbage = state.withLock { s in
            defer { s.prepared[shard.id] = shard }
            return s.removeAll(in: shard)
        }
        _ = garbage  // freed here, outside the lock
    }

    public func snapshot(_ shard: ShardRange) async throws -> (sequence: UInt64, data: ByteBuffer) {
        // Copy the range's buckets under the lock (copy-on-write: cheap), encode outside it.
        let (sequence, buckets) = state.withLock { s -> (UInt64, [Bucket]) in
            s.logs[shard.id] = Log(range: shard, start: s.sequence, last: s.sequence)
            return (s.sequence, Self.buckets(of: shard).map { s.buckets[$0] })
        }
        var count: UInt32 = 0
        var out = ByteBuffer()
        out.reserveCapacity(Int(buckets.reduce(0) { $0 + $1.bytes }) + 4 + buckets.reduce(0) { $0 + $1.entries.count } * 6)
        out.writeInteger(count)
        for bucket in buckets {
            for (key, entry) in bucket.entries where shard.contains(entry.hash) {
                out.writeInteger(UInt16(key.readableBytes))
                out.writeImmutableBuffer(key)
                out.writeInteger(UInt32(entry.value.readableBytes))
                out.writeImmutableBuffer(entry.value)
                count += 1
            }
        }
        out.setInteger(count, at: out.readerIndex)
        return (sequence, out)
    }

    public func changes(_ shard: ShardRange, since: UInt64) async throws -> (sequence: UInt64, data: ByteBuffer) {
        let (sequence, tail) = try state.withLock { s throws(KeyValueError) -> (UInt64, ArraySlice<Change>) in
            guard let log = s.logs[shard.id] else { throw KeyValueError("\(shard) keeps no changes (no snapshot was taken, or it was released)") }
            guard since >= log.start else { throw KeyValueError("changes after \(since) are gone (they are kept from the snapshot at \(log.start))") }
            // The log is in order: binary search for the first change after `since`.
            var low = 0, high = log.changes.count
            while low < high {
                let mid = (low + high) / 2
                if log.changes[mid].sequence <= since { low = mid + 1 } else { high = mid }
            }
            return (max(log.last, since), log.changes[low...])
        }
        var out = ByteBuffer()
        out.writeInteger(UInt32(tail.count))
        for c in tail {
            out.writeInteger(c.sequence)
            out.writeInteger(UInt16(c.key.readableBytes))
            out.writeImmutableBuffer(c.key)
            if let value = c.value {
                out.writeInteger(UInt32(value.readableBytes))
                out.writeImmutableBuffer(value)
            } else {
                out.writeInteger(UInt32.max)
            }
        }
        return (sequence, out)
    }

    public func sequence(_ shard: ShardRange) async throws -> UInt64 {
        state.withLock { $0.logs[shard.id]?.last ?? $0.sequence }
    }

    public func restore(_ shard: ShardRange, snapshot: ByteBuffer) async throws {
        var b = snapshot
        guard let count = b.readInteger(as: UInt32.self) else { throw KeyValueError("snapshot: count missing") }
        // Whole buckets are built here, outside the lock, and swapped in under it; only the
        // range's two end buckets (shared with neighbours) are merged entry by entry.
        var built: [Int: Bucket] = [:]
        for i in 0..<count {
            guard let klen = b.readInteger(as: UInt16.self), let key = b.readSlice(length: Int(klen)),
                  let vlen = b.readInteger(as: UInt32.self), vlen <= KeyValueWire.maximumValueBytes, let value = b.readSlice(length: Int(vlen)) else {
                throw KeyValueError("snapshot: entry \(i) of \(count) is cut short")
            }
            let hash = KeyHash.of(key.readableBytesView)
            guard shard.contains(hash) else { throw KeyValueError("snapshot: entry \(i)'s key hashes outside \(shard)") }
            let index = Self.bucket(of: hash)
            if let old = built[index, default: Bucket()].entries.updateValue(Entry(value: value, hash: hash), forKey: key) {
                built[index]!.bytes -= UInt64(key.readableBytes + old.value.readableBytes)
            }
            built[index]!.bytes += UInt64(key.readableBytes + value.readableBytes)
        }
        guard b.readableBytes == 0 else { throw KeyValueError("snapshot: \(b.readableBytes) bytes after the last entry") }
        let garbage = try state.withLock { s throws(KeyValueError) -> [Bucket] in
            // Into a prepared range only: an instance that restarted mid-migration has none, and
            // must not become the owner of an empty copy.
            guard s.prepared[shard.id] == shard else { throw KeyValueError("\(shard) was not prepared here (did this instance restart?)") }
            var garbage = s.removeAll(in: shard)
            for (index, bucket) in built {
                if Self.covers(shard, bucket: index) {
                    garbage.append(s.buckets[index])
                    s.buckets[index] = bucket
                } else {
                    for (key, entry) in bucket.entries {
                        if let old = s.buckets[index].entries.updateValue(entry, forKey: key) {
                            s.buckets[index].bytes -= UInt64(key.readableBytes + old.value.readableBytes)
                        }
                        s.buckets[index].bytes += UInt64(key.readableBytes + entry.value.readableBytes)
                    }
                }
            }
            return garbage
        }
        _ = garbage  // freed here, outside the lock
    }

    public func apply(_ shard: ShardRange, changes: ByteBuffer) async throws {
        var b = changes
        guard let count = b.readInteger(as: UInt32.self) else { throw KeyValueError("changes: count missing") }
        var decoded: [(ByteBuffer, UInt64, ByteBuffer?)] = []
        for i in 0..<count {
            guard let _ = b.readInteger(as: UInt64.self), let klen = b.readInteger(as: UInt16.self), let key = b.readSlice(length: Int(klen)),
                  let vlen = b.readInteger(as: UInt32.self) else { throw KeyValueError("changes: change \(i) of \(count) is cut short") }
            let hash = KeyHash.of(key.readableBytesView)
            guard shard.contains(hash) else { throw KeyValueError("changes: change \(i)'s key hashes outside \(shard)") }
            if vlen == UInt32.max {
                decoded.append((key, hash, nil))
            } else {
                guard vlen <= KeyValueWire.maximumValueBytes, let value = b.readSlice(length: Int(vlen)) else { throw KeyValueError("changes: change \(i) of \(count) is cut short") }
                decoded.append((key, hash, value))
            }
        }
        guard b.readableBytes == 0 else { throw KeyValueError("changes: \(b.readableBytes) bytes after the last change") }
        try state.withLock { s throws(KeyValueError) in
            guard s.prepared[shard.id] == shard else { throw KeyValueError("\(shard) is not here: no snapshot was restored (did this instance restart?)") }
            for (key, hash, value) in decoded { s.set(key, hash: hash, value) }
        }
    }

    public func release(_ shard: ShardRange) async throws {
        state.withLock { _ = $0.logs.removeValue(forKey: shard.id) }
    }

    public func drop(_ shard: ShardRange) async throws {
        let garbage = state.withLock { s in
            s.logs[shard.id] = nil
            s.prepared[shard.id] = nil
            return s.removeAll(in: shard)
        }
        _ = garbage  // freed here, outside the lock
    }

    public func sizes(_ shards: [ShardRange]) async -> [UInt64] {
        state.withLock { s in
            shards.map { shard in
                Self.buckets(of: shard).reduce(UInt64(0)) { sum, b in
                    if Self.covers(shard, bucket: b) { return sum + s.buckets[b].bytes }
                    return s.buckets[b].entries.reduce(sum) { shard.contains($1.value.hash) ? $0 + UInt64($1.key.readableBytes + $1.value.value.readableBytes) : $0 }
                }
            }
        }
    }
}
