/// Chooses, per series, among member models by their recent decayed pinball loss against what
/// actually happened (the peak of the next `horizon` rows), as Autopilot's ML recommender picks
/// among its models. A member must beat the current choice by `switchMargin` to take over, so
/// the choice does not flap.
public struct Ensemble: LimitModel {
    public var name: String { "ensemble" }
    public let horizon: Int
    public let quantile: Double
    /// Loss memory: each scored window multiplies past loss by this (about 0.97 ⇒ ~30 windows).
    public let decay: Double = 0.97
    public let switchMargin: Double = 0.05

    private var members: [any LimitModel]
    private var losses: [Double]
    private var chosen = 0
    /// Limits each member set at the start of the window being watched, and its peak so far.
    private var pending: [Double]?
    private var pendingPeak = 0.0
    private var pendingSteps = 0

    public init(members: [any LimitModel], horizon: Int, quantile: Double) {
        precondition(!members.isEmpty)
        self.members = members
        self.horizon = max(1, horizon)
        self.quantile = quantile
        self.losses = Array(repeating: 0, count: members.count)
    }

    public var stateBytes: Int { 96 + members.reduce(0) { $0 + $1.stateBytes } + (losses.capacity + (pending?.capacity ?? 0)) * 8 }

    /// The member currently followed.
    public var choice: String { members[chosen].name }

    public mutating func observe(_ value: Double, at time: Double) {
        let v = sanitized(value)
        if pending != nil {
            pendingPeak = max(pendingPeak, v)
            pendingSteps += 1
            if pendingSteps == horizon { score() }
        }
        for i in members.indices { members[i].observe(v, at: time) }
        if pending == nil {
            pending = members.map { $0.limit(horizon: horizon, quantile: quantile) }
            pendingPeak = 0
            pendingSteps = 0
        }
    }

    private mutating func score() {
        guard let limits = pending else { return }
        for i in members.indices {
            let error = pendingPeak - limits[i]
            let loss = error > 0 ? quantile * error : (1 - quantile) * -error
            losses[i] = losses[i] * decay + loss
        }
        let best = losses.indices.min { losses[$0] < losses[$1] }!
        if losses[best] < losses[chosen] * (1 - switchMargin) { chosen = best }
        pending = nil
    }

    public func limit(horizon: Int, quantile: Double) -> Double {
        sanitized(members[chosen].limit(horizon: horizon, quantile: quantile))
    }
}
