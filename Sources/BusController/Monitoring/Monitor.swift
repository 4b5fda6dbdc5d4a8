import BackplaneModel
import Foundation
import Synchronization

/// The BMC's monitoring: the latest usage of every instance (for `backplane top`) and one
/// ``WorkloadSeries`` per workload (rings, 1-minute history, forecasting models), fed by the
/// cards' profilers over DCL telemetry. Thread-safe; every time is given by the caller.
public final class Monitor: Sendable {
    /// An instance's most recent point and the card that measured it.
    public struct InstanceUsage: Codable, Hashable, Sendable {
        public var card: CardID
        public var point: UsagePoint
    }

    /// What the store keeps per workload (`/metrics/<tenant>/<name>`).
    public struct Persisted: Codable, Sendable {
        public var minutes: [WorkloadSeries.Point]
        /// Per horizon (seconds), the models' encoded state.
        public var models: [String: WorkloadSeries.ModelState]?
        public var observed: Int?
    }

    public let configuration: WorkloadSeries.Configuration
    /// Instances whose last point is older than this are left out of ``latest(now:)``.
    public let freshness: Double
    private let state = Mutex<(series: [String: WorkloadSeries], latest: [String: InstanceUsage])>(([:], [:]))

    public init(configuration: WorkloadSeries.Configuration = .init(), freshness: Double = 60) {
        self.configuration = configuration
        self.freshness = freshness
    }

    public static func storeKey(workload: String) -> String { "/metrics/\(workload)" }

    public func ingest(_ points: [UsagePoint], from card: CardID) {
        state.withLock { state in
            for p in points where p.time.isFinite && !p.workload.isEmpty {
                if let known = state.latest[p.instance], known.point.time > p.time {} else {
                    state.latest[p.instance] = InstanceUsage(card: card, point: p)
                }
                if state.series[p.workload] == nil { state.series[p.workload] = WorkloadSeries(configuration: configuration) }
                state.series[p.workload]!.add(p)
            }
        }
    }

    /// Closes finished buckets and forgets instances that stopped reporting long ago.
    public func advance(to now: Double) {
        state.withLock { state in
            for key in state.series.keys { state.series[key]!.advance(to: now) }
            state.latest = state.latest.filter { now - $0.value.point.time < 10 * freshness }
        }
    }

    /// The latest point of every instance that reported within ``freshness`` seconds.
    public func latest(now: Double) -> [InstanceUsage] {
        state.withLock { $0.latest.values.filter { now - $0.point.time < freshness } }.sorted { $0.point.instance < $1.point.instance }
    }

    public func series(_ workload: String) -> WorkloadSeries? { state.withLock { $0.series[workload] } }

    public var workloads: [String] { state.withLock { $0.series.keys.sorted() } }

    /// Drops the series of workloads that no longer exist; returns their keys.
    public func forget(allBut existing: Set<String>) -> [String] {
        state.withLock { state in
            let gone = state.series.keys.filter { !existing.contains($0) }
            for key in gone { state.series.removeValue(forKey: key) }
            state.latest = state.latest.filter { existing.contains($0.value.point.workload) }
            return gone.sorted()
        }
    }

    /// What to persist, per workload.
    public func persistable() -> [(workload: String, record: Persisted)] {
        state.withLock { $0.series.map { ($0.key, Persisted(minutes: $0.value.minutes, models: try? $0.value.encodedModels(), observed: $0.value.observed)) } }.sorted { $0.workload < $1.workload }
    }

    public func restore(workload: String, _ record: Persisted) {
        state.withLock { state in
            var series = state.series[workload] ?? WorkloadSeries(configuration: configuration)
            series.restore(minutes: record.minutes, models: record.models, observed: record.observed)
            state.series[workload] = series
        }
    }
}
