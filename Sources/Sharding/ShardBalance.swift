/// Which instance owns which shard, balanced by measured or forecast load (pure).
public enum ShardBalance {
    public struct Load: Hashable, Sendable {
        /// Requests per second (measured or forecast).
        public var rate: Double
        /// The shard's data: what a move copies.
        public var bytes: UInt64
        public init(rate: Double, bytes: UInt64) {
            self.rate = rate.isFinite && rate > 0 ? rate : 0
            self.bytes = bytes
        }
    }

    public struct Move: Hashable, Sendable, CustomStringConvertible {
        public var shard: UInt32
        public var from: String
        public var to: String
        public var bytes: UInt64
        public var description: String { "shard \(shard): \(from) → \(to) (\(bytes) B)" }
    }

    /// Initial owners for shards with these loads: heaviest first, each to the least-loaded
    /// instance (LPT); ties by shard id and instance order, so the result is deterministic.
    public static func assign(_ loads: [UInt32: Double], to instances: [String]) -> [UInt32: String] {
        guard !instances.isEmpty else { return [:] }
        var total = Dictionary(uniqueKeysWithValues: instances.enumerated().map { ($0.element, (load: 0.0, order: $0.offset)) })
        var owners: [UInt32: String] = [:]
        for (shard, load) in loads.sorted(by: { ($0.value, $1.key) > ($1.value, $0.key) }) {
            let coolest = total.min { ($0.value.load, $0.value.order) < ($1.value.load, $1.value.order) }!.key
            owners[shard] = coolest
            total[coolest]!.load += load.isFinite && load > 0 ? load : 0
        }
        return owners
    }

    /// Moves that bring the hottest instance within `tolerance` of the mean (or as close as
    /// single moves can), at most `maximumMoves`. Each move takes the shard off the hottest
    /// instance to the coolest that relieves the most load per byte copied, and only if it
    /// lowers the larger of the two (no ping-pong). Instances without shards take part.
    public static func rebalance(_ map: ShardMap, loads: [UInt32: Load], instances: [String], tolerance: Double = 0.1, maximumMoves: Int) -> [Move] {
        let everyone = instances.isEmpty ? map.owners : instances
        guard !everyone.isEmpty, maximumMoves > 0 else { return [] }
        var owner = Dictionary(uniqueKeysWithValues: map.shards.map { ($0.id, $0.owner) })
        var perInstance = Dictionary(uniqueKeysWithValues: everyone.map { ($0, 0.0) })
        for shard in map.shards { perInstance[shard.owner, default: 0] += loads[shard.id]?.rate ?? 0 }
        let mean = perInstance.values.reduce(0, +) / Double(perInstance.count)
        var moves: [Move] = []
        while moves.count < maximumMoves {
            let order = perInstance.sorted { ($0.value, $0.key) < ($1.value, $1.key) }
            guard let (hottest, hot) = order.last, let (coolest, cool) = order.first, hot > mean * (1 + tolerance), hottest != coolest else { break }
            var best: (score: Double, move: Move)?
            for shard in map.shards where owner[shard.id] == hottest {
                let load = loads[shard.id]?.rate ?? 0
                let after = max(hot - load, cool + load)
                guard load > 0, after < hot else { continue }
                let bytes = loads[shard.id]?.bytes ?? 0
                let score = (hot - after) / (Double(bytes) + 1)
                if best == nil || score > best!.score || (score == best!.score && shard.id < best!.move.shard) {
                    best = (score, Move(shard: shard.id, from: hottest, to: coolest, bytes: bytes))
                }
            }
            guard let chosen = best?.move else { break }
            let load = loads[chosen.shard]?.rate ?? 0
            perInstance[hottest]! -= load
            perInstance[coolest]! += load
            owner[chosen.shard] = coolest
            moves.append(chosen)
        }
        return moves
    }
}
