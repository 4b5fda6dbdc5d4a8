import Sharding
import Testing

@Suite("where a shard moves when the operator does not say")
struct TargetChoiceTests {
    typealias Link = TargetChoice.Link
    static let idle10G = Link(bitsPerSecond: 10_000_000_000, useBitsPerSecond: 0)
    static let source = (card: "c1", link: idle10G)

    func candidate(_ instance: String, _ card: String, gbps: Int64, busy: Int64 = 0, shards: Int) -> TargetChoice.Candidate {
        TargetChoice.Candidate(instance: instance, card: card, link: Link(bitsPerSecond: gbps * 1_000_000_000, useBitsPerSecond: busy * 1_000_000_000), shards: shards)
    }

    @Test("among balanced instances the faster link wins, and a busy link counts only what it has left")
    func bandwidth() throws {
        let bytes: UInt64 = 1 << 30
        // The source's link is 100 Gbit/s here, so the target's link decides.
        let fast = (card: "c1", link: Link(bitsPerSecond: 100_000_000_000, useBitsPerSecond: 0))
        let a = candidate("kv-1", "c2", gbps: 10, shards: 3), b = candidate("kv-2", "c3", gbps: 40, shards: 3)
        #expect(TargetChoice.choose(bytes: bytes, source: fast, candidates: [a, b])?.instance == "kv-2")
        // The 40G link carries 35G now: 5G left, less than the idle 10G.
        let busy = candidate("kv-2", "c3", gbps: 40, busy: 35, shards: 3)
        let choice = try #require(TargetChoice.choose(bytes: bytes, source: fast, candidates: [a, busy]))
        #expect(choice.instance == "kv-1" && choice.networkBytes == bytes)
        #expect(abs(choice.seconds - Double(bytes) * 8 / 10e9) < 1e-9)
        #expect(choice.reason.contains("kv-1") && choice.reason.contains("Gbit/s"))
        // A link busier than its rate still leaves the copy its minimum share.
        let saturated = Link(bitsPerSecond: 10_000_000_000, useBitsPerSecond: 50_000_000_000)
        #expect(saturated.available == 1e9)
        // The slower end of the two links bounds the copy.
        #expect(TargetChoice.seconds(bytes: bytes, from: Self.source, to: b) == Double(bytes) * 8 / 10e9)
    }

    @Test("balance comes first: an instance more than one shard above the fewest is not chosen, however fast its link")
    func balanceFirst() {
        let loaded = candidate("kv-1", "c2", gbps: 400, shards: 9), light = candidate("kv-2", "c3", gbps: 1, shards: 2)
        #expect(TargetChoice.choose(bytes: 1 << 30, source: Self.source, candidates: [loaded, light])?.instance == "kv-2")
        let close = candidate("kv-1", "c2", gbps: 400, shards: 3)
        #expect(TargetChoice.choose(bytes: 1 << 30, source: Self.source, candidates: [close, light])?.instance == "kv-1", "within one shard of the fewest, the faster copy wins (10 Gbit/s against 1)")
    }

    @Test("an instance on the source's card gets no discount (its frames go through the bus too); the reason names the narrower link")
    func sameCard() throws {
        let local = candidate("kv-3", "c1", gbps: 10, shards: 3), remote = candidate("kv-1", "c2", gbps: 100, shards: 3)
        let choice = try #require(TargetChoice.choose(bytes: 1 << 20, source: Self.source, candidates: [remote, local]))
        #expect(choice.networkBytes == 1 << 20 && choice.seconds > 0)
        #expect(choice.instance == "kv-1", "equal times (the source's 10G bounds both): ties go by shards, then name")
        #expect(choice.reason.contains("the source's link"))
    }

    @Test("no candidates: no choice; unknown links are assumed 10 Gbit/s; ties go by shards, then name")
    func edges() {
        #expect(TargetChoice.choose(bytes: 1, source: Self.source, candidates: []) == nil)
        #expect(Link(bitsPerSecond: 0, useBitsPerSecond: 0).available == Double(TargetChoice.assumedBitsPerSecond))
        #expect(Link(bitsPerSecond: 10, useBitsPerSecond: -5).available == 10)
        let x = candidate("kv-b", "c2", gbps: 10, shards: 1), y = candidate("kv-a", "c3", gbps: 10, shards: 1)
        #expect(TargetChoice.choose(bytes: 0, source: Self.source, candidates: [x, y])?.instance == "kv-a")
        let huge = TargetChoice.choose(bytes: .max, source: Self.source, candidates: [x])
        #expect(huge?.seconds.isFinite == true)
    }
}
