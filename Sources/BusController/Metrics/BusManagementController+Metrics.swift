import BackplaneModel
import ControlPlane
import Foundation
import Prometheus

/// The BMC's own metrics, in the process's registry (``BusMetrics/process``, served at
/// `/metrics`), each with its help text: cards and instances by state, reconcile and
/// plan-commit durations, plan conflicts, heartbeat RTT and phi per card, DCL traffic per QoS
/// class.
extension BusManagementController {
    enum Metric {
        static func d(_ name: String, _ help: String) -> MetricNameDescriptor { MetricNameDescriptor(metricName: name, unitName: "", helpText: help) }
        static var cards: MetricNameDescriptor { d("backplane_cards", "Cards on the bus, by state.") }
        static var instances: MetricNameDescriptor { d("backplane_instances", "Instances on the bus, by state.") }
        static var reconcile: MetricNameDescriptor { d("backplane_reconcile_duration_seconds", "Time the reconciler takes to plan one pass over the bus.") }
        static var commit: MetricNameDescriptor { d("backplane_plan_commit_duration_seconds", "Time to commit one plan to the store with compare-and-swap.") }
        static var conflicts: MetricNameDescriptor { d("backplane_plan_conflicts_total", "Plans refused by compare-and-swap because the bus changed meanwhile (re-planned).") }
        static var phi: MetricNameDescriptor { d("backplane_card_phi", "Phi-accrual suspicion of each card (8 and above: suspect).") }
        static var rtt: MetricNameDescriptor { d("backplane_card_heartbeat_rtt_seconds", "Each card's last heartbeat round trip.") }
        static var framesIn: MetricNameDescriptor { d("backplane_dcl_frames_received_total", "DCL frames received by the BMC, by QoS class.") }
        static var bytesIn: MetricNameDescriptor { d("backplane_dcl_received_bytes_total", "DCL payload bytes received by the BMC, by QoS class.") }
        static var bytesOut: MetricNameDescriptor { d("backplane_dcl_sent_bytes_total", "DCL payload bytes sent by the BMC, by QoS class.") }
    }

    var metrics: PrometheusCollectorRegistry { BusMetrics.process.registry }

    /// Records how long `body` takes in a duration histogram.
    func time<R>(_ descriptor: MetricNameDescriptor, _ body: () async throws -> R) async rethrows -> R {
        let start = ContinuousClock.now
        defer { metrics.makeDurationHistogram(descriptor: descriptor, buckets: BusMetrics.durationBuckets).record(ContinuousClock.now - start) }
        return try await body()
    }

    func planConflicted() { metrics.makeCounter(descriptor: Metric.conflicts).increment() }

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
            metrics.makeGauge(descriptor: Metric.cards, labels: [("state", state.rawValue)]).set(Double(snapshot.cards.filter { $0.state == state }.count))
        }
        for state in Instance.State.allCases {
            metrics.makeGauge(descriptor: Metric.instances, labels: [("state", state.rawValue)]).set(Double(snapshot.instances.filter { $0.instance.state == state }.count))
        }
        let monotonic = ContinuousClock.now - origin
        for card in snapshot.cards where card.state != .removed {
            guard let status = health.withLock({ $0.status(of: card.id, now: monotonic) }) else { continue }
            let labels = [("card", "\(card.id)")]
            metrics.makeGauge(descriptor: Metric.phi, labels: labels).set(status.phi)
            if let rtt = status.rtt {
                metrics.makeGauge(descriptor: Metric.rtt, labels: labels).set(Double(rtt.components.seconds) + Double(rtt.components.attoseconds) / 1e18)
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
            metrics.makeCounter(descriptor: Metric.framesIn, labels: labels).increment(by: Int64(max(0, counts.framesReceived - before.framesReceived)))
            metrics.makeCounter(descriptor: Metric.bytesIn, labels: labels).increment(by: Int64(max(0, counts.bytesReceived - before.bytesReceived)))
            metrics.makeCounter(descriptor: Metric.bytesOut, labels: labels).increment(by: Int64(max(0, counts.bytesSent - before.bytesSent)))
        }
    }
}
