import BackplaneModel
import Foundation
import Synchronization

/// CardOS's Workload Profiler: every `sampleInterval` it reads each tracked instance's real
/// counters (cgroup, or `/proc` for the process driver), aggregates them into
/// `pointInterval`-second ``UsagePoint``s and hands them to `ship` in batches (the card sends
/// them to the BMC on the DCL telemetry class).
public final class Profiler: Sendable {
    public struct Configuration: Sendable {
        public var sampleInterval: Duration = .seconds(1)
        /// Seconds per point.
        public var pointInterval: Double = 10
        /// Most points per batch.
        public var maxBatch = 512
        public init() {}
    }

    struct Tracked: Sendable {
        var cgroupPath: String
        var pid: Int32
        var aggregator: UsageAggregator
    }

    public let configuration: Configuration
    public let reader: CounterReader
    private let tracked = Mutex<[String: Tracked]>([:])

    public init(configuration: Configuration = Configuration(), reader: CounterReader = CounterReader()) {
        self.configuration = configuration
        self.reader = reader
    }

    /// Starts measuring an instance (from its next sample).
    public func track(instance: String, workload: String, cgroupPath: String, pid: Int32) {
        let aggregator = UsageAggregator(instance: instance, workload: workload, interval: configuration.pointInterval)
        tracked.withLock { $0[instance] = Tracked(cgroupPath: cgroupPath, pid: pid, aggregator: aggregator) }
    }

    public func untrack(_ instance: String) { tracked.withLock { _ = $0.removeValue(forKey: instance) } }

    public var trackedInstances: [String] { tracked.withLock { $0.keys.sorted() } }

    /// One sampling step: reads every tracked instance (outside the lock) and returns the points
    /// whose interval completed. `now` is monotonic seconds, `wallTime` seconds since 1970.
    public func sample(now: Double, wallTime: Double) -> [UsagePoint] {
        let targets = tracked.withLock { $0.map { ($0.key, $0.value.cgroupPath, $0.value.pid) } }
        var samples: [(String, CounterSample)] = []
        var gone: [String] = []
        for (id, path, pid) in targets {
            if let s = reader.read(cgroupPath: path, pid: pid, at: now) { samples.append((id, s)) } else { gone.append(id) }
        }
        return tracked.withLock { state in
            // An instance whose cgroup or process has vanished has ended (its exit may have been
            // reported before it was tracked).
            for id in gone { state.removeValue(forKey: id) }
            var points: [UsagePoint] = []
            for (id, s) in samples {
                if let p = state[id]?.aggregator.add(s, wallTime: wallTime) { points.append(p) }
            }
            return points
        }
    }

    /// Samples until cancelled, shipping batches at least once per point interval.
    public func run(ship: @escaping @Sendable ([UsagePoint]) async -> Void) async {
        var pending: [UsagePoint] = []
        var lastShip = Self.monotonic()
        while !Task.isCancelled {
            do { try await Task.sleep(for: configuration.sampleInterval) } catch { break }
            let now = Self.monotonic()
            pending += sample(now: now, wallTime: Self.wallClock())
            if !pending.isEmpty && (now - lastShip >= configuration.pointInterval || pending.count >= configuration.maxBatch) {
                for start in Swift.stride(from: 0, to: pending.count, by: configuration.maxBatch) {
                    await ship(Array(pending[start..<min(pending.count, start + configuration.maxBatch)]))
                }
                pending = []
                lastShip = now
            }
        }
    }

    static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func wallClock() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
