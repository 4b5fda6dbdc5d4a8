/// One instance's usage over one interval (10 s by default), as CardOS's profiler measures it
/// from the instance's cgroup (or `/proc` for the process driver).
public struct UsagePoint: Codable, Hashable, Sendable {
    public var instance: String
    /// The workload's key, `<tenant>/<name>`.
    public var workload: String
    /// End of the interval: wall-clock seconds since 1970.
    public var time: Double
    /// Length of the interval in seconds.
    public var seconds: Double
    /// Average CPU over the interval (1000 = one core busy).
    public var cpuMillicores: Double
    /// Average memory in use over the interval's samples.
    public var memoryBytes: Double
    /// Highest memory sample in the interval.
    public var memoryMaxBytes: Double
    /// The kernel's high-water mark since the instance started, where it keeps one.
    public var memoryPeakBytes: Double?
    /// Block I/O read + written per second, where the cgroup counts it.
    public var ioBytesPerSecond: Double?
    /// Processes (tasks) at the end of the interval.
    public var pids: Int?
    /// Network bytes received + sent per second; nil when the instance shares the host's
    /// network namespace (its traffic cannot be told apart from the host's).
    public var networkBytesPerSecond: Double?
    /// Share of the interval's CFS periods in which the CPU limit throttled it (0–1); nil
    /// without a CPU controller (the process driver).
    public var cpuThrottledFraction: Double?
    /// Seconds per second it waited throttled (cgroup `cpu.stat` throttled time over the interval).
    public var cpuThrottledSeconds: Double?

    public init(instance: String, workload: String, time: Double, seconds: Double, cpuMillicores: Double, memoryBytes: Double, memoryMaxBytes: Double, memoryPeakBytes: Double? = nil, ioBytesPerSecond: Double? = nil, pids: Int? = nil, networkBytesPerSecond: Double? = nil) {
        self.instance = instance
        self.workload = workload
        self.time = time
        self.seconds = seconds
        self.cpuMillicores = cpuMillicores
        self.memoryBytes = memoryBytes
        self.memoryMaxBytes = memoryMaxBytes
        self.memoryPeakBytes = memoryPeakBytes
        self.ioBytesPerSecond = ioBytesPerSecond
        self.pids = pids
        self.networkBytesPerSecond = networkBytesPerSecond
    }
}

extension CardProtocol {
    /// One-way message on the DCL telemetry class, card → BMC: a ``TelemetryBatch``.
    public static let telemetry = "telemetry.usage"

    public struct TelemetryBatch: Codable, Hashable, Sendable {
        public var points: [UsagePoint]
        public init(points: [UsagePoint]) { self.points = points }
    }
}
