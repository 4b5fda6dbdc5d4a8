import BackplaneModel
import Sharding

/// Where to send a frame addressed to a card this end has no direct link to.
/// The BMC distributes these entries; they can change at any time.
public struct RoutingTable: Sendable, Hashable {
    private var nextHops: [CardID: CardID] = [:]
    /// Where frames for unknown cards go (typically the BMC); nil drops them with `noRoute`.
    public var defaultRoute: CardID?

    public init(defaultRoute: CardID? = nil) { self.defaultRoute = defaultRoute }

    /// Frames for `destination` go to `neighbour`.
    public mutating func setRoute(to destination: CardID, via neighbour: CardID) {
        nextHops[destination] = neighbour
    }

    public mutating func removeRoute(to destination: CardID) {
        nextHops.removeValue(forKey: destination)
    }

    /// The neighbour to hand a frame for `destination` to.
    public func nextHop(for destination: CardID) -> CardID? {
        nextHops[destination] ?? defaultRoute
    }

    public var routes: [CardID: CardID] { nextHops }
}

/// Resolves the card that owns a shard key of a workload.
public protocol ShardResolver: Sendable {
    /// The owning card and the epoch of the map used, or nil when the workload is unknown.
    func owner(workload: String, key: some Collection<UInt8>) -> (card: CardID, epoch: UInt64)?
}

/// The routing view of shard maps (ARCHITECTURE.md, "Sharding and migration"): per workload, an
/// epoch and contiguous ranges of the 64-bit key-hash space (``KeyHash``), each with its shard id
/// and the card its owning instance runs on. Built from `Sharding.ShardMap` by the BMC.
public struct ShardTable: ShardResolver, Hashable {
    public struct Entry: Sendable, Hashable {
        public var epoch: UInt64
        /// The first hash of each range, ascending, starting at 0.
        public private(set) var lowers: [UInt64]
        public private(set) var shards: [UInt32]
        /// The card of each range's owner (`.unassigned` while the owner is not placed).
        public private(set) var owners: [CardID]

        /// `ranges`: (first hash, shard id, owner card), in any order; the first hashes must be
        /// distinct and one of them 0 (so every hash has a range). Nil when they are not.
        public init?(epoch: UInt64, ranges: [(lower: UInt64, shard: UInt32, owner: CardID)]) {
            let sorted = ranges.sorted { $0.lower < $1.lower }
            guard sorted.first?.lower == 0, zip(sorted, sorted.dropFirst()).allSatisfy({ $0.lower < $1.lower }) else { return nil }
            self.epoch = epoch
            lowers = sorted.map(\.lower)
            shards = sorted.map(\.shard)
            owners = sorted.map(\.owner)
        }

        /// The range holding `hash`.
        public func index(of hash: UInt64) -> Int {
            var low = 0, high = lowers.count  // the answer is the last lower <= hash
            while high - low > 1 {
                let mid = (low + high) / 2
                if lowers[mid] <= hash { low = mid } else { high = mid }
            }
            return low
        }
    }

    public var workloads: [String: Entry]
    public init(workloads: [String: Entry] = [:]) { self.workloads = workloads }

    public func owner(workload: String, key: some Collection<UInt8>) -> (card: CardID, epoch: UInt64)? {
        guard let found = shard(workload: workload, key: key), found.card != .unassigned else { return nil }
        return (found.card, found.epoch)
    }

    /// The shard a key of `workload` belongs to, its owner's card and the epoch.
    public func shard(workload: String, key: some Collection<UInt8>) -> (shard: UInt32, card: CardID, epoch: UInt64)? {
        guard let entry = workloads[workload] else { return nil }
        let i = entry.index(of: KeyHash.of(key))
        return (entry.shards[i], entry.owners[i], entry.epoch)
    }
}
