/// The commands between the BMC's Migration Engine and a card's shard host (DCL `command`
/// messages with JSON bodies, control traffic), and the shard-routed request clients send.
/// The steps are in docs/sharding.md; ARCHITECTURE.md, "Sharding and migration", has the design.
public enum ShardProtocol {
    /// The endpoint of every shard-routed request (`DCLNode.request(workload:shardKey:…)`): the
    /// body is the app's own request, the reply its answer.
    public static let request = "shard.request"

    /// BMC → card: a workload's map at an epoch (``Assignment``); reply empty. Cards keep the
    /// newest epoch per workload and ignore older ones.
    public static let map = "shard.map"
    /// BMC → target card: ``Step``; the target's app prepares an empty shard.
    public static let prepare = "shard.prepare"
    /// BMC → source card: ``Step`` (with `peer` the target card); reply ``Snapshot``: the app's
    /// snapshot in a memory region only the target may read.
    public static let snapshot = "shard.snapshot"
    /// BMC → target card: ``Pull``; the target reads the region one-sided (bulk class) and
    /// restores it; reply ``Progress``.
    public static let pull = "shard.pull"
    /// BMC → target card: ``Step`` with `since`; the target fetches the source's changes after
    /// `since` (``changes``) and applies them; reply ``Progress``.
    public static let catchUp = "shard.catchup"
    /// Target card → source card: ``Step`` with `since`; reply: sequence (8 bytes) + changes.
    public static let changes = "shard.changes"
    /// BMC → source card: ``Step``; the source holds new requests for the shard, waits for the
    /// ones in its app to finish, and replies ``Progress`` with its last change.
    public static let fence = "shard.fence"
    /// BMC → source card: ``Step`` with `peer` the new owner's card and `epoch` the committed
    /// one; held and later requests go to the new owner.
    public static let commit = "shard.commit"
    /// BMC → source and target cards: ``Step``; before the commit, everything is undone.
    public static let abort = "shard.abort"
    /// BMC → source card: ``Step``; the source's app drops its copy.
    public static let drop = "shard.drop"
    /// BMC → card: empty body; reply ``Stats``.
    public static let stats = "shard.stats"
    /// Card → BMC, one-way on the telemetry class, every 10 s while the card owns shards:
    /// ``Stats`` (each shard's cumulative requests and bytes; the BMC makes rates and forecasts).
    public static let telemetry = "telemetry.shards"

    /// One range of a map, with the card its owner runs on (nil while it is not placed).
    public struct Range: Codable, Hashable, Sendable {
        public var shard: UInt32
        public var lower: UInt64
        public var upper: UInt64
        public var owner: String
        public var card: CardID?
        public init(shard: UInt32, lower: UInt64, upper: UInt64, owner: String, card: CardID?) {
            self.shard = shard
            self.lower = lower
            self.upper = upper
            self.owner = owner
            self.card = card
        }
    }

    public struct Assignment: Codable, Hashable, Sendable {
        /// `<tenant>/<name>`.
        public var workload: String
        public var epoch: UInt64
        public var ranges: [Range]
        /// Shards with a migration under way: their fences and incoming copies stand. A card
        /// lifts any other fence and drops any other copy it does not own (what an interrupted
        /// migration left behind, e.g. after a BMC restart).
        public var migrating: [UInt32]
        /// When the BMC made this assignment (a number that only grows, across BMC restarts
        /// too): a fence or a copy is cleaned up only by an assignment issued after its step.
        public var issued: UInt64 = 0
        public init(workload: String, epoch: UInt64, ranges: [Range], migrating: [UInt32] = []) {
            self.workload = workload
            self.epoch = epoch
            self.ranges = ranges
            self.migrating = migrating
        }
    }

    /// Names one shard of one workload in a migration step.
    public struct Step: Codable, Hashable, Sendable {
        public var workload: String
        public var shard: UInt32
        /// The instance acting on this card (the source or the target).
        public var instance: String
        /// The other card of the migration, and the instance there.
        public var peer: CardID?
        public var peerInstance: String?
        public var since: UInt64?
        public var epoch: UInt64?
        /// When the BMC sent the step (see ``Assignment/issued``).
        public var issued: UInt64?
        /// The shard's range when the migration started (it cannot change while the shard
        /// moves); the app's calls name it. Absent: the card's map's.
        public var lower: UInt64?
        public var upper: UInt64?
        public init(workload: String, shard: UInt32, instance: String, peer: CardID? = nil, peerInstance: String? = nil, since: UInt64? = nil, epoch: UInt64? = nil) {
            self.workload = workload
            self.shard = shard
            self.instance = instance
            self.peer = peer
            self.peerInstance = peerInstance
            self.since = since
            self.epoch = epoch
        }
    }

    public struct Snapshot: Codable, Hashable, Sendable {
        public var region: UInt32
        public var key: UInt64
        public var length: UInt64
        /// The snapshot holds the source's changes up to here.
        public var sequence: UInt64
        public init(region: UInt32, key: UInt64, length: UInt64, sequence: UInt64) {
            self.region = region
            self.key = key
            self.length = length
            self.sequence = sequence
        }
    }

    public struct Pull: Codable, Hashable, Sendable {
        public var step: Step
        public var snapshot: Snapshot
        /// At most this many bytes a second (nil: as fast as the link allows), so a copy leaves
        /// the link and the cards' CPUs to interactive requests.
        public var bytesPerSecond: UInt64?
        public init(step: Step, snapshot: Snapshot, bytesPerSecond: UInt64? = nil) {
            self.step = step
            self.snapshot = snapshot
            self.bytesPerSecond = bytesPerSecond
        }
    }

    public struct Progress: Codable, Hashable, Sendable {
        /// Applied (target) or last change (source).
        public var sequence: UInt64
        /// For a catch-up: the source's last change when it answered.
        public var sourceSequence: UInt64?
        public var bytes: UInt64
        public init(sequence: UInt64, sourceSequence: UInt64? = nil, bytes: UInt64 = 0) {
            self.sequence = sequence
            self.sourceSequence = sourceSequence
            self.bytes = bytes
        }
    }

    public struct ShardStats: Codable, Hashable, Sendable {
        public var workload: String
        public var shard: UInt32
        public var instance: String
        /// Requests served since the shard host started.
        public var requests: UInt64
        /// The shard's data, as its app reports it (nil: the app did not answer in time).
        public var bytes: UInt64?
        public init(workload: String, shard: UInt32, instance: String, requests: UInt64, bytes: UInt64?) {
            self.workload = workload
            self.shard = shard
            self.instance = instance
            self.requests = requests
            self.bytes = bytes
        }
    }

    public struct Stats: Codable, Hashable, Sendable {
        public var shards: [ShardStats]
        public init(shards: [ShardStats]) { self.shards = shards }
    }
}
