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

    public static func + (a: Resources, b: Resources) -> Resources {
        Resources(cpuMillis: a.cpuMillis + b.cpuMillis, memoryBytes: a.memoryBytes + b.memoryBytes,
                  networkBitsPerSecond: a.networkBitsPerSecond + b.networkBitsPerSecond, storageIOPS: a.storageIOPS + b.storageIOPS)
    }

    public static func - (a: Resources, b: Resources) -> Resources {
        Resources(cpuMillis: a.cpuMillis - b.cpuMillis, memoryBytes: a.memoryBytes - b.memoryBytes,
                  networkBitsPerSecond: a.networkBitsPerSecond - b.networkBitsPerSecond, storageIOPS: a.storageIOPS - b.storageIOPS)
    }

    public static func * (a: Resources, n: Int64) -> Resources {
        Resources(cpuMillis: a.cpuMillis * n, memoryBytes: a.memoryBytes * n, networkBitsPerSecond: a.networkBitsPerSecond * n, storageIOPS: a.storageIOPS * n)
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
