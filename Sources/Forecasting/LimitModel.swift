/// A per-series forecasting model that sets a *limit*: the usage it expects not to be exceeded
/// over the next `horizon` steps. Updates are O(1) amortised and memory is bounded.
///
/// Contract: `observe` takes rows in time order (timestamps in seconds); `limit` uses only what
/// was observed; it never returns NaN or a negative value, whatever the input (gaps, zeros,
/// constant series, spikes, very short history).
public protocol LimitModel: Sendable {
    var name: String { get }
    mutating func observe(_ value: Double, at time: Double)
    func limit(horizon: Int, quantile: Double) -> Double
    /// Approximate bytes of state held now (heap storage included).
    var stateBytes: Int { get }
}

/// The models by name, as the backtest command and the BMC choose them.
public enum ModelKind: String, CaseIterable, Sendable, Codable {
    /// Max of the last `horizon` rows.
    case windowMax = "window-max"
    /// Kubernetes VPA recommender shape: decayed histogram, p90, 24 h half-life, 8-day window.
    case vpaP90 = "vpa-p90"
    /// Autopilot moving window: decayed p95, 12 h half-life.
    case autopilotP95 = "autopilot-p95"
    /// Peak of the last 24 h.
    case peak24h = "peak-24h"
    /// Additive damped Holt-Winters with season detection, plus a residual quantile.
    case holtWinters = "holt-winters"
    /// Online linear quantile regression of the next `horizon` rows' peak.
    case quantileRegression = "quantile-regression"
    /// Per series, calibrates each member by its own multiplier (headroom traded against
    /// violations, scale free) and follows the one with the lowest recent calibrated loss.
    case ensemble

    public static let baselines: [ModelKind] = [.windowMax, .vpaP90, .autopilotP95, .peak24h]

    public func make(horizon: Int, quantile: Double = 0.99) -> any LimitModel {
        switch self {
        case .windowMax: return WindowMax(steps: horizon)
        case .vpaP90: return DecayedPercentile(name: rawValue, percentile: 0.90, halfLife: 24 * 3600, window: 8 * 24 * 3600)
        case .autopilotP95: return DecayedPercentile(name: rawValue, percentile: 0.95, halfLife: 12 * 3600, window: nil)
        case .peak24h: return TimeWindowMax(name: rawValue, seconds: 24 * 3600)
        case .holtWinters: return HoltWinters(horizon: horizon)
        case .quantileRegression: return QuantileRegression(horizon: horizon, quantile: quantile)
        case .ensemble: return Ensemble(horizon: horizon, quantile: quantile)
        }
    }
}

@inline(__always)
func sanitized(_ x: Double) -> Double { x.isFinite && x > 0 ? x : 0 }
