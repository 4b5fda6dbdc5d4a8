import NIOCore
import ShardSDK
import Synchronization

/// The reference sharded app: an in-memory key-value store, one map per shard, built on the
/// shard SDK. Each shard numbers its changes; from a snapshot until the migration ends it keeps
/// them, so a target can catch up (docs/shard-sdk.md).
public final class KeyValueStore: ShardApp {
    struct Change {
        var sequence: UInt64
        var key: ByteBuffer
        /// nil: deleted.
        var value: ByteBuffer?
    }

    struct Shard {
        var entries: [ByteBuffer: ByteBuffer] = [:]
        var bytes: UInt64 = 0
        var sequence: UInt64 = 0
        /// Kept from a snapshot until release or drop.
        var log: [Change]?

        mutating func set(_ key: ByteBuffer, _ value: ByteBuffer?) {
            let old = entries[key]
            if let old { bytes -= UInt64(key.readableBytes + old.readableBytes) }
            entries[key] = value
            if let value { bytes += UInt64(key.readableBytes + value.readableBytes) }
            sequence += 1
            log?.append(Change(sequence: sequence, key: key, value: value))
        }
    }

    private let shards = Mutex<[UInt32: Shard]>([:])

    public init() {}

    public func serve(shard: UInt32, key: ByteBuffer, request: ByteBuffer) async throws -> ByteBuffer {
        let (op, value) = try KeyValueWire.decodeRequest(request)
        let answer: KeyValueWire.Answer = shards.withLock { shards in
            switch op {
            case .get:
                return shards[shard]?.entries[key].map { .value($0) } ?? .notFound
            case .set:
                shards[shard, default: Shard()].set(key, value)
                return .stored
            case .delete:
                guard shards[shard]?.entries[key] != nil else { return .deleted(false) }
                shards[shard]!.set(key, nil)
                return .deleted(true)
            }
        }
        return KeyValueWire.answer(answer)
    }

    public func prepare(shard: UInt32) async throws {
        shards.withLock { $0[shard] = Shard() }
    }

    public func snapshot(shard: UInt32) async throws -> (sequence: UInt64, data: ByteBuffer) {
        // Copy under the lock (copy-on-write: cheap), encode outside it.
        let copy = shards.withLock { shards -> Shard in
            shards[shard, default: Shard()].log = []
            return shards[shard]!
        }
        var out = ByteBuffer()
        out.reserveCapacity(Int(copy.bytes) + copy.entries.count * 6 + 4)
        out.writeInteger(UInt32(copy.entries.count))
        for (key, value) in copy.entries {
            out.writeInteger(UInt16(key.readableBytes))
            out.writeImmutableBuffer(key)
            out.writeInteger(UInt32(value.readableBytes))
            out.writeImmutableBuffer(value)
        }
        return (copy.sequence, out)
    }

    public func changes(shard: UInt32, since: UInt64) async throws -> (sequence: UInt64, data: ByteBuffer) {
        let (sequence, tail) = try shards.withLock { shards throws(KeyValueError) -> (UInt64, [Change]) in
            guard let s = shards[shard] else { throw KeyValueError("shard \(shard) is not here") }
            guard let log = s.log else { throw KeyValueError("shard \(shard) keeps no changes (no snapshot was taken)") }
            if let first = log.first, first.sequence - 1 > since { throw KeyValueError("changes after \(since) are gone (the log starts at \(first.sequence))") }
            return (s.sequence, log.filter { $0.sequence > since })
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
        return (max(sequence, since), out)
    }

    public func sequence(shard: UInt32) async throws -> UInt64 {
        shards.withLock { $0[shard]?.sequence ?? 0 }
    }

    public func restore(shard: UInt32, snapshot: ByteBuffer) async throws {
        var b = snapshot
        guard let count = b.readInteger(as: UInt32.self) else { throw KeyValueError("snapshot: count missing") }
        var s = Shard()
        s.entries.reserveCapacity(Int(min(count, 1 << 24)))
        for i in 0..<count {
            guard let klen = b.readInteger(as: UInt16.self), let key = b.readSlice(length: Int(klen)),
                  let vlen = b.readInteger(as: UInt32.self), vlen <= KeyValueWire.maximumValueBytes, let value = b.readSlice(length: Int(vlen)) else {
                throw KeyValueError("snapshot: entry \(i) of \(count) is cut short")
            }
            s.entries[key] = value
            s.bytes += UInt64(klen) + UInt64(vlen)
        }
        guard b.readableBytes == 0 else { throw KeyValueError("snapshot: \(b.readableBytes) bytes after the last entry") }
        try shards.withLock { shards throws(KeyValueError) in
            // Into a prepared shard only: an instance that restarted mid-migration has none, and
            // must not become the owner of an empty copy.
            guard shards[shard] != nil else { throw KeyValueError("shard \(shard) was not prepared here (did this instance restart?)") }
            shards[shard] = s
        }
    }

    public func apply(shard: UInt32, changes: ByteBuffer) async throws {
        var b = changes
        guard let count = b.readInteger(as: UInt32.self) else { throw KeyValueError("changes: count missing") }
        var decoded: [(ByteBuffer, ByteBuffer?)] = []
        for i in 0..<count {
            guard let _ = b.readInteger(as: UInt64.self), let klen = b.readInteger(as: UInt16.self), let key = b.readSlice(length: Int(klen)),
                  let vlen = b.readInteger(as: UInt32.self) else { throw KeyValueError("changes: change \(i) of \(count) is cut short") }
            if vlen == UInt32.max {
                decoded.append((key, nil))
            } else {
                guard vlen <= KeyValueWire.maximumValueBytes, let value = b.readSlice(length: Int(vlen)) else { throw KeyValueError("changes: change \(i) of \(count) is cut short") }
                decoded.append((key, value))
            }
        }
        try shards.withLock { shards throws(KeyValueError) in
            guard shards[shard] != nil else { throw KeyValueError("shard \(shard) is not here: no snapshot was restored (did this instance restart?)") }
            for (key, value) in decoded { shards[shard]!.set(key, value) }
        }
    }

    public func release(shard: UInt32) async throws {
        shards.withLock { $0[shard]?.log = nil }
    }

    public func drop(shard: UInt32) async throws {
        shards.withLock { _ = $0.removeValue(forKey: shard) }
    }

    public func sizes() async -> [UInt32: UInt64] {
        shards.withLock { $0.mapValues(\.bytes) }
    }
}
