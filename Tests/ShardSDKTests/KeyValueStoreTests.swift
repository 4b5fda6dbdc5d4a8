import KeyValueApp
import NIOCore
import ShardSDK
import Sharding
import Testing

@Suite("the reference key-value app and the shard SDK's wire")
struct KeyValueStoreTests {
    /// The whole hash space as one shard, and halves/quarters of it.
    static let all = ShardRange(id: 7, lower: 0, upper: .max)

    func set(_ store: KeyValueStore, _ shard: ShardRange, _ key: String, _ value: String?) async throws {
        let body = value.map { KeyValueWire.request(.set, value: ByteBuffer(string: $0)) } ?? KeyValueWire.request(.delete)
        _ = try await store.serve(shard, key: ByteBuffer(string: key), request: body)
    }

    func get(_ store: KeyValueStore, _ shard: ShardRange, _ key: String) async throws -> String? {
        guard case .value(let v) = try KeyValueWire.decodeAnswer(try await store.serve(shard, key: ByteBuffer(string: key), request: KeyValueWire.request(.get))) else { return nil }
        return String(buffer: v)
    }

    @Test("snapshot + changes since it, restored and applied elsewhere, give the same shard; sequences count every change")
    func snapshotThenChanges() async throws {
        let source = KeyValueStore(), target = KeyValueStore()
        let shard = Self.all
        for i in 0..<100 { try await set(source, shard, "k\(i)", "v\(i)") }
        let (upTo, snapshot) = try await source.snapshot(shard)
        #expect(upTo == 100)
        // Changes after the snapshot: overwrite, delete, add.
        try await set(source, shard, "k1", "changed")
        try await set(source, shard, "k2", nil)
        try await set(source, shard, "new", "x")
        #expect(try await source.sequence(shard) == 103)
        try await target.prepare(shard)
        try await target.restore(shard, snapshot: snapshot)
        let (last, changes) = try await source.changes(shard, since: upTo)
        #expect(last == 103)
        try await target.apply(shard, changes: changes)
        for key in ["k0", "k1", "k2", "k3", "new", "k99"] {
            #expect(try await get(target, shard, key) == get(source, shard, key), "\(key)")
        }
        #expect(try await get(target, shard, "k2") == nil)
        #expect(await target.sizes([shard]) == source.sizes([shard]))
        // Nothing new: the same sequence, no changes.
        let (same, none) = try await source.changes(shard, since: 103)
        #expect(same == 103 && none.getInteger(at: none.readerIndex, as: UInt32.self) == 0)
        try await source.drop(shard)
        #expect(try await get(source, shard, "k0") == nil)
    }

    @Test("a range's snapshot, changes, sizes and drop concern exactly the keys whose hash is in it, whatever splits and merges happened")
    func rangesNotIds() async throws {
        let store = KeyValueStore()
        // Keys written while the space was one shard.
        var expected: [String: String] = [:]
        for i in 0..<2000 {
            try await set(store, Self.all, "key:\(i)", "v\(i)")
            expected["key:\(i)"] = "v\(i)"
        }
        // The map split it in three, unevenly and off bucket boundaries: the app was not told.
        let cuts: [UInt64] = [0x1234_5678_9abc_def0, 0xa000_0000_0000_0001]
        let ranges = [ShardRange(id: 7, lower: 0, upper: cuts[0] - 1), ShardRange(id: 8, lower: cuts[0], upper: cuts[1] - 1), ShardRange(id: 9, lower: cuts[1], upper: .max)]
        func owner(_ key: String) -> ShardRange { ranges.first { $0.contains(KeyHash.of(key)) }! }
        // Every key is still served through its new shard.
        for (key, value) in expected { #expect(try await get(store, owner(key), key) == value) }
        // Sizes add up to the whole.
        let sizes = await store.sizes(ranges)
        #expect(sizes.reduce(0, +) == (await store.sizes([Self.all]))[0])
        #expect(sizes.allSatisfy { $0 > 0 })
        // Move the middle range to another store: exactly its keys go.
        let target = KeyValueStore()
        let (upTo, snapshot) = try await store.snapshot(ranges[1])
        try await set(store, owner("key:1"), "key:1", "after")  // may or may not be in range 8
        try await target.prepare(ranges[1])
        try await target.restore(ranges[1], snapshot: snapshot)
        let (last, changes) = try await store.changes(ranges[1], since: upTo)
        try await target.apply(ranges[1], changes: changes)
        #expect(last >= upTo)
        expected["key:1"] = "after"
        try await store.drop(ranges[1])
        for (key, value) in expected {
            let here = owner(key).id == 8 ? target : store
            let gone = owner(key).id == 8 ? store : target
            #expect(try await get(here, owner(key), key) == value, "\(key)")
            #expect(try await get(gone, owner(key), key) == nil, "\(key) left behind")
        }
        // Merged again (ranges 7 and 8 on the target's side would need a move first; here 8+9
        // on `store` after 8 left): 9 grows down, and serves what it holds.
        let merged = ShardRange(id: 8, lower: cuts[0], upper: .max)
        #expect((await store.sizes([merged]))[0] == (await store.sizes([ranges[2]]))[0])
    }

    @Test("a snapshot's log keeps only the range's changes; the range's sequence is its last change")
    func logIsPerRange() async throws {
        let store = KeyValueStore()
        let low = ShardRange(id: 1, lower: 0, upper: UInt64.max / 2), high = ShardRange(id: 2, lower: UInt64.max / 2 + 1, upper: .max)
        let lowKey = (0...).lazy.map { "k\($0)" }.first { low.contains(KeyHash.of($0)) }!
        let highKey = (0...).lazy.map { "k\($0)" }.first { high.contains(KeyHash.of($0)) }!
        try await set(store, low, lowKey, "a")
        let (start, _) = try await store.snapshot(low)
        try await set(store, high, highKey, "b")  // another range: not in low's log
        #expect(try await store.sequence(low) == start)
        let (same, none) = try await store.changes(low, since: start)
        #expect(same == start && none.getInteger(at: none.readerIndex, as: UInt32.self) == 0)
        try await set(store, low, lowKey, "c")
        #expect(try await store.sequence(low) == start + 2)
        await #expect(throws: KeyValueError.self) { _ = try await store.changes(low, since: start - 1) }
    }

    @Test("changes are kept only from a snapshot until release; asking without one is an error")
    func changesNeedASnapshot() async throws {
        let store = KeyValueStore()
        let shard = ShardRange(id: 1, lower: 0, upper: .max)
        try await set(store, shard, "a", "1")
        await #expect(throws: KeyValueError.self) { _ = try await store.changes(shard, since: 0) }
        _ = try await store.snapshot(shard)
        try await set(store, shard, "b", "2")
        #expect(try await store.changes(shard, since: 1).sequence == 2)
        try await store.release(shard)
        await #expect(throws: KeyValueError.self) { _ = try await store.changes(shard, since: 1) }
    }

    @Test("hostile snapshots, changes and requests are refused with the field named, and change nothing")
    func hostileInput() async throws {
        let store = KeyValueStore()
        let shard = ShardRange(id: 3, lower: 0, upper: .max)
        try await set(store, shard, "keep", "me")
        var cut = ByteBuffer()
        cut.writeInteger(UInt32(5))  // five entries announced, none present
        try await store.prepare(ShardRange(id: 4, lower: 0, upper: 0))
        await #expect(throws: KeyValueError.self) { try await store.restore(shard, snapshot: cut) }
        #expect(try await get(store, shard, "keep") == "me", "a refused restore changed nothing")
        var huge = ByteBuffer()
        huge.writeInteger(UInt32(1))
        huge.writeInteger(UInt16(1)); huge.writeString("k")
        huge.writeInteger(UInt32.max - 1)  // a value length far past the limit
        await #expect(throws: KeyValueError.self) { try await store.restore(shard, snapshot: huge) }
        // A key outside the range it is restored into.
        let empty = ShardRange(id: 5, lower: 0, upper: 0)
        try await store.prepare(empty)
        var outside = ByteBuffer()
        outside.writeInteger(UInt32(1))
        outside.writeInteger(UInt16(4)); outside.writeString("keep")
        outside.writeInteger(UInt32(1)); outside.writeString("x")
        await #expect(throws: KeyValueError.self) { try await store.restore(empty, snapshot: outside) }
        var changes = ByteBuffer()
        changes.writeInteger(UInt32(2))
        changes.writeInteger(UInt64(1))
        await #expect(throws: KeyValueError.self) { try await store.apply(shard, changes: changes) }
        #expect(try await get(store, shard, "keep") == "me")
        for bad in [ByteBuffer(), ByteBuffer(bytes: [9]), ByteBuffer(bytes: [1, 0x41])] {
            await #expect(throws: KeyValueError.self) { _ = try await store.serve(shard, key: ByteBuffer(string: "k"), request: bad) }
        }
        #expect(throws: ShardAppWireError.self) { _ = try ShardAppWire.decodeServe(ByteBuffer(bytes: [0, 0, 0, 1, 0, 9, 1])) }
        // lower above upper
        var inverted = ByteBuffer()
        inverted.writeMultipleIntegers(UInt32(1), UInt64(5), UInt64(4))
        #expect(throws: ShardAppWireError.self) { _ = try ShardAppWire.rangeField(&inverted) }
        #expect(throws: ShardAppWireError.self) { _ = try ShardAppWire.decodeSizesRequest(ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF])) }
        #expect(throws: ShardAppWireError.self) { _ = try ShardAppWire.decodeSizesAnswer(ByteBuffer(bytes: [0, 0, 0]), count: 1) }
    }

    @Test("the serve and sizes bodies carry ranges, keys and requests, and decode back")
    func bodies() throws {
        let range = ShardRange(id: 42, lower: 10, upper: 20)
        let body = ShardAppWire.serveBody(range, key: ByteBuffer(string: "user:1"), request: ByteBuffer(string: "payload"))
        let (shard, key, request) = try ShardAppWire.decodeServe(body)
        #expect(shard == range && String(buffer: key) == "user:1" && String(buffer: request) == "payload")
        let ranges = [range, ShardRange(id: 1, lower: 0, upper: .max)]
        #expect(try ShardAppWire.decodeSizesRequest(ShardAppWire.sizesRequest(ranges)) == ranges)
        #expect(try ShardAppWire.decodeSizesAnswer(ShardAppWire.sizesAnswer([1, 2]), count: 2) == [1, 2])
    }
}
