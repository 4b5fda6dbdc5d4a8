import BackplaneModel
import ClusterStore
import DirectCardLink
import DirectCardLinkNIO
import Foundation
import Logging
import NIOCore
import Sharding
import Synchronization

/// The BMC's shard maps (ARCHITECTURE.md, "Sharding and migration").
///
/// - Keeps one ``ShardMap`` per sharded workload in the store (`/shards/<tenant>/<name>`),
///   made when the workload first has replicas: `shards.count` equal ranges dealt to its
///   instances. Only this service writes maps, each with compare-and-swap.
/// - Routes: the BMC's DCL node resolves shard-routed requests with a table built from the maps
///   and where each owner instance runs; every card gets each workload's map (``sync``).
/// - Moves shards with the Migration Engine (``migrate(workload:shard:to:)``).
public final class ShardService: Sendable {
    struct State {
        /// The stored maps and their revisions, by workload key; nil until first read.
        var maps: [String: (map: ShardMap, revision: Int64)]?
        /// Bumped by every write of a map: a read that began before one is not cached.
        var writes: UInt64 = 0
        /// Where each running instance is.
        var placements: [String: CardID] = [:]
        /// What each card was last sent, by workload: the assignment's digest.
        var sent: [CardID: [String: Int]] = [:]
        /// Shards with a migration under way, by workload.
        var migrating: [String: Set<UInt32>] = [:]
        /// Requests per shard at the last stats read (for rates), and when.
        var lastStats: [String: (at: ContinuousClock.Instant, requests: [UInt32: UInt64])] = [:]
        /// Each card's link (lanes × rate, its declared network capacity), bits a second.
        var links: [CardID: Int64] = [:]
        /// What each card's link to the bus carried lately (the busier direction), bits a second.
        var linkUse: [CardID: Int64] = [:]
        /// Each shard's measured load and forecast, from the cards' reports.
        var load = ShardLoad()
        /// The link byte counts at the last sample, and when.
        var linkSample: (at: ContinuousClock.Instant, bytes: [CardID: (received: Int, sent: Int)])?
    }

    let registry: Registry
    let node: DCLNode
    let logger = Logger(label: "backplane.shards")
    /// Records a bus event (kind, message, tenant).
    let record: @Sendable (String, String, String?) -> Void
    let state = Mutex(State())
    /// How fast a migration copies a snapshot (bytes a second; nil: unpaced). A paced copy
    /// leaves the link and the cards' CPUs to interactive requests.
    let copyRate: UInt64?
    /// The source of ``ShardProtocol/Assignment/issued``: wall-clock nanoseconds at start, then +1
    /// per use, so it grows across BMC restarts.
    private let issuedCounter = Atomic<UInt64>(UInt64(max(0, Date().timeIntervalSince1970 * 1e9)))
    /// The cards linked now (clients and enrolling links are not cards).
    let linkedCards: @Sendable () -> Set<CardID>

    func issue() -> UInt64 { issuedCounter.add(1, ordering: .relaxed).newValue }

    init(registry: Registry, node: DCLNode, copyRate: UInt64?, linkedCards: @escaping @Sendable () -> Set<CardID>, record: @escaping @Sendable (String, String, String?) -> Void) {
        self.copyRate = copyRate
        self.linkedCards = linkedCards
        self.registry = registry
        self.node = node
        self.record = record
    }

    static func mapKey(_ workload: String) -> String { "/shards/\(workload)" }

    // MARK: Maps

    /// The stored maps and their revisions, by workload key.
    public func maps() async throws -> [String: (map: ShardMap, revision: Int64)] {
        let (cached, writes) = state.withLock { ($0.maps, $0.writes) }
        if let cached { return cached }
        let (kvs, _) = try await registry.store.range(prefix: "/shards/")
        var maps: [String: (map: ShardMap, revision: Int64)] = [:]
        for kv in kvs {
            do {
                let map = try JSONDecoder().decode(ShardMap.self, from: Data(kv.value))
                maps[map.workload] = (map, kv.modRevision)
            } catch {
                // A map that breaks an invariant is never used; the workload's requests fail
                // with noShardOwner until an admin deletes the workload.
                logger.error("unreadable shard map left aside", metadata: ["key": "\(kv.key)", "error": "\(error)"])
            }
        }
        state.withLock { if $0.maps == nil && $0.writes == writes { $0.maps = maps } }
        return state.withLock { $0.maps ?? maps }
    }

    /// Writes `map` if the stored one is still at `revision` (0: absent). False when it moved.
    func store(_ map: ShardMap, expecting revision: Int64) async throws -> Bool {
        let value = Array(try JSONEncoder().encode(map))
        let written: Int64?
        state.withLock { $0.writes &+= 1 }
        do {
            written = try await registry.store.compareAndSwap(Self.mapKey(map.workload), expecting: revision, value)
        } catch {
            state.withLock {
                $0.maps = nil  // unknown outcome: read again
                $0.writes &+= 1
            }
            throw error
        }
        guard let written else {
            state.withLock {
                $0.maps = nil  // read again
                $0.writes &+= 1
            }
            return false
        }
        // With the bump in the same lock: a read that began before the write either lands
        // before this (and is overwritten here) or is not cached.
        state.withLock {
            $0.maps?[map.workload] = (map, written)
            $0.writes &+= 1
        }
        return true
    }

    /// Makes maps for sharded workloads that have none, forgets those of deleted workloads,
    /// updates the BMC's routing table and sends every linked card the maps it has not seen.
    func sync(_ snapshot: Reconciler.Snapshot) async throws {
        var maps = try await maps()
        let sharded = Dictionary(snapshot.workloads.compactMap { w in w.shards.map { (w.key, (w, $0)) } }, uniquingKeysWith: { a, _ in a })
        for (key, (spec, shards)) in sharded where maps[key] == nil && spec.replicas > 0 {
            let owners = (0..<spec.replicas).map { InstanceRecord.id(tenant: spec.tenant, workload: spec.name, ordinal: $0) }
            // Epochs never go back, even for a deleted and re-created namesake whose old map
            // cards may still hold: a new map starts above the store's revision, which every
            // earlier epoch of it is below (each epoch was one store write).
            let uniform = try ShardMap.uniform(workload: key, count: shards.count, owners: owners)
            let map = try ShardMap(workload: key, epoch: UInt64(max(1, try await registry.store.revision() + 1)), shards: uniform.shards)
            if try await store(map, expecting: 0) {
                record("shards.created", "\(key): \(shards.count) shards over \(owners.count) instances (epoch \(map.epoch))", spec.tenant)
            }
        }
        for key in maps.keys where sharded[key] == nil {
            _ = try await registry.store.delete(Self.mapKey(key))
            state.withLock { _ = $0.maps?.removeValue(forKey: key) }
        }
        maps = try await self.maps()
        var placements: [String: CardID] = [:]
        for r in snapshot.instances where r.instance.state == .running {
            if let card = r.instance.card { placements[r.instance.id] = card }
        }
        let links = Dictionary(snapshot.cards.map { ($0.id, $0.capacity.networkBitsPerSecond) }, uniquingKeysWith: { a, _ in a })
        sampleLinks(links)
        state.withLock { $0.placements = placements }
        refreshTable()
        push(to: linkedCards())
    }

    /// Records the cards' links and how much each carried since the last sample (at least half
    /// a second apart; a link that opened again meanwhile starts over).
    func sampleLinks(_ links: [CardID: Int64], now: ContinuousClock.Instant = .now) {
        let bytes = node.linkBytes
        state.withLock { s in
            s.links = links
            guard let last = s.linkSample else {
                s.linkSample = (now, bytes)
                return
            }
            let elapsed = now - last.at
            guard elapsed >= .milliseconds(500) else { return }
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            var use: [CardID: Int64] = [:]
            for (card, now) in bytes {
                let before = last.bytes[card] ?? (0, 0)
                let received = now.received >= before.received ? now.received - before.received : now.received
                let sent = now.sent >= before.sent ? now.sent - before.sent : now.sent
                use[card] = Int64(min(9e15, max(0, (Double(max(received, sent)) * 8 / seconds).rounded(.down))))
            }
            s.linkUse = use
            s.linkSample = (now, bytes)
        }
    }

    /// A card's report of its shards' counts (``ShardProtocol/telemetry``), at wall-clock `time`.
    func ingest(_ stats: ShardProtocol.Stats, from card: CardID, at time: Double) {
        state.withLock { s in
            // Only what the card may speak for: shards of instances the BMC placed on it.
            let placements = s.placements
            let own = ShardProtocol.Stats(shards: stats.shards.filter { placements[$0.instance] == card })
            s.load.ingest(own, from: card, at: time)
            if let maps = s.maps, s.load.series.count > maps.values.reduce(0, { $0 + $1.map.shards.count }) {
                // Shards that no longer exist (merged away, workload deleted).
                s.load.keep(only: Set(maps.values.flatMap { m in m.map.shards.map { ShardLoad.Key(workload: m.map.workload, shard: $0.id) } }))
            }
        }
    }

    /// A card linked (again): it is sent every map anew.
    func cardLinked(_ card: CardID) {
        state.withLock { _ = $0.sent.removeValue(forKey: card) }
    }

    /// The routing view of one workload's map now.
    func assignment(_ key: String, _ s: State) -> ShardProtocol.Assignment? {
        guard let map = s.maps?[key]?.map else { return nil }
        let ranges = map.shards.map { ShardProtocol.Range(shard: $0.id, lower: $0.lower, upper: $0.upper, owner: $0.owner, card: s.placements[$0.owner]) }
        return ShardProtocol.Assignment(workload: key, epoch: map.epoch, ranges: ranges, migrating: (s.migrating[key] ?? []).sorted())
    }

    /// Rebuilds the BMC's shard table from the maps and placements (under the lock, so a table
    /// built from an older map never replaces a newer one).
    func refreshTable() {
        state.withLock { s in
            var table = ShardTable()
            for key in (s.maps ?? [:]).keys {
                guard let a = assignment(key, s), let entry = ShardTable.Entry(epoch: a.epoch, ranges: a.ranges.map { ($0.lower, $0.shard, $0.card ?? .unassigned) }) else { continue }
                table.workloads[key] = entry
            }
            node.setShardTable(table)
        }
    }

    /// Sends each linked card the assignments it has not seen (in the background; a card that
    /// did not get one is sent it again on the next sync).
    func push(to cards: Set<CardID>, only workload: String? = nil) {
        let work = state.withLock { s -> [(CardID, ShardProtocol.Assignment, Int)] in
            s.sent = s.sent.filter { cards.contains($0.key) }
            var work: [(CardID, ShardProtocol.Assignment, Int)] = []
            for key in (s.maps ?? [:]).keys where workload == nil || workload == key {
                guard let a = assignment(key, s) else { continue }
                let digest = a.hashValue
                for card in cards where s.sent[card]?[key] != digest {
                    s.sent[card, default: [:]][key] = digest
                    // Issued under the lock: a migration step issued later sees this shard
                    // in `migrating` in every assignment issued after it.
                    var issued = a
                    issued.issued = issue()
                    work.append((card, issued, digest))
                }
            }
            return work
        }
        for (card, a, digest) in work {
            Task { [self] in  // one command per card and map, answered quickly
                do {
                    try await send(a, to: card)
                } catch {
                    state.withLock { s in if s.sent[card]?[a.workload] == digest { s.sent[card]?[a.workload] = nil } }
                }
            }
        }
    }

    func send(_ a: ShardProtocol.Assignment, to card: CardID) async throws {
        _ = try await node.command(to: card, name: ShardProtocol.map, body: ByteBuffer(bytes: try JSONEncoder().encode(a)), timeout: .seconds(5))
    }

    // MARK: Reading

    /// One shard as `backplane shards` shows it.
    public struct ShardRow: Codable, Hashable, Sendable {
        public var id: UInt32
        public var lower: String
        public var upper: String
        /// The fraction of the key space.
        public var share: Double
        public var owner: String
        public var card: CardID?
        public var requests: UInt64?
        public var requestsPerSecond: Double?
        public var bytes: UInt64?
        public var migrating: Bool
        /// Over the workload's `shards.max_shard_bytes`: due for a split.
        public var overLimit: Bool
        /// The highest request rate expected over the next 5 minutes (p99), from the cards'
        /// reports every 10 s; nil until three rates were measured.
        public var forecastRequestsPerSecond: Double?
        /// The largest size expected over the next 5 minutes (p99).
        public var forecastBytes: Double?
    }

    public struct ShardsView: Codable, Hashable, Sendable {
        public var workload: String
        public var epoch: UInt64
        public var shards: [ShardRow]
    }

    /// The map of `workload` with each shard's requests and bytes from the cards (nil for a
    /// card that did not answer).
    public func view(_ workload: String, limit: Int64?) async throws -> ShardsView? {
        guard let map = try await maps()[workload]?.map else { return nil }
        let (placements, migrating) = state.withLock { ($0.placements, $0.migrating[workload] ?? []) }
        var stats: [UInt32: ShardProtocol.ShardStats] = [:]
        let cards = Set(map.shards.compactMap { placements[$0.owner] })
        await withTaskGroup(of: ShardProtocol.Stats?.self) { group in
            for card in cards {
                group.addTask { [node] in
                    guard let reply = try? await node.command(to: card, name: ShardProtocol.stats, timeout: .seconds(3)) else { return nil }
                    return try? JSONDecoder().decode(ShardProtocol.Stats.self, from: Data(reply.readableBytesView))
                }
            }
            for await answer in group {
                for s in answer?.shards ?? [] where s.workload == workload { stats[s.shard] = s }
            }
        }
        let now = ContinuousClock.now
        let previous = state.withLock { s in
            defer { s.lastStats[workload] = (now, stats.mapValues(\.requests)) }
            return s.lastStats[workload]
        }
        let load = state.withLock { $0.load }
        let rows = map.shards.map { shard -> ShardRow in
            let forecast = load.forecast(ShardLoad.Key(workload: workload, shard: shard.id))
            let s = stats[shard.id].flatMap { $0.instance == shard.owner ? $0 : nil }
            var rate: Double?
            if let s, let previous, let before = previous.requests[shard.id], s.requests >= before {
                let seconds = Double((now - previous.at).components.seconds) + Double((now - previous.at).components.attoseconds) / 1e18
                if seconds > 0.05 { rate = Double(s.requests - before) / seconds }
            }
            // Without a previous read, the rate the cards' reports measured.
            if rate == nil { rate = load.series[ShardLoad.Key(workload: workload, shard: shard.id)]?.requestsPerSecond }
            return ShardRow(id: shard.id, lower: String(format: "%016llx", shard.lower), upper: String(format: "%016llx", shard.upper), share: shard.share,
                            owner: shard.owner, card: placements[shard.owner], requests: s?.requests, requestsPerSecond: rate, bytes: s?.bytes ?? nil,
                            migrating: migrating.contains(shard.id), overLimit: limit.map { Int64(clamping: (s?.bytes ?? nil) ?? 0) > $0 } ?? false,
                            forecastRequestsPerSecond: forecast?.requestsPerSecond, forecastBytes: forecast?.bytes)
        }
        return ShardsView(workload: workload, epoch: map.epoch, shards: rows)
    }
}
