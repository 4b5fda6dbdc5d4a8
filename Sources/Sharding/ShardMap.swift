/// A sharded workload's map (pure): the 64-bit key-hash space cut into contiguous ranges, each a
/// shard owned by one instance, and an epoch that every change bumps (ARCHITECTURE.md,
/// "Sharding and migration").
///
/// Invariants, checked by ``ShardMap/init(workload:epoch:shards:)`` for maps read from the
/// store: the ranges are sorted, non-empty, do not overlap and cover `0...UInt64.max` with no
/// gap; shard ids are unique; every owner is a non-empty name.
public struct ShardMap: Hashable, Sendable, Codable {
    public struct Shard: Hashable, Sendable, Codable, CustomStringConvertible {
        public var id: UInt32
        /// The hashes this shard owns (inclusive).
        public var lower: UInt64
        public var upper: UInt64
        /// The owning instance.
        public var owner: String

        public init(id: UInt32, lower: UInt64, upper: UInt64, owner: String) {
            self.id = id
            self.lower = lower
            self.upper = upper
            self.owner = owner
        }

        public func contains(_ hash: UInt64) -> Bool { lower <= hash && hash <= upper }

        /// How many hashes it owns, as a fraction of the whole space.
        public var share: Double { (Double(upper - lower) + 1) / 18_446_744_073_709_551_616.0 }

        public var description: String { "shard \(id) [\(Self.hex(lower))–\(Self.hex(upper))] → \(owner)" }

        static func hex(_ v: UInt64) -> String { String(v, radix: 16) }
    }

    public var workload: String
    /// Bumped by every change; routers holding an older epoch forward.
    public private(set) var epoch: UInt64
    /// Sorted by `lower`.
    public private(set) var shards: [Shard]

    /// The most shards a workload may have.
    public static let maximumShards = 65_536

    /// A map read from the store or a peer: every invariant is checked.
    public init(workload: String, epoch: UInt64, shards: [Shard]) throws(ShardMapError) {
        let sorted = shards.sorted { $0.lower < $1.lower }
        if let problem = Self.problem(sorted) { throw ShardMapError(problem) }
        self.workload = workload
        self.epoch = epoch
        self.shards = sorted
    }

    /// `count` shards of (nearly) equal size, dealt to `owners` round robin, at epoch 1.
    public static func uniform(workload: String, count: Int, owners: [String]) throws(ShardMapError) -> ShardMap {
        guard (1...maximumShards).contains(count) else { throw ShardMapError("count: must be 1 to \(maximumShards), got \(count)") }
        guard !owners.isEmpty, owners.allSatisfy({ !$0.isEmpty }) else { throw ShardMapError("owners: at least one non-empty instance id is needed") }
        // Shard i starts at floor(i · 2^64 / count): the widths differ by at most one hash.
        let starts = (0..<count).map { i in UInt64(count).dividingFullWidth((high: UInt64(i), low: 0)).quotient }
        var shards: [Shard] = []
        for i in 0..<count {
            let upper = i + 1 < count ? starts[i + 1] - 1 : UInt64.max
            shards.append(Shard(id: UInt32(i), lower: starts[i], upper: upper, owner: owners[i % owners.count]))
        }
        return try ShardMap(workload: workload, epoch: 1, shards: shards)
    }

    /// What breaks an invariant, if anything (for `shards` sorted by `lower`).
    static func problem(_ shards: [Shard]) -> String? {
        guard !shards.isEmpty else { return "a map needs at least one shard" }
        guard shards.count <= maximumShards else { return "more than \(maximumShards) shards" }
        guard shards[0].lower == 0 else { return "hashes below \(Shard.hex(shards[0].lower)) have no shard" }
        guard shards[shards.count - 1].upper == .max else { return "hashes above \(Shard.hex(shards[shards.count - 1].upper)) have no shard" }
        var ids = Set<UInt32>()
        for (i, shard) in shards.enumerated() {
            guard shard.lower <= shard.upper else { return "shard \(shard.id): lower \(Shard.hex(shard.lower)) is above upper \(Shard.hex(shard.upper))" }
            guard !shard.owner.isEmpty, shard.owner.utf8.count <= 256 else { return "shard \(shard.id): the owner must be 1 to 256 bytes" }
            guard ids.insert(shard.id).inserted else { return "shard id \(shard.id) appears twice" }
            if i > 0 {
                let previous = shards[i - 1]
                if previous.upper >= shard.lower { return "shards \(previous.id) and \(shard.id) overlap" }
                if previous.upper &+ 1 != shard.lower { return "hashes between shards \(previous.id) and \(shard.id) have no shard" }
            }
        }
        return nil
    }

    /// The shard owning `hash` (binary search).
    public func shard(for hash: UInt64) -> Shard {
        var low = 0, high = shards.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if shards[mid].lower <= hash { low = mid } else { high = mid - 1 }
        }
        return shards[low]
    }

    /// The shard owning `key`.
    public func shard(forKey key: some Collection<UInt8>) -> Shard { shard(for: KeyHash.of(key)) }

    public func shard(id: UInt32) -> Shard? { shards.first { $0.id == id } }

    /// The instances owning shards, each once, in map order.
    public var owners: [String] {
        var seen = Set<String>()
        return shards.compactMap { seen.insert($0.owner).inserted ? $0.owner : nil }
    }

    // MARK: Changes (each returns the next epoch's map; self is unchanged)

    /// Splits shard `id` at `point`: the lower half keeps the id, the upper half `[point, upper]`
    /// gets a new id; both keep the owner.
    public func splitting(_ id: UInt32, at point: UInt64) throws(ShardMapError) -> ShardMap {
        guard let index = shards.firstIndex(where: { $0.id == id }) else { throw ShardMapError("shard: no shard \(id)") }
        let shard = shards[index]
        guard shard.lower < point, point <= shard.upper else {
            throw ShardMapError("at: \(Shard.hex(point)) is not inside shard \(id) above its first hash (\(Shard.hex(shard.lower)) < at ≤ \(Shard.hex(shard.upper)))")
        }
        guard shards.count < Self.maximumShards else { throw ShardMapError("a map has at most \(Self.maximumShards) shards") }
        var next = self
        let newID = (shards.map(\.id).max() ?? 0) &+ 1
        guard !shards.contains(where: { $0.id == newID }) else { throw ShardMapError("no shard id left") }
        next.shards[index].upper = point - 1
        next.shards.insert(Shard(id: newID, lower: point, upper: shard.upper, owner: shard.owner), at: index + 1)
        next.epoch = try nextEpoch()
        return next
    }

    /// Splits shard `id` in the middle of its range.
    public func splittingInHalf(_ id: UInt32) throws(ShardMapError) -> ShardMap {
        guard let shard = shard(id: id) else { throw ShardMapError("shard: no shard \(id)") }
        guard shard.lower < shard.upper else { throw ShardMapError("shard \(id) owns one hash: it cannot split") }
        return try splitting(id, at: shard.lower + (shard.upper - shard.lower) / 2 + 1)
    }

    /// Merges shard `id` with the shard right above it; both must have the same owner (move one
    /// first). The merged shard keeps `id`.
    public func merging(_ id: UInt32) throws(ShardMapError) -> ShardMap {
        guard let index = shards.firstIndex(where: { $0.id == id }) else { throw ShardMapError("shard: no shard \(id)") }
        guard index + 1 < shards.count else { throw ShardMapError("shard \(id) is the last one: no neighbour above to merge with") }
        let upper = shards[index + 1]
        guard upper.owner == shards[index].owner else {
            throw ShardMapError("shards \(id) and \(upper.id) have different owners (\(shards[index].owner), \(upper.owner)): move one first")
        }
        var next = self
        next.shards[index].upper = upper.upper
        next.shards.remove(at: index + 1)
        next.epoch = try nextEpoch()
        return next
    }

    /// Gives shard `id` to `owner` (a migration's commit).
    public func reassigning(_ id: UInt32, to owner: String) throws(ShardMapError) -> ShardMap {
        guard let index = shards.firstIndex(where: { $0.id == id }) else { throw ShardMapError("shard: no shard \(id)") }
        guard !owner.isEmpty, owner.utf8.count <= 256 else { throw ShardMapError("owner: must be 1 to 256 bytes") }
        var next = self
        next.shards[index].owner = owner
        next.epoch = try nextEpoch()
        return next
    }

    private func nextEpoch() throws(ShardMapError) -> UInt64 {
        guard epoch < .max else { throw ShardMapError("epoch: exhausted") }
        return epoch + 1
    }

    // Codable through the validating initializer: a stored map that breaks an invariant is an
    // error, never a map.
    enum CodingKeys: String, CodingKey { case workload, epoch, shards }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(workload: try c.decode(String.self, forKey: .workload), epoch: try c.decode(UInt64.self, forKey: .epoch), shards: try c.decode([Shard].self, forKey: .shards))
    }
}

/// Why a map or a change to it is refused.
public struct ShardMapError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Keys to the 64-bit hash space: FNV-1a, then SplitMix64's finalizer, so that keys differing in
/// their last byte spread over the whole space (contiguous ranges need uniform high bits).
public enum KeyHash {
    public static func of(_ key: some Collection<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key {
            hash ^= UInt64(b)
            hash = hash &* 0x100_0000_01b3
        }
        hash = (hash ^ (hash >> 30)) &* 0xbf58_476d_1ce4_e5b9
        hash = (hash ^ (hash >> 27)) &* 0x94d0_49bb_1331_11eb
        return hash ^ (hash >> 31)
    }

    public static func of(_ key: String) -> UInt64 { of(Array(key.utf8)) }
}
