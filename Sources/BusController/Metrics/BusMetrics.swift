import CoreMetrics
import Foundation
import Metrics
import Prometheus
import Synchronization

/// The BMC's metrics, served in Prometheus text format at `GET /metrics` on the API port.
///
/// One ``PrometheusCollectorRegistry`` per BMC process (``process``). Code anywhere in the BMC
/// records with the ordinary swift-metrics API once ``bootstrapProcessMetrics()`` has run
/// (the BMC's command calls it at start):
///
/// ```swift
/// Gauge(label: "backplane_cards", dimensions: [("state", "ready")]).record(12)
/// Counter(label: "backplane_instances_started_total").increment()
/// Metrics.Timer(label: "backplane_reconcile_duration_seconds").recordNanoseconds(n)   // a histogram
/// ```
///
/// Naming: `backplane_<subsystem>_<what>[_<unit>]`, snake case, `_total` for counters, base units
/// (`_seconds`, `_bytes`, `_millicores`). A name is one kind of metric with one set of label names
/// and one help text (the registry traps on a mismatch, so keep each name in one place). Labels
/// never carry unbounded values (no workload names from requests, no raw paths): the API
/// records the matched route, never the URL. Names with characters Prometheus does not allow
/// (`.` `-`) are rewritten with `_` by the factory.
///
/// Tests use their own `BusMetrics()` and never need the global bootstrap.
public final class BusMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
    }

    /// The process's registry: what `/metrics` serves by default, and where swift-metrics writes
    /// after ``bootstrapProcessMetrics()``.
    public static let process = BusMetrics()

    private static let bootstrapped = Mutex(false)

    /// Points swift-metrics (`MetricsSystem`) at ``process``'s registry. Only the first call in a
    /// process bootstraps (swift-metrics allows one); later calls return false and do nothing.
    @discardableResult
    public static func bootstrapProcessMetrics() -> Bool {
        bootstrapped.withLock { done in
            guard !done else { return false }
            done = true
            MetricsSystem.bootstrap(process.factory())
            return true
        }
    }

    /// A swift-metrics factory writing into this registry, with names and label names made
    /// valid for Prometheus.
    public func factory() -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.durationBuckets
        factory.nameAndLabelSanitizer = { name, labels in
            (Self.sanitized(name), labels.map { (Self.sanitized($0.0), $0.1) })
        }
        return factory
    }

    /// The exposition, text format 0.0.4.
    public func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }

    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    static let durationBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    // MARK: API requests

    /// `backplane_api_requests_total{route,method,status}` and
    /// `backplane_api_request_duration_seconds{route,method}` (a histogram).
    func apiRequestFinished(route: String, method: String, status: Int, duration: Duration) {
        let labels = [("route", route), ("method", method), ("status", String(status))]
        registry.makeCounter(descriptor: Self.requestsTotal, labels: labels).increment()
        registry.makeDurationHistogram(descriptor: Self.requestDuration, labels: [("route", route), ("method", method)], buckets: Self.durationBuckets)
            .record(duration)
    }

    static var requestsTotal: MetricNameDescriptor { MetricNameDescriptor(namespace: "backplane", subsystem: "api", metricName: "requests", unitName: "total", helpText: "API requests answered, by matched route, method and status code.") }
    static var requestDuration: MetricNameDescriptor { MetricNameDescriptor(namespace: "backplane", subsystem: "api", metricName: "request_duration", unitName: "seconds", helpText: "Time to answer an API request, by matched route and method.") }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`: anything else becomes `_`.
    static func sanitized(_ name: String) -> String {
        var out = ""
        for (i, c) in name.unicodeScalars.enumerated() {
            let ok = c == "_" || c == ":" || ("a"..."z").contains(c) || ("A"..."Z").contains(c) || (i > 0 && ("0"..."9").contains(c))
            out.unicodeScalars.append(ok ? c : "_")
        }
        return out.isEmpty ? "_" : out
    }
}
