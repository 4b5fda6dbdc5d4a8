import BackplaneModel

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

/// A shard map held in memory: per workload, an epoch and the owner of each shard; a key goes
/// to shard `jumpHash(fnv1a(key), shards)`. The `Sharding` module brings richer maps later.
public struct ShardTable: ShardResolver, Hashable {
    public struct Entry: Sendable, Hashable {
        public var epoch: UInt64
        public var owners: [CardID]
        public init(epoch: UInt64, owners: [CardID]) {
            self.epoch = epoch
            self.owners = owners
        }
    }

    public var workloads: [String: Entry]
    public init(workloads: [String: Entry] = [:]) { self.workloads = workloads }

    public func owner(workload: String, key: some Collection<UInt8>) -> (card: CardID, epoch: UInt64)? {
        guard let entry = workloads[workload], !entry.owners.isEmpty else { return nil }
        let shard = Self.jumpHash(Self.fnv1a(key), buckets: entry.owners.count)
        return (entry.owners[shard], entry.epoch)
    }

    /// 64-bit FNV-1a.
    public static func fnv1a(_ bytes: some Collection<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            hash ^= UInt64(b)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }

    /// Lamping & Veach's jump consistent hash.
    public static func jumpHash(_ key: UInt64, buckets: Int) -> Int {
        var key = key
        var b: Int64 = -1
        var j: Int64 = 0
        while j < buckets {
            b = j
            key = key &* 2_862_933_555_777_941_757 &+ 1
            j = Int64(Double(b + 1) * (Double(Int64(1) << 31) / Double((key >> 33) + 1)))
        }
        return Int(b)
    }
}
