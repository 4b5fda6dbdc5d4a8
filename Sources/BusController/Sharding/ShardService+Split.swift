import BackplaneModel
import Foundation
import Sharding

/// Splitting and merging shards: a change of ranges in the map, nothing else. Apps keep their
/// data by key hash (the shard SDK's contract), and both halves of a split (both neighbours of
/// a merge) belong to the same instance, so no data moves and no request waits: the owner's card
/// gets the new map before the BMC routes by it, and a card that routes with the older map
/// reaches the same instance, which serves the key from the same data.
extension ShardService {
    /// What a split or a merge did.
    public struct RangeChange: Codable, Hashable, Sendable {
        public var workload: String
        /// `split` or `merge`.
        public var kind: String
        /// The shard that was split (it keeps the lower part), or that took in its neighbour.
        public var shard: UInt32
        /// The split's new shard (the upper part), or the merged-away neighbour.
        public var other: UInt32
        public var owner: String
        /// The map's epoch after the change.
        public var epoch: UInt64
        /// The ranges after the change (one for a merge, two for a split), lower and upper in hex.
        public var shards: [ShardRow]
    }

    /// Splits shard `shard` of `workload` at hash `point` (nil: the middle of its range). The
    /// lower part keeps the id; the upper part gets the highest id + 1; both stay with the
    /// owner (move one afterwards with ``migrate(workload:shard:toCard:toInstance:)``).
    public func split(workload: String, shard: UInt32, at point: UInt64? = nil) async throws -> RangeChange {
        guard let map = try await maps()[workload]?.map else { throw MigrationRefused(message: "\(workload) is not a sharded workload (or has no replicas yet)") }
        guard let current = map.shard(id: shard) else {
            throw MigrationRefused(message: "shard: \(workload) has no shard \(shard) (its shards: \(map.shards.map { String($0.id) }.joined(separator: ", ")))")
        }
        if let point {
            guard current.lower < point, point <= current.upper else {
                throw MigrationRefused(message: "at: \(String(format: "%016llx", point)) is not inside shard \(shard) above its first hash (\(String(format: "%016llx", current.lower)) < at ≤ \(String(format: "%016llx", current.upper)))")
            }
        } else if current.lower == current.upper {
            throw MigrationRefused(message: "shard \(shard) owns one hash: it cannot split")
        }
        return try await change(workload, kind: "split", shards: [shard], expecting: current) { map throws(ShardMapError) in
            if let point { return try map.splitting(shard, at: point) }
            return try map.splittingInHalf(shard)
        }
    }

    /// Merges shard `shard` of `workload` with the shard right above it in the hash space, which
    /// must have the same owner (move one first). The merged shard keeps `shard`'s id.
    public func merge(workload: String, shard: UInt32) async throws -> RangeChange {
        guard let map = try await maps()[workload]?.map else { throw MigrationRefused(message: "\(workload) is not a sharded workload (or has no replicas yet)") }
        guard let index = map.shards.firstIndex(where: { $0.id == shard }) else {
            throw MigrationRefused(message: "shard: \(workload) has no shard \(shard) (its shards: \(map.shards.map { String($0.id) }.joined(separator: ", ")))")
        }
        guard index + 1 < map.shards.count else { throw MigrationRefused(message: "shard \(shard) holds the top of the hash space: there is no neighbour above it to merge with") }
        let (current, upper) = (map.shards[index], map.shards[index + 1])
        guard current.owner == upper.owner else {
            throw MigrationRefused(message: "shards \(shard) and \(upper.id) have different owners (\(current.owner), \(upper.owner)): move one to the other's instance first (backplane migrate --shard \(upper.id) --instance \(current.owner))")
        }
        return try await change(workload, kind: "merge", shards: [shard, upper.id], expecting: current) { map throws(ShardMapError) in
            // The neighbour must still be the same shard with the same owner.
            guard let i = map.shards.firstIndex(where: { $0.id == shard }), i + 1 < map.shards.count, map.shards[i + 1] == upper else {
                throw ShardMapError("shard \(upper.id) changed while the merge was being written; ask again")
            }
            return try map.merging(shard)
        }
    }

    /// Writes a change of ranges while `shards` are kept from moving, then sends the new map.
    private func change(_ workload: String, kind: String, shards: [UInt32], expecting: ShardMap.Shard, _ make: (ShardMap) throws(ShardMapError) -> ShardMap) async throws -> RangeChange {
        let started = state.withLock { s -> Bool in
            let moving = s.migrating[workload] ?? []
            guard shards.allSatisfy({ !moving.contains($0) }) else { return false }
            s.migrating[workload, default: []].formUnion(shards)
            return true
        }
        guard started else { throw MigrationRefused(message: "shard \(shards.map(String.init).joined(separator: " or ")) of \(workload) is moving; \(kind) it once the migration ends") }
        defer {
            state.withLock { s in
                s.migrating[workload]?.subtract(shards)
                if s.migrating[workload]?.isEmpty == true { s.migrating[workload] = nil }
            }
        }
        let written: ShardMap?
        do {
            written = try await commitMap(workload, expecting: expecting, make)
        } catch let error as ShardMapError {
            throw MigrationRefused(message: error.message)
        }
        guard let next = written else { throw MigrationRefused(message: "shard \(expecting.id) of \(workload) changed while the \(kind) was being written; ask again") }
        // The owner's card learns first, then the BMC routes by the new map: requests reach the
        // owner with an epoch it knows (one it does not know would wait there for the map).
        let placements = state.withLock { $0.placements }
        if let card = placements[expecting.owner], let a = issuedAssignment(workload) { try? await send(a, to: card) }
        refreshTable()
        push(to: linkedCards(), only: workload)
        let tenant = workload.split(separator: "/").first.map(String.init)
        let changed: [ShardMap.Shard]
        let other: UInt32
        if kind == "split" {
            let index = next.shards.firstIndex { $0.id == expecting.id }!
            changed = [next.shards[index], next.shards[index + 1]]
            other = next.shards[index + 1].id
        } else {
            changed = next.shards.filter { $0.id == expecting.id }
            other = shards[1]
        }
        let rows = changed.map { s in
            ShardRow(id: s.id, lower: String(format: "%016llx", s.lower), upper: String(format: "%016llx", s.upper), share: s.share, owner: s.owner, card: placements[s.owner],
                     requests: nil, requestsPerSecond: nil, bytes: nil, migrating: false, overLimit: false, forecastRequestsPerSecond: nil, forecastBytes: nil)
        }
        let what = kind == "split"
            ? "\(workload) shard \(expecting.id) split at \(rows[1].lower): shards \(expecting.id) and \(other) on \(expecting.owner), epoch \(next.epoch)"
            : "\(workload) shards \(expecting.id) and \(other) merged into \(expecting.id) on \(expecting.owner), epoch \(next.epoch)"
        record("shard.\(kind)", what, tenant)
        return RangeChange(workload: workload, kind: kind, shard: expecting.id, other: other, owner: expecting.owner, epoch: next.epoch, shards: rows)
    }
}
