import BackplaneModel

/// The Resource Allocator's decisions (pure; ARCHITECTURE.md, "The allocator"): from one
/// snapshot of the bus (cards, instances with their live usage and forecasts, workloads,
/// instances waiting for room) the plan for this interval:
///
/// - **resizes** in place (``VerticalPlanner``) for workloads with `vertical: auto` (shown, not
///   made, for `recommend`);
/// - **replica changes** for workloads with `autoscale:` — HPA's rule (ratio to the target, 10 %
///   tolerance, 5-minute scale-down stabilisation) on the CPU *forecast*, not the last sample;
/// - **moves** off cards whose instances' forecast needs exceed the card (lowest priority first,
///   to the card with the most room after them). Planned and shown; the BMC does not carry them
///   out yet, and each says so;
/// - **idle cards** (ready, running nothing, not needed by anything waiting): releasable;
/// - a **card request** when what waits for room fits on no card, even after the planned moves:
///   how many more cards of the bus's usual shape it needs.
///
/// Deterministic: the same snapshot gives the same plan, whatever the order of its lists.
public enum Allocator {
    public struct Settings: Hashable, Sendable {
        public var vertical = VerticalPlanner.Settings()
        /// HPA's tolerance: no replica change while forecast / target is within 1 ± this.
        public var tolerance = 0.10
        /// Scale down no lower than the highest recommendation of this many seconds.
        public var scaleDownWindow = 300.0
        /// At most this many replicas added per workload per interval.
        public var maxStepUp = 4
        /// At most this many moves planned per interval.
        public var moveBudget = 10
        /// A card whose forecast use stays under this share of its CPU and memory is a
        /// candidate for consolidation.
        public var underUsed = 0.3
        /// What one move costs, in the cards' cost unit per hour: a card is emptied only when it
        /// costs more than its moves.
        public var moveCost = 0.1
        public init() {}
    }

    public struct Card: Hashable, Sendable {
        public var id: CardID
        public var name: String
        public var capacity: Resources
        /// Takes new work (ready); others are left out of moves and requests.
        public var schedulable: Bool
        public var costPerHour: Double
        public init(id: CardID, name: String, capacity: Resources, schedulable: Bool = true, costPerHour: Double = 1) {
            self.id = id
            self.name = name
            self.capacity = capacity
            self.schedulable = schedulable
            self.costPerHour = costPerHour
        }
    }

    public struct Instance: Hashable, Sendable {
        /// Limits, usage and forecasts (see ``VerticalPlanner/Instance``).
        public var sizing: VerticalPlanner.Instance
        /// `<tenant>/<name>`.
        public var workload: String
        public init(sizing: VerticalPlanner.Instance, workload: String) {
            self.sizing = sizing
            self.workload = workload
        }
    }

    public struct Workload: Hashable, Sendable {
        public var key: String
        public var replicas: Int
        public var autoscale: Autoscale?
        /// Requested CPU of one replica (millicores).
        public var requestCPU: Int64
        /// The workload's CPU p99 forecast over the short horizon (all replicas, millicores).
        public var forecastCPU: Double
        /// Its CPU use now (all replicas), for the reason text.
        public var usageCPU: Double
        /// Replica recommendations of the last ``Settings/scaleDownWindow`` (seconds, count).
        public var history: [Recommendation]
        public init(key: String, replicas: Int, autoscale: Autoscale?, requestCPU: Int64, forecastCPU: Double, usageCPU: Double, history: [Recommendation] = []) {
            self.key = key
            self.replicas = replicas
            self.autoscale = autoscale
            self.requestCPU = requestCPU
            self.forecastCPU = forecastCPU
            self.usageCPU = usageCPU
            self.history = history
        }
    }

    public struct Recommendation: Hashable, Sendable, Codable {
        public var time: Double
        public var replicas: Int
        public init(time: Double, replicas: Int) {
            self.time = time
            self.replicas = replicas
        }
    }

    /// An instance waiting for room (pending for capacity).
    public struct Waiting: Hashable, Sendable {
        public var instance: String
        public var resources: Resources
        public init(instance: String, resources: Resources) {
            self.instance = instance
            self.resources = resources
        }
    }

    public struct Snapshot: Hashable, Sendable {
        /// Seconds (the caller's clock).
        public var now: Double
        public var cards: [Card]
        public var instances: [Instance]
        public var workloads: [Workload]
        public var waiting: [Waiting]
        public init(now: Double, cards: [Card], instances: [Instance], workloads: [Workload], waiting: [Waiting] = []) {
            self.now = now
            self.cards = cards
            self.instances = instances
            self.workloads = workloads
            self.waiting = waiting
        }
    }

    public struct Scale: Hashable, Sendable, Codable {
        public var workload: String
        public var from: Int
        public var to: Int
        /// The recommendation before the stabilisation window (kept in the workload's history).
        public var recommended: Int
        public var reason: String
    }

    public struct Move: Hashable, Sendable, Codable {
        public var instance: String
        public var from: CardID
        public var to: CardID
        public var applied: Bool
        public var held: String?
        public var reason: String
    }

    public struct IdleCard: Hashable, Sendable, Codable {
        public var card: CardID
        public var name: String
        public var costPerHour: Double
        public init(card: CardID, name: String, costPerHour: Double) {
            self.card = card
            self.name = name
            self.costPerHour = costPerHour
        }
    }

    public struct CardRequest: Hashable, Sendable, Codable {
        /// More cards needed, each of `shape`.
        public var count: Int
        public var shape: Resources
        public var reason: String
        public init(count: Int, shape: Resources, reason: String) {
            self.count = count
            self.shape = shape
            self.reason = reason
        }
    }

    public struct Plan: Hashable, Sendable, Codable {
        public var resizes: [VerticalPlanner.Resize] = []
        public var scales: [Scale] = []
        public var moves: [Move] = []
        public var idleCards: [IdleCard] = []
        /// Cards the planned moves would empty (consolidation).
        public var consolidated: [CardID] = []
        public var cardRequest: CardRequest?
        public init() {}
    }

    /// Why planned moves are not made: said on every one.
    public static let movesNotCarriedOut = "planned only: the BMC does not carry out moves yet (make-before-break moves are not built); drain the card or scale to act on it"

    public static func plan(_ s: Snapshot, settings: Settings = Settings()) -> Plan {
        var plan = Plan()
        let autoscaled = Set(s.workloads.filter { $0.autoscale != nil }.map(\.key))
        // Autoscaled workloads change replicas, not sizes (as Kubernetes advises: not both on CPU).
        // They still hold their room on their cards: left in, as `off`.
        let sizing = s.instances.map { i -> VerticalPlanner.Instance in
            var sized = i.sizing
            if autoscaled.contains(i.workload) { sized.mode = .off }
            return sized
        }
        let schedulable = s.cards.filter(\.schedulable)
        let capacity = Dictionary(s.cards.map { ($0.id, $0.capacity) }, uniquingKeysWith: { a, _ in a })
        plan.resizes = VerticalPlanner.plan(sizing, cards: capacity, now: s.now, settings: settings.vertical)
        plan.scales = scales(s.workloads, now: s.now, settings: settings)

        // What each instance will need: its resize target when it grows (made or held), else
        // what it holds now.
        // By index into `s.instances` (a bus has 100,000: no per-id dictionaries on hot paths).
        var need = s.instances.map(\.sizing.current)
        let index = Dictionary(s.instances.enumerated().map { ($1.sizing.id, $0) }, uniquingKeysWith: { a, _ in a })
        // Beyond the largest card no move helps: such a need counts at what the card has.
        let largest = s.cards.map(\.capacity).reduce(Resources()) { Resources(cpuMillis: max($0.cpuMillis, $1.cpuMillis), memoryBytes: max($0.memoryBytes, $1.memoryBytes)) }
        // Only `vertical: auto` growth counts: a recommendation is not going to happen.
        for r in plan.resizes where r.held != VerticalPlanner.recommendOnly {
            let wanted = r.wanted ?? r.to
            guard VerticalPlanner.grows(r.from, wanted) else { continue }
            var n = wanted
            n.cpuMillis = max(r.from.cpuMillis, min(n.cpuMillis, largest.cpuMillis))
            n.memoryBytes = max(r.from.memoryBytes, min(n.memoryBytes, largest.memoryBytes))
            if let k = index[r.instance] { need[k] = n }
        }
        var load: [CardID: Resources] = [:]
        var residents: [CardID: [Int]] = [:]
        for (k, i) in s.instances.enumerated() {
            load[i.sizing.card, default: Resources()] += need[k]
            residents[i.sizing.card, default: []].append(k)
        }

        // Moves off over-committed cards: lowest priority first, then the largest need.
        var free: [CardID: Resources] = [:]
        for c in schedulable { free[c.id] = c.capacity - (load[c.id] ?? Resources()) }
        for card in s.cards.sorted(by: { $0.id < $1.id }) {
            var over = (load[card.id] ?? Resources()) - card.capacity
            guard over.cpuMillis > 0 || over.memoryBytes > 0 else { continue }
            let candidates = (residents[card.id] ?? []).sorted {
                (sizing[$0].priority, -Self.weight(need[$0]), sizing[$0].id) < (sizing[$1].priority, -Self.weight(need[$1]), sizing[$1].id)
            }
            for c in candidates where over.cpuMillis > 0 || over.memoryBytes > 0 {
                let n = need[c]
                over = over - n
                guard plan.moves.count < settings.moveBudget else { continue }  // planned again next interval
                let target = schedulable.filter { $0.id != card.id && Self.fits(n, in: free[$0.id] ?? Resources()) }
                    .max { (Self.weight(free[$0.id]!), $1.id) < (Self.weight(free[$1.id]!), $0.id) }
                let reason = "card \(card.id) (\(card.name)) would need \(load[card.id] ?? Resources()) by the forecast, has \(card.capacity)"
                // No card has room for it: more cards would help only once moves are carried
                // out; until then a card requested for it would stand idle (and be released, and
                // requested again), so it is not counted. Its held resize says "card full".
                if let target {
                    free[target.id] = free[target.id]! - n
                    plan.moves.append(Move(instance: sizing[c].id, from: card.id, to: target.id, applied: false, held: movesNotCarriedOut, reason: reason))
                }
            }
        }

        // Waiting instances that fit nowhere, even after the planned moves, need new cards.
        var unmet: [Resources] = []
        let byID = schedulable.sorted(by: { $0.id < $1.id })
        for w in s.waiting.sorted(by: { (Self.weight($0.resources), $1.instance) > (Self.weight($1.resources), $0.instance) }) {
            if let card = byID.first(where: { Self.fits(w.resources, in: free[$0.id] ?? Resources()) }) {
                free[card.id] = free[card.id]! - w.resources
            } else {
                unmet.append(w.resources)
            }
        }
        if !unmet.isEmpty {
            let shape = Self.usualShape(s.cards)
            let count = Self.cardsNeeded(unmet, shape: shape)
            if count > 0 {
                plan.cardRequest = CardRequest(count: count, shape: shape,
                                               reason: "\(unmet.count) instance(s) waiting for room (\(unmet.reduce(Resources(), +)) in all) fit on no card")
            } else {
                plan.cardRequest = CardRequest(count: 0, shape: shape, reason: "\(unmet.count) instance(s) are larger than any card of the usual shape \(shape): no number of such cards holds them")
            }
        }
        // Consolidation: a card the forecast leaves under-used whose instances the rest of the
        // bus absorbs (after the moves above) is emptied, most expensive first; its instances'
        // moves are planned, and it is then releasable.
        if plan.cardRequest == nil {
            var emptied: Set<CardID> = []
            // Cards moves leave from or go to: never emptied in the same plan.
            var involved = Set(plan.moves.flatMap { [$0.from, $0.to] })
            let used = schedulable.filter { c in !(residents[c.id] ?? []).isEmpty && !involved.contains(c.id) }
            // At most twice the move budget of cards are tried per plan (each try looks at every card).
            var tries = 0
            for card in used.sorted(by: { ($0.costPerHour, $1.id) > ($1.costPerHour, $0.id) }) where tries < 2 * settings.moveBudget && plan.moves.count < settings.moveBudget {
                guard !involved.contains(card.id) else { continue }  // it took another card's instances
                let l = load[card.id] ?? Resources()
                guard Double(l.cpuMillis) < settings.underUsed * Double(card.capacity.cpuMillis), Double(l.memoryBytes) < settings.underUsed * Double(card.capacity.memoryBytes) else { continue }
                let movers = (residents[card.id] ?? []).sorted { (-Self.weight(need[$0]), sizing[$0].id) < (-Self.weight(need[$1]), sizing[$1].id) }
                guard plan.moves.count + movers.count <= settings.moveBudget, card.costPerHour > settings.moveCost * Double(movers.count) else { continue }
                tries += 1
                var trial = free
                var planned: [Move] = []
                for m in movers {
                    let n = need[m]
                    // Onto a card that stays (not emptied, not this one), the fullest that fits (packs).
                    guard let target = schedulable.filter({ $0.id != card.id && !emptied.contains($0.id) && !(residents[$0.id] ?? []).isEmpty && Self.fits(n, in: trial[$0.id] ?? Resources()) })
                        .min(by: { (Self.weight(trial[$0.id]!), $0.id) < (Self.weight(trial[$1.id]!), $1.id) }) else { planned = []; break }
                    trial[target.id] = trial[target.id]! - n
                    planned.append(Move(instance: sizing[m].id, from: card.id, to: target.id, applied: false, held: movesNotCarriedOut,
                                        reason: "consolidation: card \(card.id) (\(card.name), \(card.costPerHour)/h) would use \(l) of \(card.capacity) by the forecast; the rest of the bus holds its instances"))
                }
                guard planned.count == movers.count else { continue }
                free = trial
                emptied.insert(card.id)
                for m in planned { involved.insert(m.to) }
                plan.moves += planned
                plan.consolidated.append(card.id)
            }
        }
        // Idle: schedulable, running nothing, and nothing waiting went there.
        if plan.cardRequest == nil {
            plan.idleCards = schedulable.filter { (residents[$0.id] ?? []).isEmpty && free[$0.id] == $0.capacity }
                .sorted { ($0.costPerHour, $1.id) > ($1.costPerHour, $0.id) }
                .map { IdleCard(card: $0.id, name: $0.name, costPerHour: $0.costPerHour) }
        }
        return plan
    }

    static func scales(_ workloads: [Workload], now: Double, settings: Settings) -> [Scale] {
        var out: [Scale] = []
        for w in workloads.sorted(by: { $0.key < $1.key }) {
            guard let a = w.autoscale, w.requestCPU > 0 else { continue }
            let target = Double(a.target) / 100
            let forecast = w.forecastCPU.isFinite && w.forecastCPU > 0 ? min(w.forecastCPU, 1e15) : 0
            let load = forecast / Double(w.requestCPU)  // in replicas' worth of requested CPU
            let current = max(0, w.replicas)
            var wanted = current
            let utilisation = load / Double(max(current, 1))
            if current == 0 || abs(utilisation / target - 1) > settings.tolerance {
                wanted = Int(min((load / target).rounded(.up), 1e6))
            }
            wanted = min(max(wanted, a.min), a.max)
            // The step limit and the scale-down window are AWB's HorizontalScaling (HPA's rule).
            let hpa = HorizontalScaling(targetUtilisation: target, tolerance: settings.tolerance, minReplicas: a.min, maxReplicas: a.max,
                                        scaleDownWindow: .milliseconds(Int64(max(0, min(settings.scaleDownWindow, 1e9)) * 1000)), maxStepUp: max(1, settings.maxStepUp))
            func instant(_ t: Double) -> Instant { Instant(nanoseconds: UInt64(t.isFinite ? max(0, min(t, 1e10)) * 1e9 : 0)) }
            let to = hpa.recommend(current: current, forecastLoad: load, history: w.history.map { (instant($0.time), $0.replicas) }, now: instant(now))
            guard to != current || wanted != current else { continue }
            let reason = "cpu p99 forecast \(VerticalPlanner.fmt(forecast / 1000)) cores (using \(VerticalPlanner.fmt(max(0, w.usageCPU) / 1000))) over \(current) × \(VerticalPlanner.fmt(Double(w.requestCPU) / 1000)) requested is \(Int((utilisation * 100).rounded()))%, target \(a.target)% → \(wanted) replica(s)"
                + (to != wanted ? (to > current ? " (at most \(settings.maxStepUp) more per interval)" : " (held at \(to) by the \(Int(settings.scaleDownWindow)) s scale-down window)") : "")
            out.append(Scale(workload: w.key, from: current, to: to, recommended: wanted, reason: reason))
        }
        return out
    }

    static func fits(_ r: Resources, in free: Resources) -> Bool { r.cpuMillis <= free.cpuMillis && r.memoryBytes <= free.memoryBytes }
    /// A size to order by: CPU millicores plus memory MiB.
    static func weight(_ r: Resources) -> Double { Double(r.cpuMillis) + Double(r.memoryBytes) / Double(1 << 20) }

    /// The capacity most cards have (ties: the larger); a card of 1 core and 1 GiB when there are none.
    static func usualShape(_ cards: [Card]) -> Resources {
        var counts: [Resources: Int] = [:]
        for c in cards { counts[Resources(cpuMillis: c.capacity.cpuMillis, memoryBytes: c.capacity.memoryBytes), default: 0] += 1 }
        return counts.max { ($0.value, weight($0.key), $0.key.cpuMillis) < ($1.value, weight($1.key), $1.key.cpuMillis) }?.key ?? Resources(cpuMillis: 1000, memoryBytes: 1 << 30)
    }

    /// New cards of `shape` that hold `demands` (first fit, largest first); 0 when one is larger
    /// than the shape.
    static func cardsNeeded(_ demands: [Resources], shape: Resources) -> Int {
        guard demands.allSatisfy({ fits($0, in: shape) }) else { return 0 }
        var bins: [Resources] = []
        for d in demands.sorted(by: { weight($0) > weight($1) }) {
            if let i = bins.firstIndex(where: { fits(d, in: $0) }) { bins[i] = bins[i] - d } else { bins.append(shape - d) }
        }
        return bins.count
    }
}
