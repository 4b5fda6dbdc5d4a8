import BackplaneModel
import NIOCore
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

    @Test("jump hash spreads keys evenly and moves few keys when a shard is added")
    func shardTable() {
        let owners = (0..<8).map { CardID(UInt64(0x1_000000 + $0)) }
        let table = ShardTable(workloads: ["kv": .init(epoch: 3, owners: owners)])
        var counts: [CardID: Int] = [:]
        for i in 0..<8000 { counts[table.owner(workload: "kv", key: Array("key-\(i)".utf8))!.card, default: 0] += 1 }
        #expect(counts.values.allSatisfy { (800...1200).contains($0) }, "\(counts)")
        var moved = 0
        for i in 0..<8000 {
            let key = UInt64(i) &* 0x9E37_79B9
            if ShardTable.jumpHash(key, buckets: 8) != ShardTable.jumpHash(key, buckets: 9) { moved += 1 }
        }
        #expect(moved < 8000 / 9 + 200)
        #expect(table.owner(workload: "nope", key: [1]) == nil)
    }
}
