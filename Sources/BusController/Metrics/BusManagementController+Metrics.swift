import BackplaneModel
import ControlPlane
import CoreMetrics
import Foundation

/// The BMC's own metrics (swift-metrics; served at `/metrics` once the process bootstrapped
/// ``BusMetrics``): cards and instances by state, reconcile and plan-commit durations, plan
/// conflicts, heartbeat RTT and phi per card, DCL traffic per QoS class.
extension BusManagementController {
    static let reconcileTimer = "backplane_reconcile_duration_seconds"
    static let commitTimer = "backplane_plan_commit_duration_seconds"
    static let conflicts = "backplane_plan_conflicts_total"

    /// Records a duration with a swift-metrics timer (a Prometheus histogram).
    func time<R>(_ label: String, _ body: () async throws -> R) async rethrows -> R {
        let start = ContinuousClock.now
        defer {
            let elapsed = ContinuousClock.now - start
            Timer(label: label).recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        }
        return try await body()
    }

    /// Gauges from the bus's current state; at most twice a second.
    func recordStateMetrics(_ snapshot: Reconciler.Snapshot) {
        let now = ContinuousClock.now
        let due = metricsState.withLock { state -> Bool in
            if let last = state.lastRecorded, now - last < .milliseconds(500) { return false }
            state.lastRecorded = now
            return true
        }
        guard due else { return }
        for state in Card.State.allCases {
            Gauge(label: "backplane_cards", dimensions: [("state", state.rawValue)]).record(snapshot.cards.filter { $0.state == state }.count)
        }
        for state in Instance.State.allCases {
            Gauge(label: "backplane_instances", dimensions: [("state", state.rawValue)]).record(snapshot.instances.filter { $0.instance.state == state }.count)
        }
        let monotonic = ContinuousClock.now - origin
        for card in snapshot.cards where card.state != .removed {
            guard let status = health.withLock({ $0.status(of: card.id, now: monotonic) }) else { continue }
            let id = "\(card.id)"
            Gauge(label: "backplane_card_phi", dimensions: [("card", id)]).record(status.phi)
            if let rtt = status.rtt {
                Gauge(label: "backplane_card_heartbeat_rtt_seconds", dimensions: [("card", id)]).record(Double(rtt.components.attoseconds) / 1e18 + Double(rtt.components.seconds))
            }
        }
        let traffic = node.traffic.snapshot
        let previous = metricsState.withLock { state in
            defer { state.traffic = traffic }
            return state.traffic
        }
        for (qos, counts) in traffic {
            let before = previous[qos] ?? .init()
            let labels = [("class", qos.description)]
            Counter(label: "backplane_dcl_frames_received_total", dimensions: labels).increment(by: max(0, counts.framesReceived - before.framesReceived))
            Counter(label: "backplane_dcl_received_bytes_total", dimensions: labels).increment(by: max(0, counts.bytesReceived - before.bytesReceived))
            Counter(label: "backplane_dcl_sent_bytes_total", dimensions: labels).increment(by: max(0, counts.bytesSent - before.bytesSent))
        }
    }
}
