import BackplaneModel

/// The target workload distribution for fragmentation: the most common request shapes of an
/// expected workload and how often each occurs (FGD's "typical pods": the most frequent shapes
/// covering `coverage` of all requests, renormalised).
public struct WorkloadMix: Hashable, Sendable {
    public struct Entry: Hashable, Sendable {
        public var cpuMillis: Int64
        public var memoryBytes: Int64
        public var gpuCount: Int
        public var gpuMilli: Int
        public var modelMask: UInt64
        public var weight: Double
    }

    public var entries: [Entry]
    /// Also require the memory of a shape to fit (FGD looks at CPU and GPU only).
    public var memoryAware: Bool
    /// Count all idle GPU as fragment for CPU-only shapes, as the artifact does (a constant
    /// shift for GPU requests; kept only to reproduce FGD's integer scores).
    public var cpuShapesCountIdle: Bool

    public init(entries: [Entry], memoryAware: Bool, cpuShapesCountIdle: Bool = false) {
        self.entries = entries
        self.memoryAware = memoryAware
        self.cpuShapesCountIdle = cpuShapesCountIdle
    }

    /// Expected fragmentation (milli-GPU) of a card state: for each shape, the idle GPU it could
    /// not use — all of it when the shape does not fit the card, else the devices too small for it.
    public func fragmentation(free: Resources, devices: [DeviceSlot]) -> Double {
        var idle = 0
        for d in devices { idle += d.free }
        guard idle > 0 else { return 0 }
        var total = 0.0
        for e in entries {
            if e.gpuCount == 0 {
                if cpuShapesCountIdle { total += e.weight * Double(idle) }
                continue
            }
            if free.cpuMillis < e.cpuMillis || (memoryAware && free.memoryBytes < e.memoryBytes) {
                total += e.weight * Double(idle)
                continue
            }
            var fitting = 0, usable = 0
            for d in devices where d.free >= e.gpuMilli && allows(e.modelMask, d.model) {
                fitting += 1
                usable += d.free
            }
            total += e.weight * Double(fitting >= e.gpuCount ? idle - usable : idle)
        }
        return total
    }
}
