/// A multi-resource amount: what a card offers or a workload asks for.
public struct Resources: Hashable, Sendable, Codable, CustomStringConvertible {
    /// CPU in millicores (1000 = one core).
    public var cpuMillis: Int64
    public var memoryBytes: Int64
    /// Network bandwidth in bits per second.
    public var networkBitsPerSecond: Int64
    public var storageIOPS: Int64

    public init(cpuMillis: Int64 = 0, memoryBytes: Int64 = 0, networkBitsPerSecond: Int64 = 0, storageIOPS: Int64 = 0) {
        self.cpuMillis = cpuMillis
        self.memoryBytes = memoryBytes
        self.networkBitsPerSecond = networkBitsPerSecond
        self.storageIOPS = storageIOPS
    }

    public static let zero = Resources()

    /// The most one instance may ask for, per dimension; specs asking for more are refused
    /// (``WorkloadSpec/init(validating:)``) and stored records beyond it are quarantined.
    ///
    /// | dimension | maximum |
    /// | --- | --- |
    /// | cpu | 1,000,000 cores (10⁹ millicores) |
    /// | memory | 1 PiB (2⁵⁰ bytes) |
    /// | network | 10 Tbps (10¹³ bits per second) |
    /// | storage | 10⁹ IOPS |
    ///
    /// Times ``WorkloadSpec/replicaRange``'s upper bound (1000) every maximum is still below
    /// 2⁶², so a valid workload's total (``multipliedReportingOverflow(by:)``) always fits.
    public static let maximum = Resources(cpuMillis: 1_000_000_000, memoryBytes: 1 << 50, networkBitsPerSecond: 10_000_000_000_000, storageIOPS: 1_000_000_000)

    /// The most a workload may ask for over all its replicas: ``maximum`` × 1000.
    public static let maximumTotal = maximum * 1000

    /// Adds per dimension, saturating at `Int64.max` / `Int64.min`: stored or received amounts
    /// (card capacities, old records) can be anything, and a sum must never trap.
    public static func + (a: Resources, b: Resources) -> Resources {
        Resources(cpuMillis: a.cpuMillis.saturatingAdd(b.cpuMillis), memoryBytes: a.memoryBytes.saturatingAdd(b.memoryBytes),
                  networkBitsPerSecond: a.networkBitsPerSecond.saturatingAdd(b.networkBitsPerSecond), storageIOPS: a.storageIOPS.saturatingAdd(b.storageIOPS))
    }

    /// Subtracts per dimension, saturating (see ``+(_:_:)``).
    public static func - (a: Resources, b: Resources) -> Resources {
        Resources(cpuMillis: a.cpuMillis.saturatingSubtract(b.cpuMillis), memoryBytes: a.memoryBytes.saturatingSubtract(b.memoryBytes),
                  networkBitsPerSecond: a.networkBitsPerSecond.saturatingSubtract(b.networkBitsPerSecond), storageIOPS: a.storageIOPS.saturatingSubtract(b.storageIOPS))
    }

    public static func += (a: inout Resources, b: Resources) { a = a + b }
    public static func -= (a: inout Resources, b: Resources) { a = a - b }

    /// Multiplies per dimension, saturating (see ``+(_:_:)``).
    public static func * (a: Resources, n: Int64) -> Resources {
        Resources(cpuMillis: a.cpuMillis.saturatingMultiply(n), memoryBytes: a.memoryBytes.saturatingMultiply(n),
                  networkBitsPerSecond: a.networkBitsPerSecond.saturatingMultiply(n), storageIOPS: a.storageIOPS.saturatingMultiply(n))
    }

    /// `self × n` per dimension, and whether any dimension overflowed (then that dimension is
    /// saturated).
    public func multipliedReportingOverflow(by n: Int64) -> (partialValue: Resources, overflow: Bool) {
        let c = cpuMillis.multipliedReportingOverflow(by: n), m = memoryBytes.multipliedReportingOverflow(by: n)
        let w = networkBitsPerSecond.multipliedReportingOverflow(by: n), s = storageIOPS.multipliedReportingOverflow(by: n)
        return (self * n, c.overflow || m.overflow || w.overflow || s.overflow)
    }

    /// The dimensions (by their spec field name) where `self` is negative or above `bound`.
    public func dimensions(outside bound: Resources) -> [ResourceDimension] {
        ResourceDimension.allCases.filter { d in d.amount(self) < 0 || d.amount(self) > d.amount(bound) }
    }

    /// Every dimension of `self` is at least `other`'s.
    public func covers(_ other: Resources) -> Bool {
        cpuMillis >= other.cpuMillis && memoryBytes >= other.memoryBytes
            && networkBitsPerSecond >= other.networkBitsPerSecond && storageIOPS >= other.storageIOPS
    }

    public var description: String {
        "cpu \(Quantity.formatCPU(cpuMillis)), memory \(Quantity.formatBytes(memoryBytes))"
            + (networkBitsPerSecond > 0 ? ", network \(Quantity.formatBitRate(networkBitsPerSecond))" : "")
            + (storageIOPS > 0 ? ", storage \(storageIOPS) IOPS" : "")
    }
}

/// The resource dimensions, for per-dimension reasons and scores.
public enum ResourceDimension: String, CaseIterable, Hashable, Sendable, Codable {
    case cpu, memory, network, storageIOPS = "storage_iops"

    public func amount(_ r: Resources) -> Int64 {
        switch self {
        case .cpu: return r.cpuMillis
        case .memory: return r.memoryBytes
        case .network: return r.networkBitsPerSecond
        case .storageIOPS: return r.storageIOPS
        }
    }

    public func format(_ amount: Int64) -> String {
        switch self {
        case .cpu: return Quantity.formatCPU(amount)
        case .memory: return Quantity.formatBytes(amount)
        case .network: return Quantity.formatBitRate(amount)
        case .storageIOPS: return "\(amount) IOPS"
        }
    }
}

extension Int64 {
    /// `self + other`, clamped to `Int64.min...Int64.max` instead of trapping.
    @inlinable public func saturatingAdd(_ other: Int64) -> Int64 {
        let (r, o) = addingReportingOverflow(other)
        return o ? (other > 0 ? .max : .min) : r
    }

    /// `self - other`, clamped instead of trapping.
    @inlinable public func saturatingSubtract(_ other: Int64) -> Int64 {
        let (r, o) = subtractingReportingOverflow(other)
        return o ? (other < 0 ? .max : .min) : r
    }

    /// `self × other`, clamped instead of trapping.
    @inlinable public func saturatingMultiply(_ other: Int64) -> Int64 {
        let (r, o) = multipliedReportingOverflow(by: other)
        return o ? ((self < 0) == (other < 0) ? .max : .min) : r
    }
}

extension Int {
    /// `self + other`, clamped to `Int.min...Int.max` instead of trapping.
    @inlinable public func saturatingAdd(_ other: Int) -> Int {
        let (r, o) = addingReportingOverflow(other)
        return o ? (other > 0 ? .max : .min) : r
    }

    /// `self - other`, clamped instead of trapping.
    @inlinable public func saturatingSubtract(_ other: Int) -> Int {
        let (r, o) = subtractingReportingOverflow(other)
        return o ? (other < 0 ? .max : .min) : r
    }

    /// `self × other`, clamped instead of trapping.
    @inlinable public func saturatingMultiply(_ other: Int) -> Int {
        let (r, o) = multipliedReportingOverflow(by: other)
        return o ? ((self < 0) == (other < 0) ? .max : .min) : r
    }
}
