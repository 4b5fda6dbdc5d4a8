import NIOCore
import Testing
import KeyValueApp

@Suite("the load generator's read oracle")
struct ReadOracleTests {
    @Test("a read must see at least the last write acknowledged before it began, and nothing not yet written")
    func rules() throws {
        var o = ReadOracle(keys: 2)
        #expect(o.readIsCorrect(0, floor: o.beginRead(0), version: nil), "nothing written: not found is right")
        let w1 = o.beginWrite(0)
        let v1 = try #require(w1)
        let again = o.beginWrite(0)
        #expect(again == nil, "one write of a key at a time")
        let floorDuring = o.beginRead(0)
        #expect(o.readIsCorrect(0, floor: floorDuring, version: nil) && o.readIsCorrect(0, floor: floorDuring, version: v1), "a write in flight may or may not be seen")
        o.endWrite(0, version: v1, acknowledged: true)
        let floor = o.beginRead(0)
        #expect(!o.readIsCorrect(0, floor: floor, version: nil), "an acknowledged write lost")
        #expect(o.readIsCorrect(0, floor: floor, version: 1))
        #expect(!o.readIsCorrect(0, floor: floor, version: 2), "a version never written")
        let w2 = o.beginWrite(0)
        let v2 = try #require(w2)
        o.endWrite(0, version: v2, acknowledged: true)
        #expect(!o.readIsCorrect(0, floor: o.beginRead(0), version: 1), "a stale read after the newer write was acknowledged")
    }

    @Test("values carry the run, the key and the version; another run's value is not this run's write")
    func values() {
        let v = ReadOracle.value(run: "r1", key: 7, version: 3, size: 100)
        #expect(v.readableBytes == 100)
        #expect(ReadOracle.version(of: v, run: "r1", key: 7) == 3)
        #expect(ReadOracle.version(of: v, run: "r2", key: 7) == nil)
        #expect(ReadOracle.version(of: v, run: "r1", key: 8) == nil)
        #expect(ReadOracle.version(of: ByteBuffer(string: "garbage"), run: "r1", key: 7) == nil)
    }
}
