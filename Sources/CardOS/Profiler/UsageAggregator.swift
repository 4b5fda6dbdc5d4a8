import BackplaneModel

/// Turns one instance's 1-second counter samples into interval points (pure: the caller gives
/// both clocks). CPU, I/O and network are rates over the interval from the first to the last
/// sample; memory is the mean and the max of the samples. A counter that goes backwards (the
/// container restarted under the same id) counts as zero for that step.
public struct UsageAggregator: Sendable {
    public let instance: String
    public let workload: String
    public let interval: Double
    private var start: CounterSample?
    private var last: CounterSample?
    private var cpu: UInt64 = 0
    private var io: UInt64 = 0
    private var network: UInt64 = 0
    private var periods: UInt64 = 0
    private var throttledPeriods: UInt64 = 0
    private var throttledNanoseconds: UInt64 = 0
    private var memorySum = 0.0
    private var memoryMax: UInt64 = 0
    private var samples = 0

    public init(instance: String, workload: String, interval: Double = 10) {
        self.instance = instance
        self.workload = workload
        self.interval = interval
    }

    /// Adds a sample; returns a point when the interval since the last point is complete.
    /// `wallTime` (seconds since 1970) stamps the point's end.
    public mutating func add(_ s: CounterSample, wallTime: Double) -> UsagePoint? {
        guard let previous = last, let first = start else {
            start = s
            last = s
            return nil
        }
        guard s.time > previous.time else { return nil }
        cpu &+= Self.delta(previous.cpuNanoseconds, s.cpuNanoseconds)
        io &+= Self.delta(previous.ioBytes ?? 0, s.ioBytes ?? 0)
        network &+= Self.delta(previous.networkBytes ?? 0, s.networkBytes ?? 0)
        periods &+= Self.delta(previous.cpuPeriods ?? 0, s.cpuPeriods ?? 0)
        throttledPeriods &+= Self.delta(previous.cpuThrottledPeriods ?? 0, s.cpuThrottledPeriods ?? 0)
        throttledNanoseconds &+= Self.delta(previous.cpuThrottledNanoseconds ?? 0, s.cpuThrottledNanoseconds ?? 0)
        memorySum += Double(s.memoryBytes)
        memoryMax = max(memoryMax, s.memoryBytes)
        samples += 1
        last = s
        let seconds = s.time - first.time
        guard seconds >= interval - 0.25 else { return nil }
        var point = UsagePoint(
            instance: instance, workload: workload, time: wallTime, seconds: seconds,
            cpuMillicores: Double(cpu) / 1e6 / seconds,
            memoryBytes: memorySum / Double(samples),
            memoryMaxBytes: Double(memoryMax),
            memoryPeakBytes: s.memoryPeakBytes.map { Double($0) },
            ioBytesPerSecond: s.ioBytes == nil ? nil : Double(io) / seconds,
            pids: s.pids,
            networkBytesPerSecond: s.networkBytes == nil ? nil : Double(network) / seconds)
        if s.cpuPeriods != nil {
            point.cpuThrottledFraction = periods == 0 ? 0 : min(1, Double(throttledPeriods) / Double(periods))
            point.cpuThrottledSeconds = Double(throttledNanoseconds) / 1e9 / seconds
        }
        start = s
        cpu = 0
        io = 0
        network = 0
        periods = 0
        throttledPeriods = 0
        throttledNanoseconds = 0
        memorySum = 0
        memoryMax = 0
        samples = 0
        return point
    }

    static func delta(_ a: UInt64, _ b: UInt64) -> UInt64 { b >= a ? b - a : 0 }
}
