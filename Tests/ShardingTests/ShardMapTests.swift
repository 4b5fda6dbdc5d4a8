import Foundation
import Testing
@testable import Sharding

/// A seeded generator (SplitMix64) so every random test replays.
struct Seeded: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct ShardMapTests {
    @Test(arguments: [1, 2, 3, 7, 64, 1000])
    func uniformMapsCoverTheSpaceInNearlyEqualParts(count: Int) throws {
        let map = try ShardMap.uniform(workload: "kv", count: count, owners: ["kv-0", "kv-1", "kv-2"])
        #expect(map.shards.count == count && map.epoch == 1)
        #expect(ShardMap.problem(map.shards) == nil)
        let widths = map.shards.map { Double($0.upper - $0.lower) + 1 }
        #expect(widths.max()! - widths.min()! <= 1)
        #expect(abs(map.shards.map(\.share).reduce(0, +) - 1) < 1e-9)
        #expect(map.owners == Array(["kv-0", "kv-1", "kv-2"].prefix(count)))
    }

    @Test func badUniformRequestsAndBrokenStoredMapsAreRefused() throws {
        #expect(throws: ShardMapError.self) { try ShardMap.uniform(workload: "kv", count: 0, owners: ["a"]) }
        #expect(throws: ShardMapError.self) { try ShardMap.uniform(workload: "kv", count: -5, owners: ["a"]) }
        #expect(throws: ShardMapError.self) { try ShardMap.uniform(workload: "kv", count: 70_000, owners: ["a"]) }
        #expect(throws: ShardMapError.self) { try ShardMap.uniform(workload: "kv", count: 4, owners: []) }
        #expect(throws: ShardMapError.self) { try ShardMap.uniform(workload: "kv", count: 4, owners: [""]) }
        typealias S = ShardMap.Shard
        let broken: [[S]] = [
            [],
            [S(id: 0, lower: 1, upper: .max, owner: "a")],                                            // gap at the bottom
            [S(id: 0, lower: 0, upper: 10, owner: "a")],                                              // gap at the top
            [S(id: 0, lower: 0, upper: 10, owner: "a"), S(id: 1, lower: 12, upper: .max, owner: "a")],  // gap
            [S(id: 0, lower: 0, upper: 10, owner: "a"), S(id: 1, lower: 10, upper: .max, owner: "a")],  // overlap
            [S(id: 0, lower: 0, upper: 10, owner: "a"), S(id: 0, lower: 11, upper: .max, owner: "a")],  // same id
            [S(id: 0, lower: 0, upper: .max, owner: "")],                                             // no owner
            [S(id: 0, lower: 5, upper: 4, owner: "a"), S(id: 1, lower: 0, upper: .max, owner: "a")],
        ]
        for shards in broken {
            #expect(throws: ShardMapError.self, "\(shards)") { try ShardMap(workload: "kv", epoch: 3, shards: shards) }
        }
        // The same through the store's JSON.
        let json = #"{"workload":"kv","epoch":2,"shards":[{"id":0,"lower":0,"upper":99,"owner":"a"},{"id":1,"lower":50,"upper":18446744073709551615,"owner":"b"}]}"#
        #expect(throws: (any Error).self) { try JSONDecoder().decode(ShardMap.self, from: Data(json.utf8)) }
        let map = try ShardMap.uniform(workload: "kv", count: 5, owners: ["a", "b"])
        #expect(try JSONDecoder().decode(ShardMap.self, from: JSONEncoder().encode(map)) == map)
    }

    @Test func lookupsFindTheOwningShard() throws {
        let map = try ShardMap.uniform(workload: "kv", count: 16, owners: ["a", "b", "c"])
        for shard in map.shards {
            for hash in [shard.lower, shard.upper, shard.lower + (shard.upper - shard.lower) / 2] {
                #expect(map.shard(for: hash).id == shard.id)
            }
        }
        // Keys spread: 64,000 keys over 16 shards, each within 10 % of the mean.
        var counts: [UInt32: Int] = [:]
        for i in 0..<64_000 { counts[map.shard(forKey: Array("user:\(i)".utf8)).id, default: 0] += 1 }
        #expect(counts.values.allSatisfy { abs($0 - 4_000) < 400 }, "\(counts)")
    }

    @Test func splitMergeAndReassignBumpTheEpochAndRefuseNonsense() throws {
        let map = try ShardMap.uniform(workload: "kv", count: 2, owners: ["a", "b"])
        let split = try map.splittingInHalf(0)
        #expect(split.epoch == 2 && split.shards.count == 3 && split.shards[1].id == 2 && split.shards[1].owner == "a")
        #expect(ShardMap.problem(split.shards) == nil)
        #expect(map.shards.count == 2, "the original is unchanged")
        #expect(throws: ShardMapError.self) { try map.splitting(0, at: map.shards[0].lower) }       // not inside
        #expect(throws: ShardMapError.self) { try map.splitting(0, at: map.shards[1].lower) }       // the next shard's
        #expect(throws: ShardMapError.self) { try map.splitting(9, at: 5) }                          // no such shard
        #expect(throws: ShardMapError.self) { try map.merging(0) }                                    // different owners
        #expect(throws: ShardMapError.self) { try map.merging(1) }                                    // the last one
        let merged = try split.merging(0)
        #expect(merged.shards.count == 2 && merged.epoch == 3 && merged.shards[0].upper == map.shards[0].upper)
        let moved = try map.reassigning(1, to: "c")
        #expect(moved.shard(id: 1)?.owner == "c" && moved.epoch == 2)
        #expect(throws: ShardMapError.self) { try map.reassigning(1, to: "") }
        let one = try ShardMap(workload: "kv", epoch: 1, shards: [.init(id: 0, lower: 0, upper: 0, owner: "a"), .init(id: 1, lower: 1, upper: .max, owner: "a")])
        #expect(throws: ShardMapError.self) { try one.splittingInHalf(0) }                           // one hash
    }

    /// Random sequences of splits, merges and reassignments keep every invariant: the whole
    /// space covered once, epochs strictly increasing, every key owned by exactly one shard.
    @Test(arguments: 0..<40)
    func randomChangesKeepTheInvariants(seed: UInt64) throws {
        var rng = Seeded(state: seed)
        var map = try ShardMap.uniform(workload: "kv", count: Int.random(in: 1...8, using: &rng), owners: ["a", "b", "c"])
        let keys = (0..<200).map { _ in UInt64.random(in: 0...UInt64.max, using: &rng) }
        for _ in 0..<60 {
            let shard = map.shards.randomElement(using: &rng)!
            let before = map.epoch
            let next: ShardMap?
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: next = try? map.splittingInHalf(shard.id)
            case 1: next = try? map.splitting(shard.id, at: UInt64.random(in: 0...UInt64.max, using: &rng))
            case 2: next = try? map.merging(shard.id)
            default: next = try? map.reassigning(shard.id, to: ["a", "b", "c", "d"].randomElement(using: &rng)!)
            }
            guard let next else { continue }
            #expect(next.epoch == before + 1)
            #expect(ShardMap.problem(next.shards) == nil)
            for key in keys {
                #expect(next.shards.filter { $0.contains(key) }.count == 1)
                #expect(next.shard(for: key).contains(key))
            }
            map = next
        }
    }
}

@Suite struct ShardBalanceTests {
    @Test func assignmentSpreadsLoadHeaviestFirst() {
        let owners = ShardBalance.assign([0: 10, 1: 9, 2: 1, 3: 1, 4: 1], to: ["a", "b"])
        var load = ["a": 0.0, "b": 0.0]
        for (shard, owner) in owners { load[owner]! += [10, 9, 1, 1, 1][Int(shard)] }
        #expect(load["a"] == 11 && load["b"] == 11)
        #expect(ShardBalance.assign([0: 1], to: []).isEmpty)
        #expect(ShardBalance.assign([0: .nan, 1: -3, 2: .infinity], to: ["a"]).count == 3)
    }

    @Test func rebalancingMovesTheCheapestReliefAndStops() throws {
        // a owns four shards (hot), b one, c none.
        let map = try ShardMap(workload: "kv", epoch: 4, shards: [
            .init(id: 0, lower: 0, upper: 99, owner: "a"), .init(id: 1, lower: 100, upper: 199, owner: "a"),
            .init(id: 2, lower: 200, upper: 299, owner: "a"), .init(id: 3, lower: 300, upper: 399, owner: "a"),
            .init(id: 4, lower: 400, upper: .max, owner: "b"),
        ])
        let loads: [UInt32: ShardBalance.Load] = [
            0: .init(rate: 100, bytes: 1 << 30), 1: .init(rate: 100, bytes: 1 << 20),
            2: .init(rate: 100, bytes: 1 << 20), 3: .init(rate: 100, bytes: 1 << 30), 4: .init(rate: 100, bytes: 1 << 20),
        ]
        let moves = ShardBalance.rebalance(map, loads: loads, instances: ["a", "b", "c"], maximumMoves: 10)
        #expect(moves.count == 2, "\(moves)")
        #expect(Set(moves.map(\.shard)) == [1, 2], "the small shards move, not the 1 GiB ones: \(moves)")
        #expect(moves.allSatisfy { $0.from == "a" && $0.to != "a" })
        #expect(ShardBalance.rebalance(map, loads: loads, instances: ["a", "b", "c"], maximumMoves: 1).count == 1)
        #expect(ShardBalance.rebalance(map, loads: loads, instances: ["a", "b", "c"], maximumMoves: 0).isEmpty)
        // Already balanced, or one hot shard no move can help: nothing.
        let balanced = try ShardMap.uniform(workload: "kv", count: 4, owners: ["a", "b"])
        #expect(ShardBalance.rebalance(balanced, loads: [0: .init(rate: 5, bytes: 1), 1: .init(rate: 5, bytes: 1), 2: .init(rate: 5, bytes: 1), 3: .init(rate: 5, bytes: 1)], instances: ["a", "b"], maximumMoves: 5).isEmpty)
        let single = try ShardMap.uniform(workload: "kv", count: 1, owners: ["a"])
        #expect(ShardBalance.rebalance(single, loads: [0: .init(rate: 1000, bytes: 1)], instances: ["a", "b"], maximumMoves: 5).isEmpty)
    }

    /// Seeded: moves never raise the hottest instance's load and never exceed the budget.
    @Test(arguments: 0..<30)
    func rebalancingNeverMakesTheHottestHotter(seed: UInt64) throws {
        var rng = Seeded(state: seed)
        let instances = (0..<Int.random(in: 1...5, using: &rng)).map { "i\($0)" }
        let map = try ShardMap.uniform(workload: "kv", count: Int.random(in: 1...40, using: &rng), owners: Array(instances.prefix(Int.random(in: 1...instances.count, using: &rng))))
        let loads = Dictionary(uniqueKeysWithValues: map.shards.map { ($0.id, ShardBalance.Load(rate: Double.random(in: 0...100, using: &rng), bytes: UInt64.random(in: 0...(1 << 30), using: &rng))) })
        func hottest(_ owner: [UInt32: String]) -> Double {
            var load: [String: Double] = [:]
            for (shard, o) in owner { load[o, default: 0] += loads[shard]!.rate }
            return load.values.max() ?? 0
        }
        var owner = Dictionary(uniqueKeysWithValues: map.shards.map { ($0.id, $0.owner) })
        let budget = Int.random(in: 0...6, using: &rng)
        let moves = ShardBalance.rebalance(map, loads: loads, instances: instances, maximumMoves: budget)
        #expect(moves.count <= budget)
        var previous = hottest(owner)
        for move in moves {
            #expect(owner[move.shard] == move.from)
            owner[move.shard] = move.to
            let now = hottest(owner)
            #expect(now <= previous + 1e-9)
            previous = now
        }
    }
}
