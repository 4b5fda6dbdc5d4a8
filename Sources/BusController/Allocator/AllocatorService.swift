import BackplaneModel
import Foundation
import WorkloadBalancer

/// The BMC's Resource Allocator: every ``Configuration/interval`` the control loop takes a
/// snapshot (cards, instances, their live usage and throttling, per-workload forecasts for the
/// short and long horizons), asks ``Allocator`` (pure, in WorkloadBalancer) for a plan, and
/// carries out what it may: in-place resizes (reserved in the instance's record first when they
/// grow, then `runc update` on the card; a shrink is recorded once the card has made it) and
/// replica changes (the spec's `replicas`, written with compare-and-swap). Every action is an
/// event carrying its forecast and reason; planned moves, idle cards and card requests are
/// events when they change. `GET /v1/plan` (`backplane plan`) shows the next plan without
/// applying it.
public final class AllocatorService: Sendable {
    public struct Configuration: Sendable {
        /// How often the allocator plans (nil: never; `backplane plan` still shows a plan).
        public var interval: Duration? = .seconds(10)
        public var settings = Allocator.Settings()
        /// Forecasts for a resize up (the larger of them) and for a shrink's floor.
        public var shortHorizons = [WorkloadSeries.Horizon(seconds: 60), WorkloadSeries.Horizon(seconds: 300)]
        public var longHorizon = WorkloadSeries.Horizon(seconds: 3600)
        /// A workload's models are used once they have seen this many points (1 minute).
        public var minimumObserved = 6
        /// An executable run when the plan asks for cards (`request COUNT CPU_MILLICORES
        /// MEMORY_BYTES`) and when a card has been idle for ``releaseAfter`` seconds (`release
        /// CARD_ID NAME`): the hook to real machines (`bmc --provisioner`).
        public var provisioner: String?
        public var releaseAfter = 60.0
        public init() {}
    }

    /// The plan as the API shows it.
    public struct Report: Codable, Sendable {
        /// Wall-clock nanoseconds since 1970.
        public var time: Instant
        /// Seconds between plans; nil when the allocator is off (`bmc --allocator-interval 0`).
        public var intervalSeconds: Double?
        public var resizes: [VerticalPlanner.Resize]
        public var scales: [Allocator.Scale]
        public var moves: [Allocator.Move]
        /// Bus-wide (bus-admin only; empty for others).
        public var idleCards: [Allocator.IdleCard]
        /// More cards needed (bus-admin only).
        public var cardRequest: Allocator.CardRequest?
        /// Cards the planned consolidation moves would empty (bus-admin only).
        public var consolidated: [CardID]?
        /// Per workload: the forecasts the plan used.
        public var forecasts: [WorkloadForecast]
    }

    public struct WorkloadForecast: Codable, Sendable, Hashable {
        public var workload: String
        public var observedPoints: Int
        /// p99 of the short horizons (1 and 5 minutes), all instances: millicores and bytes.
        public var shortCPUMillicores: Double?
        public var shortMemoryBytes: Double?
        /// p99 of the next hour.
        public var longCPUMillicores: Double?
        public var longMemoryBytes: Double?
        public var usageCPUMillicores: Double
        public var usageMemoryBytes: Double
    }

    struct State: Sendable {
        var lastResized: [String: Double] = [:]
        var history: [String: [Allocator.Recommendation]] = [:]
        /// What was last said as an event, so unchanged plans stay quiet.
        var said: Set<String> = []
        /// The card request last handed to the provisioner (0: none).
        var requested = 0
        /// Idle cards: since when, and whether the provisioner was told to release them.
        var idleSince: [CardID: Double] = [:]
        var released: Set<CardID> = []
    }

    public let configuration: Configuration
    let state = LockedBox(State())

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// The snapshot the plan is made from (pure given its inputs).
    func snapshot(_ bus: Reconciler.Snapshot, usage: [Monitor.InstanceUsage], series: (String) -> WorkloadSeries?, now: Double) -> (Allocator.Snapshot, [WorkloadForecast]) {
        let memo = state.withLock { $0 }
        let usageByInstance = Dictionary(usage.map { ($0.point.instance, $0) }, uniquingKeysWith: { a, b in a.point.time >= b.point.time ? a : b })
        let specs = Dictionary(bus.workloads.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        var forecasts: [WorkloadForecast] = []
        var allocatorWorkloads: [Allocator.Workload] = []
        var perWorkload: [String: (short: (Double, Double)?, long: (Double, Double)?, usage: (Double, Double), count: Int)] = [:]
        // Grouped once: a bus has 100,000 instances (a filter per workload was quadratic).
        var runningByWorkload: [String: [InstanceRecord]] = [:]
        for r in bus.instances where r.instance.state == .running { runningByWorkload[r.workloadKey, default: []].append(r) }
        for spec in bus.workloads.sorted(by: { $0.key < $1.key }) {
            let mine = runningByWorkload[spec.key] ?? []
            let points = mine.compactMap { usageByInstance[$0.instance.id]?.point }
            let use = (points.reduce(0) { $0 + Self.finite($1.cpuMillicores) }, points.reduce(0) { $0 + Self.finite($1.memoryMaxBytes) })
            var short: (Double, Double)?
            var long: (Double, Double)?
            let s = series(spec.key)
            if let s, s.observed >= configuration.minimumObserved {
                let limits = configuration.shortHorizons.compactMap { s.limit(horizon: $0) }
                if !limits.isEmpty { short = (limits.map { Self.finite($0.cpuMillicores) }.max()!, limits.map { Self.finite($0.memoryBytes) }.max()!) }
                long = s.limit(horizon: configuration.longHorizon).map { (Self.finite($0.cpuMillicores), Self.finite($0.memoryBytes)) }
            }
            perWorkload[spec.key] = (short, long, use, max(1, points.count))
            forecasts.append(WorkloadForecast(workload: spec.key, observedPoints: s?.observed ?? 0, shortCPUMillicores: short?.0, shortMemoryBytes: short?.1,
                                              longCPUMillicores: long?.0, longMemoryBytes: long?.1, usageCPUMillicores: use.0, usageMemoryBytes: use.1))
            allocatorWorkloads.append(Allocator.Workload(key: spec.key, replicas: spec.replicas, autoscale: spec.autoscale, requestCPU: spec.resources.cpuMillis,
                                                         forecastCPU: max(short?.0 ?? 0, use.0), usageCPU: use.0, history: memo.history[spec.key] ?? []))
        }
        var instances: [Allocator.Instance] = []
        for r in bus.instances where r.instance.holdsResources {
            guard let card = r.instance.card else { continue }
            let spec = specs[r.workloadKey]
            var sizing = VerticalPlanner.Instance(id: r.instance.id, card: card, priority: r.instance.priority, mode: .off, current: r.instance.requested,
                                                  usageCPU: 0, usageMemory: 0, forecastCPU: 0, forecastMemory: 0, lastResized: memo.lastResized[r.instance.id])
            // Sized only when running with fresh usage; anything else only holds its room.
            if r.instance.state == .running, let spec, let u = usageByInstance[r.instance.id], u.card == card, let w = perWorkload[r.workloadKey] {
                sizing.mode = spec.vertical ?? .recommend
                sizing.usageCPU = Self.finite(u.point.cpuMillicores)
                sizing.usageMemory = Self.finite(u.point.memoryMaxBytes)
                // A point that began before the last resize measured the old limit's throttling:
                // taken as news, it would grow the instance a second time for the same shortage.
                let straddles = memo.lastResized[r.instance.id].map { $0 > u.point.time - u.point.seconds } ?? false
                sizing.throttled = straddles ? 0 : Self.finite(u.point.cpuThrottledFraction ?? 0)
                // The workload's forecast, split by each instance's share of its use now.
                let cpuShare = w.usage.0 > 0 ? sizing.usageCPU / w.usage.0 : 1 / Double(w.count)
                let memoryShare = w.usage.1 > 0 ? sizing.usageMemory / w.usage.1 : 1 / Double(w.count)
                sizing.forecastCPU = (w.short?.0 ?? 0) * cpuShare
                sizing.forecastMemory = (w.short?.1 ?? 0) * memoryShare
                sizing.longForecastCPU = (w.long?.0 ?? 0) * cpuShare
                sizing.longForecastMemory = (w.long?.1 ?? 0) * memoryShare
            }
            instances.append(Allocator.Instance(sizing: sizing, workload: r.workloadKey))
        }
        let waiting = bus.instances.compactMap { r -> Allocator.Waiting? in
            guard r.instance.state == .pending, let why = r.instance.pendingReason, !(why.detail ?? "").hasPrefix("tenant quota") else { return nil }
            let capacity = why.dimension == .cpu || why.dimension == .memory
            let noCards = why.dimension == nil && why.cardsConsidered == 0 && why.notReady.isEmpty
            return capacity || noCards ? Allocator.Waiting(instance: r.instance.id, resources: r.instance.requested) : nil
        }
        let cards = bus.cards.map { c in
            Allocator.Card(id: c.id, name: c.name, capacity: c.capacity, schedulable: c.state == .ready,
                           costPerHour: c.labels["cost-per-hour"].flatMap(Double.init).flatMap { $0.isFinite && $0 >= 0 ? $0 : nil } ?? 1)
        }
        return (Allocator.Snapshot(now: now, cards: cards, instances: instances, workloads: allocatorWorkloads, waiting: waiting), forecasts)
    }

    static func finite(_ x: Double) -> Double { x.isFinite && x > 0 ? x : 0 }

    /// Remembers what a carried-out plan decided: resize times, and every autoscaled
    /// workload's replica recommendation (unchanged ones too: the scale-down window needs them).
    func remember(_ plan: Allocator.Plan, workloads: [Allocator.Workload], now: Double) {
        state.withLock { state in
            for r in plan.resizes where r.applied { state.lastResized[r.instance] = now }
            let scaled = Dictionary(plan.scales.map { ($0.workload, $0.recommended) }, uniquingKeysWith: { a, _ in a })
            for w in workloads where w.autoscale != nil {
                var h = (state.history[w.key] ?? []).filter { now - $0.time < configuration.settings.scaleDownWindow }
                h.append(Allocator.Recommendation(time: now, replicas: scaled[w.key] ?? w.replicas))
                state.history[w.key] = h
            }
            let live = Set(workloads.map(\.key))
            state.history = state.history.filter { live.contains($0.key) }
        }
    }

    /// Forgets the resize time of instances that are gone.
    func forget(allBut instances: Set<String>) {
        state.withLock { $0.lastResized = $0.lastResized.filter { instances.contains($0.key) } }
    }

    /// The provisioner's calls this plan warrants (argument lists), remembering what was asked:
    /// a request when the plan's card count first appears or changes, a release for each card
    /// idle for ``Configuration/releaseAfter`` seconds (once, until it is busy again).
    func provisionerCalls(_ plan: Allocator.Plan, now: Double) -> [[String]] {
        state.withLock { state in
            var calls: [[String]] = []
            let count = plan.cardRequest?.count ?? 0
            if count != state.requested {
                state.requested = count
                if count > 0, let shape = plan.cardRequest?.shape {
                    calls.append(["request", "\(count)", "\(shape.cpuMillis)", "\(shape.memoryBytes)"])
                }
            }
            let idle = Dictionary(plan.idleCards.map { ($0.card, $0.name) }, uniquingKeysWith: { a, _ in a })
            state.idleSince = state.idleSince.filter { idle[$0.key] != nil }
            state.released = state.released.filter { idle[$0] != nil }
            for (card, name) in idle.sorted(by: { $0.key < $1.key }) {
                let since = state.idleSince[card] ?? now
                state.idleSince[card] = since
                if now - since >= configuration.releaseAfter, state.released.insert(card).inserted {
                    calls.append(["release", card.description, name])
                }
            }
            return calls
        }
    }

    /// Of `lines` (key → what to say), those not said in the previous plan, in key order;
    /// forgets what is gone.
    func fresh<Line>(_ lines: [String: Line]) -> [Line] {
        state.withLock { state in
            let new = lines.keys.filter { !state.said.contains($0) }.sorted().map { lines[$0]! }
            state.said = Set(lines.keys)
            return new
        }
    }
}
