/// Where a shard moves when the operator does not say (pure; ARCHITECTURE.md, "Sharding and
/// migration").
///
/// Balance first, then the fastest copy: among the instances within one shard of the fewest
/// shards, the one whose copy would end soonest. A copy's time is the shard's bytes over the
/// bandwidth the source's and the target's links have left (a card's link is lanes × rate, as
/// the bus's HyperLink; what it carries now is taken off, but a copy always gets
/// ``minimumShare`` of a link, as the bulk class does under DCL's weighted scheduling). A card's
/// frames to itself also go through the bus (its default route is the BMC), so a target on the
/// source's card gets no discount.
public enum TargetChoice {
    public struct Link: Hashable, Sendable {
        /// The card's link: lanes × rate, bits a second (0: not known, ``assumedBitsPerSecond``).
        public var bitsPerSecond: Int64
        /// What the link carries now (the busier direction), bits a second.
        public var useBitsPerSecond: Int64
        public init(bitsPerSecond: Int64, useBitsPerSecond: Int64) {
            self.bitsPerSecond = bitsPerSecond
            self.useBitsPerSecond = useBitsPerSecond
        }

        /// What a copy can use of it now, bits a second.
        public var available: Double {
            let link = Double(bitsPerSecond > 0 ? bitsPerSecond : TargetChoice.assumedBitsPerSecond)
            return max(link * TargetChoice.minimumShare, link - Double(max(0, useBitsPerSecond)))
        }
    }

    public struct Candidate: Hashable, Sendable {
        public var instance: String
        /// The card it runs on (any stable name).
        public var card: String
        public var link: Link
        /// Shards it owns now.
        public var shards: Int
        public init(instance: String, card: String, link: Link, shards: Int) {
            self.instance = instance
            self.card = card
            self.link = link
            self.shards = shards
        }
    }

    public struct Choice: Hashable, Sendable {
        public var instance: String
        public var card: String
        /// Bytes that cross the bus.
        public var networkBytes: UInt64
        /// The copy's time at the bandwidth left now.
        public var seconds: Double
        /// One line saying why, with the numbers.
        public var reason: String
    }

    /// A link whose rate the card did not declare.
    public static let assumedBitsPerSecond: Int64 = 10_000_000_000
    /// The share of a link a copy gets however busy the link is.
    public static let minimumShare = 0.1

    /// The copy's time from `source` to `target` for `bytes`.
    public static func seconds(bytes: UInt64, from source: (card: String, link: Link), to target: Candidate) -> Double {
        guard bytes > 0 else { return 0 }
        return Double(bytes) * 8 / min(source.link.available, target.link.available)
    }

    /// The target for a shard of `bytes` owned on `source`, or nil when there is no candidate.
    /// `candidates` must not include the owner.
    public static func choose(bytes: UInt64, source: (card: String, link: Link), candidates: [Candidate]) -> Choice? {
        guard let fewest = candidates.map(\.shards).min() else { return nil }
        let balanced = candidates.filter { $0.shards <= fewest + 1 }
        let best = balanced.min { a, b in
            let (x, y) = (seconds(bytes: bytes, from: source, to: a), seconds(bytes: bytes, from: source, to: b))
            return (x, a.shards, a.instance) < (y, b.shards, b.instance)
        }!
        let time = seconds(bytes: bytes, from: source, to: best)
        // The narrower of the two links bounds the copy: name that one.
        let bound = source.link.available < best.link.available ? ("the source's", source.link) : ("its", best.link)
        let capacity = Double(bound.1.bitsPerSecond > 0 ? bound.1.bitsPerSecond : assumedBitsPerSecond)
        let how = "\(bytes) bytes at \(format(bound.1.available)) left of \(bound.0) link (\(format(capacity))): \(decimals(time, 3)) s"
        let reason = "\(best.instance) on \(best.card): \(best.shards) shards (fewest \(fewest), within one of it), \(how)"
        return Choice(instance: best.instance, card: best.card, networkBytes: bytes, seconds: time, reason: reason)
    }

    static func format(_ bitsPerSecond: Double) -> String {
        bitsPerSecond >= 1e9 ? "\(decimals(bitsPerSecond / 1e9, 1)) Gbit/s" : "\(decimals(bitsPerSecond / 1e6, 0)) Mbit/s"
    }

    /// `value` with `places` decimals (no Foundation in this module).
    static func decimals(_ value: Double, _ places: Int) -> String {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = (value * scale).rounded()
        guard scaled.isFinite, abs(scaled) < 9e15 else { return "\(value)" }
        let n = Int64(scaled)
        guard places > 0 else { return "\(n)" }
        let whole = n / Int64(scale), fraction = abs(n % Int64(scale))
        let digits = String(fraction)
        return "\(n < 0 && whole == 0 ? "-" : "")\(whole).\(String(repeating: "0", count: places - digits.count))\(digits)"
    }
}
