import BackplaneModel
import NIOCore
import Sharding
import Testing
@testable import DirectCardLink

@Suite("one-sided regions and routing tables")
struct RegionAndRoutingTests {
    @Test("remote writes and reads are key-, rights- and bounds-checked")
    func regionChecks() throws {
        let table = MemoryRegionTable()
        table.register(MemoryRegion(id: 1, length: 16, key: 0xFEED))
        table.register(MemoryRegion(id: 2, length: 16, key: 0xBEEF, access: .remoteRead))
        #expect(table.write(RegionWrite(region: 1, key: 0xFEED, offset: 4, data: ByteBuffer(bytes: [1, 2, 3]))).status == .ok)
        #expect(try table.read(RegionRead(region: 1, key: 0xFEED, offset: 3, length: 5)).get() == ByteBuffer(bytes: [0, 1, 2, 3, 0]))
        #expect(table.write(RegionWrite(region: 1, key: 0xFEEE, offset: 0, data: ByteBuffer(bytes: [1]))).status == .regionKeyMismatch)
        #expect(table.write(RegionWrite(region: 1, key: 0xFEED, offset: 14, data: ByteBuffer(bytes: [1, 2, 3]))).status == .regionOutOfBounds)
        #expect(table.write(RegionWrite(region: 1, key: 0xFEED, offset: UInt64.max, data: ByteBuffer(bytes: [1]))).status == .regionOutOfBounds)
        #expect(table.write(RegionWrite(region: 2, key: 0xBEEF, offset: 0, data: ByteBuffer(bytes: [1]))).status == .regionAccessDenied)
        #expect(table.write(RegionWrite(region: 3, key: 0, offset: 0, data: ByteBuffer())).status == .regionNotFound)
        #expect(throws: RegionAccessError.self) { try table.read(RegionRead(region: 1, key: 0xFEED, offset: 10, length: 7)).get() }
        #expect(table[1]!.withBytes { Array($0[4..<7]) } == [1, 2, 3], "a rejected write changed nothing")
    }

    @Test("routes: direct entry, then default route")
    func routingTable() {
        var t = RoutingTable(defaultRoute: .bmc)
        t.setRoute(to: CardID(0x3_000000), via: CardID(0x2_000000))
        #expect(t.nextHop(for: CardID(0x3_000000)) == CardID(0x2_000000))
        #expect(t.nextHop(for: CardID(0x4_000000)) == .bmc)
        t.removeRoute(to: CardID(0x3_000000))
        t.defaultRoute = nil
        #expect(t.nextHop(for: CardID(0x3_000000)) == nil)
    }

    @Test("a shard table sends each key to the range holding its hash, at the table's epoch")
    func shardTable() throws {
        let owners = (0..<8).map { CardID(UInt64(0x1_000000 + $0)) }
        let ranges = (0..<8).map { i in (lower: UInt64(i) << 61, shard: UInt32(i), owner: owners[i]) }
        let entry = try #require(ShardTable.Entry(epoch: 3, ranges: ranges.reversed()))
        let table = ShardTable(workloads: ["kv": entry])
        var counts: [CardID: Int] = [:]
        for i in 0..<8000 {
            let key = Array("key-\(i)".utf8)
            let found = try #require(table.shard(workload: "kv", key: key))
            #expect(found.card == owners[Int(KeyHash.of(key) >> 61)] && found.shard == UInt32(KeyHash.of(key) >> 61) && found.epoch == 3)
            counts[found.card, default: 0] += 1
        }
        #expect(counts.values.allSatisfy { (800...1200).contains($0) }, "\(counts)")
        #expect(table.owner(workload: "nope", key: [1]) == nil)
        #expect(ShardTable.Entry(epoch: 1, ranges: [(lower: 5, shard: 0, owner: owners[0])]) == nil, "no range holds hash 0")
        #expect(ShardTable.Entry(epoch: 1, ranges: [(lower: 0, shard: 0, owner: owners[0]), (lower: 0, shard: 1, owner: owners[1])]) == nil, "overlapping ranges")
        let unplaced = try #require(ShardTable.Entry(epoch: 1, ranges: [(lower: 0, shard: 0, owner: .unassigned)]))
        #expect(ShardTable(workloads: ["kv": unplaced]).owner(workload: "kv", key: [1]) == nil, "an unplaced owner is no owner")
    }
}
