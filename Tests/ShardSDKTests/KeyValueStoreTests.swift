import KeyValueApp
import NIOCore
import ShardSDK
import Testing

@Suite("the reference key-value app and the shard SDK's wire")
struct KeyValueStoreTests {
    func set(_ store: KeyValueStore, _ shard: UInt32, _ key: String, _ value: String?) async throws {
        let body = value.map { KeyValueWire.request(.set, value: ByteBuffer(string: $0)) } ?? KeyValueWire.request(.delete)
        _ = try await store.serve(shard: shard, key: ByteBuffer(string: key), request: body)
    }

    func get(_ store: KeyValueStore, _ shard: UInt32, _ key: String) async throws -> String? {
        guard case .value(let v) = try KeyValueWire.decodeAnswer(try await store.serve(shard: shard, key: ByteBuffer(string: key), request: KeyValueWire.request(.get))) else { return nil }
        return String(buffer: v)
    }

    @Test("snapshot + changes since it, restored and applied elsewhere, give the same shard; sequences count every change")
    func snapshotThenChanges() async throws {
        let source = KeyValueStore(), target = KeyValueStore()
        for i in 0..<100 { try await set(source, 7, "k\(i)", "v\(i)") }
        let (upTo, snapshot) = try await source.snapshot(shard: 7)
        #expect(upTo == 100)
        // Changes after the snapshot: overwrite, delete, add.
        try await set(source, 7, "k1", "changed")
        try await set(source, 7, "k2", nil)
        try await set(source, 7, "new", "x")
        #expect(try await source.sequence(shard: 7) == 103)
        try await target.prepare(shard: 7)
        try await target.restore(shard: 7, snapshot: snapshot)
        let (last, changes) = try await source.changes(shard: 7, since: upTo)
        #expect(last == 103)
        try await target.apply(shard: 7, changes: changes)
        for key in ["k0", "k1", "k2", "k3", "new", "k99"] {
            #expect(try await get(target, 7, key) == get(source, 7, key), "\(key)")
        }
        #expect(try await get(target, 7, "k2") == nil)
        #expect(await target.sizes()[7] == source.sizes()[7])
        // Nothing new: the same sequence, no changes.
        let (same, none) = try await source.changes(shard: 7, since: 103)
        #expect(same == 103 && none.getInteger(at: none.readerIndex, as: UInt32.self) == 0)
        try await source.drop(shard: 7)
        #expect(try await get(source, 7, "k0") == nil)
    }

    @Test("changes are kept only from a snapshot until release; asking without one is an error")
    func changesNeedASnapshot() async throws {
        let store = KeyValueStore()
        try await set(store, 1, "a", "1")
        await #expect(throws: KeyValueError.self) { _ = try await store.changes(shard: 1, since: 0) }
        _ = try await store.snapshot(shard: 1)
        try await set(store, 1, "b", "2")
        #expect(try await store.changes(shard: 1, since: 1).sequence == 2)
        try await store.release(shard: 1)
        await #expect(throws: KeyValueError.self) { _ = try await store.changes(shard: 1, since: 1) }
    }

    @Test("hostile snapshots, changes and requests are refused with the field named, and change nothing")
    func hostileInput() async throws {
        let store = KeyValueStore()
        try await set(store, 3, "keep", "me")
        var cut = ByteBuffer()
        cut.writeInteger(UInt32(5))  // five entries announced, none present
        await #expect(throws: KeyValueError.self) { try await store.restore(shard: 3, snapshot: cut) }
        #expect(try await get(store, 3, "keep") == "me", "a refused restore changed nothing")
        var huge = ByteBuffer()
        huge.writeInteger(UInt32(1))
        huge.writeInteger(UInt16(1)); huge.writeString("k")
        huge.writeInteger(UInt32.max - 1)  // a value length far past the limit
        await #expect(throws: KeyValueError.self) { try await store.restore(shard: 3, snapshot: huge) }
        var changes = ByteBuffer()
        changes.writeInteger(UInt32(2))
        changes.writeInteger(UInt64(1))
        await #expect(throws: KeyValueError.self) { try await store.apply(shard: 3, changes: changes) }
        #expect(try await get(store, 3, "keep") == "me")
        for bad in [ByteBuffer(), ByteBuffer(bytes: [9]), ByteBuffer(bytes: [1, 0x41])] {
            await #expect(throws: KeyValueError.self) { _ = try await store.serve(shard: 3, key: ByteBuffer(string: "k"), request: bad) }
        }
        #expect(throws: ShardAppWireError.self) { _ = try ShardAppWire.decodeServe(ByteBuffer(bytes: [0, 0, 0, 1, 0, 9, 1])) }
        #expect(throws: ShardAppWireError.self) { _ = try ShardAppWire.decodeSizes(ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF])) }
    }

    @Test("the serve body carries shard, key and request, and decodes back")
    func serveBody() throws {
        let body = ShardAppWire.serveBody(shard: 42, key: ByteBuffer(string: "user:1"), request: ByteBuffer(string: "payload"))
        let (shard, key, request) = try ShardAppWire.decodeServe(body)
        #expect(shard == 42 && String(buffer: key) == "user:1" && String(buffer: request) == "payload")
        #expect(try ShardAppWire.decodeSizes(ShardAppWire.sizesBody([1: 10, 2: 20])) == [1: 10, 2: 20])
    }
}
