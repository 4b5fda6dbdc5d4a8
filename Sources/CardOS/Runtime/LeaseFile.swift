import Foundation

/// The card's lease as its shims see it: one file holding a `CLOCK_MONOTONIC` deadline in
/// nanoseconds. The card agent renews it from the BMC's heartbeat grants (measured from when it
/// sent the heartbeat); every `backplane-shim` reads it every 50 ms and fences its container once
/// the deadline has passed. A missing or unreadable file means no lease.
public struct LeaseFile: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    /// Nanoseconds on `CLOCK_MONOTONIC` (shared by every process on the host).
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// The current deadline (0 when there is none).
    public func deadline() -> UInt64 {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return 0 }
        return UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    public func isValid(at now: UInt64 = LeaseFile.now()) -> Bool { deadline() > now }

    /// Extends the lease to `deadline` (never shortens it). Written atomically (rename).
    public func renew(until deadline: UInt64) throws {
        guard deadline > self.deadline() else { return }
        try write(deadline)
    }

    /// Ends the lease now: every shim fences its container within 50 ms.
    public func revoke() throws { try write(0) }

    private func write(_ deadline: UInt64) throws {
        let tmp = path + ".tmp"
        try Data("\(deadline)\n".utf8).write(to: URL(fileURLWithPath: tmp))
        guard rename(tmp, path) == 0 else { throw RuntimeError("cannot write the lease file \(path): \(String(cString: strerror(errno)))") }
    }
}
