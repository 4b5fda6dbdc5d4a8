/// A point on a monotonic clock, in nanoseconds since an arbitrary origin.
///
/// Pure modules never read a clock: shells pass `Instant`s in, tests pass hand-made ones.
public struct Instant: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var nanoseconds: UInt64
    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }
    public static let zero = Instant(nanoseconds: 0)

    public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    public static func + (lhs: Instant, rhs: Duration) -> Instant {
        Instant(nanoseconds: lhs.nanoseconds &+ UInt64(max(0, rhs.nanoseconds)))
    }

    /// The time from `earlier` to `self`; zero when `earlier` is later.
    public func since(_ earlier: Instant) -> Duration {
        self.nanoseconds >= earlier.nanoseconds ? .nanoseconds(Int64(self.nanoseconds - earlier.nanoseconds)) : .zero
    }

    public var description: String { "t+\(Double(nanoseconds) / 1e9)s" }
}

extension Duration {
    /// Whole nanoseconds, saturating at `Int64.max`.
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = self.components
        let (ns, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return ns.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }

    public var milliseconds: Int64 { self.nanoseconds / 1_000_000 }
}
