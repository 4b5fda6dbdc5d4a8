import Foundation

/// The phi-accrual failure detector (Hayashibara et al., 2004; as in Akka and Cassandra) for one
/// card's heartbeats. Pure: heartbeat arrivals and "now" come in as monotonic times.
///
/// `phi(now)` is `-log10(P(a heartbeat arrives later than now))` under a normal distribution fitted
/// to the recent inter-arrival times (plus an acceptable pause): phi 1 means a 10 % chance the
/// card is still fine, phi 8 one in 10^8. It adapts to the observed jitter, so a loaded but
/// healthy card is not suspected the way a fixed timeout would suspect it.
public struct PhiAccrualDetector: Sendable, Hashable {
    public struct Configuration: Sendable, Hashable {
        /// The period the card heartbeats at; seeds the distribution before samples exist.
        public var expectedInterval: Duration
        /// Jitter below this is treated as this (a perfectly regular card would otherwise be
        /// suspected after a few milliseconds of delay).
        public var minimumStandardDeviation: Duration
        /// Added to the mean: a pause this long is never suspicious (GC, a busy event loop).
        public var acceptablePause: Duration
        /// Inter-arrival samples kept.
        public var windowSize: Int

        public init(expectedInterval: Duration, minimumStandardDeviation: Duration = .milliseconds(100), acceptablePause: Duration = .milliseconds(300), windowSize: Int = 100) {
            self.expectedInterval = expectedInterval
            self.minimumStandardDeviation = minimumStandardDeviation
            self.acceptablePause = acceptablePause
            self.windowSize = max(2, windowSize)
        }
    }

    public let configuration: Configuration
    /// When the last heartbeat arrived (nil before the first).
    public private(set) var lastArrival: Duration?
    private var intervals: [Double] = []  // seconds, a ring of at most windowSize
    private var next = 0
    private var sum = 0.0
    private var sumOfSquares = 0.0

    public init(configuration: Configuration) {
        self.configuration = configuration
        // Seed as Akka does: two samples around the expected interval, so phi is meaningful
        // from the first heartbeat on.
        let mean = configuration.expectedInterval.seconds
        let deviation = mean / 4
        record(mean - deviation)
        record(mean + deviation)
    }

    /// A heartbeat arrived at `now`.
    public mutating func heartbeatReceived(at now: Duration) {
        if let last = lastArrival, now > last { record((now - last).seconds) }
        lastArrival = max(now, lastArrival ?? now)
    }

    private mutating func record(_ interval: Double) {
        if intervals.count < configuration.windowSize {
            intervals.append(interval)
        } else {
            let old = intervals[next]
            sum -= old
            sumOfSquares -= old * old
            intervals[next] = interval
            next = (next + 1) % configuration.windowSize
        }
        sum += interval
        sumOfSquares += interval * interval
    }

    public var meanInterval: Double { sum / Double(intervals.count) }

    public var standardDeviation: Double {
        let mean = meanInterval
        let variance = max(0, sumOfSquares / Double(intervals.count) - mean * mean)
        return max(variance.squareRoot(), configuration.minimumStandardDeviation.seconds)
    }

    /// Suspicion level at `now`: 0 right after a heartbeat, growing while none arrives. Before the
    /// first heartbeat it is 0.
    public func phi(at now: Duration) -> Double {
        guard let last = lastArrival else { return 0 }
        let elapsed = max(0, (now - last).seconds)
        let mean = meanInterval + configuration.acceptablePause.seconds
        let y = (elapsed - mean) / standardDeviation
        // Logistic approximation of the normal CDF's tail (Akka's), stable in the far tail.
        let e = exp(-y * (1.5976 + 0.070566 * y * y))
        let phi: Double
        if elapsed > mean {
            phi = -log10(e / (1 + e))
        } else {
            phi = -log10(1 - 1 / (1 + e))
        }
        return phi.isFinite ? max(0, phi) : 1000
    }
}

extension Duration {
    /// This duration in seconds, as a Double.
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}
