import BackplaneModel

/// Replica count from a forecast, with a hysteresis band and a scale-down stabilisation window
/// (as Kubernetes' HPA: scale down only to the highest recommendation of the window).
public struct HorizontalScaling: Hashable, Sendable {
    public var targetUtilisation: Double
    /// No change while the forecast is within this fraction of the target (hysteresis).
    public var tolerance: Double
    public var minReplicas: Int
    public var maxReplicas: Int
    public var scaleDownWindow: Duration
    /// At most this many replicas added per decision.
    public var maxStepUp: Int

    public init(targetUtilisation: Double = 0.7, tolerance: Double = 0.1, minReplicas: Int = 1, maxReplicas: Int = 100,
                scaleDownWindow: Duration = .seconds(300), maxStepUp: Int = 4) {
        self.targetUtilisation = targetUtilisation
        self.tolerance = tolerance
        self.minReplicas = minReplicas
        self.maxReplicas = maxReplicas
        self.scaleDownWindow = scaleDownWindow
        self.maxStepUp = maxStepUp
    }

    /// - Parameters:
    ///   - forecastLoad: predicted total load in units of one replica's capacity (e.g. cores used / cores per replica).
    ///   - history: earlier recommendations with their time (the caller keeps them; pass them back).
    public func recommend(current: Int, forecastLoad: Double, history: [(at: Instant, replicas: Int)], now: Instant) -> Int {
        let utilisation = forecastLoad / Double(max(current, 1))
        var wanted = current
        if abs(utilisation / targetUtilisation - 1) > tolerance {
            wanted = Int((forecastLoad / targetUtilisation).rounded(.up))
        }
        wanted = min(max(wanted, minReplicas), maxReplicas)
        if wanted > current { return min(wanted, current + maxStepUp) }
        // Scale down no lower than anything recommended within the window.
        let recent = history.filter { now.since($0.at) < scaleDownWindow }.map(\.replicas).max() ?? wanted
        return max(wanted, min(recent, current))
    }
}

/// A new request from a forecast quantile: headroom on top, and no change inside the band.
public struct VerticalScaling: Hashable, Sendable {
    public var headroom: Double
    /// Resize only when a dimension would change by more than this fraction.
    public var band: Double
    public var minimum: Resources

    public init(headroom: Double = 1.15, band: Double = 0.1, minimum: Resources = Resources(cpuMillis: 50, memoryBytes: 32 << 20)) {
        self.headroom = headroom
        self.band = band
        self.minimum = minimum
    }

    /// The new request, or nil to keep the current one.
    public func recommend(current: Resources, forecast: Resources) -> Resources? {
        func scaled(_ v: Int64, _ floor: Int64) -> Int64 { max(floor, Int64((Double(v) * headroom).rounded(.up))) }
        let next = Resources(cpuMillis: scaled(forecast.cpuMillis, minimum.cpuMillis), memoryBytes: scaled(forecast.memoryBytes, minimum.memoryBytes),
                             networkBitsPerSecond: current.networkBitsPerSecond, storageIOPS: current.storageIOPS)
        func moved(_ a: Int64, _ b: Int64) -> Bool { a == 0 ? b != 0 : abs(Double(b - a) / Double(a)) > band }
        return moved(current.cpuMillis, next.cpuMillis) || moved(current.memoryBytes, next.memoryBytes) ? next : nil
    }
}

/// One proactive action AWB proposes; the BMC applies it.
public enum ScalingAction: Hashable, Sendable {
    case scale(workload: String, from: Int, to: Int)
    case resize(instanceID: String, from: Resources, to: Resources)
    case move(instanceID: String, from: CardID, to: CardID)
}

/// Bounds churn: at most `maxActions` per interval, the most beneficial first (ties: given order).
public struct ChurnBudget: Hashable, Sendable {
    public var maxActions: Int
    public init(maxActions: Int) { self.maxActions = maxActions }
    public func select(_ actions: [(action: ScalingAction, benefit: Double)]) -> [ScalingAction] {
        actions.enumerated().sorted { ($1.element.benefit, $0.offset) < ($0.element.benefit, $1.offset) }
            .prefix(max(maxActions, 0)).map(\.element.action)
    }
}

/// Cards to empty and the moves that empty them.
public struct ConsolidationPlan: Hashable, Sendable {
    public var emptied: [CardID]
    public var moves: [ScalingAction]
    /// Cost per hour saved by the emptied cards, minus the move cost.
    public var netSavingPerHour: Double
}

extension PlacementEngine {
    public enum ConsolidationOrder: Hashable, Sendable { case mostExpensive, leastUsed }

    /// Empties cards (most expensive or least used first) whose instances the rest of the bus can
    /// absorb, as long as the card's cost per hour exceeds `moveCost` × its instances and the moves
    /// stay within `maxMoves`. Pure: works on a copy and returns the plan.
    public func consolidationPlan(order: ConsolidationOrder = .mostExpensive, moveCost: Double, maxMoves: Int) -> ConsolidationPlan {
        var work = self
        var plan = ConsolidationPlan(emptied: [], moves: [], netSavingPerHour: 0)
        let used = cards.indices.filter { cards[$0].state == .ready && !cardInstances[$0].isEmpty }
        func utilisationOf(_ i: Int) -> Double { WorkloadBalancer.utilisation(classes[cardClass[i]].view).mean }
        let candidates = used.sorted {
            switch order {
            case .mostExpensive: return (cards[$1].costPerHour, $0) < (cards[$0].costPerHour, $1)
            case .leastUsed: return (utilisationOf($0), $0) < (utilisationOf($1), $1)
            }
        }
        for i in candidates {
            let residents = work.instances(on: cards[i].id)
            let cost = moveCost * Double(residents.count)
            guard plan.moves.count + residents.count <= maxMoves, cards[i].costPerHour > cost else { continue }
            var trial = work
            trial.cardStateChanged(cards[i].id, to: .draining)
            var moves: [ScalingAction] = []
            for r in residents {
                trial.remove(instanceID: r.demand.instanceID)
                guard case .place(let p) = trial.place(r.demand) else { moves = []; break }
                moves.append(.move(instanceID: r.demand.instanceID, from: cards[i].id, to: p.card))
            }
            guard moves.count == residents.count else { continue }
            work = trial
            plan.emptied.append(cards[i].id)
            plan.moves += moves
            plan.netSavingPerHour += cards[i].costPerHour - cost
        }
        return plan
    }
}
