import BackplaneModel

/// The allocator's in-place resizes (pure; issue 13, "Allocator"): from each running instance's
/// short-horizon forecast and its live usage, the CPU and memory limits it should have, and which
/// of those changes to make now. Not yet called by the BMC (the allocator service is the next
/// step); `SizingSimulator` replays the same rule on recorded demand.
///
/// Rules, per instance and resource:
/// - target = max(forecast × headroom, live usage × margin, minimum): never below what it uses
///   now (memory never under its working set);
/// - a change smaller than `band` of the current limit is not made (hysteresis);
/// - up at once; down only `cooldown` seconds after the instance's last resize;
/// - an increase must fit in its card's free capacity after this plan's decreases; when it does
///   not, higher priority goes first and lower priority yields ("card full": a move is the
///   allocator's next tool);
/// - at most `churn` resizes are applied per plan: increases first (priority, then shortfall),
///   then decreases (largest saving first).
/// Instances in `recommend` mode get the same rows, marked not applied, and take no churn or
/// capacity; `off` instances are left out.
public enum VerticalPlanner {
    public enum Mode: String, Sendable, Codable, CaseIterable {
        case auto, recommend, off
    }

    public struct Settings: Hashable, Sendable {
        public var headroom = 1.15
        /// Live usage × this is the floor (CPU and memory).
        public var usageMargin = 1.10
        public var band = 0.10
        public var cooldown = 300.0
        public var churn = 10
        public var minimum = Resources(cpuMillis: 10, memoryBytes: 16 << 20)
        public init() {}
    }

    public struct Instance: Hashable, Sendable {
        public var id: String
        public var card: CardID
        public var priority: Int
        public var mode: Mode
        /// The limits it runs with (what its card reserves for it).
        public var current: Resources
        /// Live usage (CPU millicores, memory working set in bytes).
        public var usageCPU: Double
        public var usageMemory: Double
        /// The short-horizon forecast (p99 of the coming minutes), same units.
        public var forecastCPU: Double
        public var forecastMemory: Double
        /// Seconds (the caller's clock) of its last resize, if any.
        public var lastResized: Double?

        public init(id: String, card: CardID, priority: Int = 0, mode: Mode = .auto, current: Resources, usageCPU: Double, usageMemory: Double,
                    forecastCPU: Double, forecastMemory: Double, lastResized: Double? = nil) {
            self.id = id
            self.card = card
            self.priority = priority
            self.mode = mode
            self.current = current
            self.usageCPU = usageCPU
            self.usageMemory = usageMemory
            self.forecastCPU = forecastCPU
            self.forecastMemory = forecastMemory
            self.lastResized = lastResized
        }
    }

    public struct Resize: Hashable, Sendable, Codable {
        public var instance: String
        public var card: CardID
        public var from: Resources
        public var to: Resources
        /// False: recommended only (`recommend` mode), or not made this time (see `held`).
        public var applied: Bool
        /// Why it is not made now (card full, churn budget), when it is not.
        public var held: String?
        /// One line with the numbers behind it.
        public var reason: String
    }

    /// The plan for `instances` on `cards` (capacity by card) at `now`. Deterministic.
    public static func plan(_ instances: [Instance], cards: [CardID: Resources], now: Double, settings: Settings = Settings()) -> [Resize] {
        var wanted: [(instance: Instance, to: Resources, reason: String)] = []
        for i in instances.sorted(by: { $0.id < $1.id }) where i.mode != .off {
            guard let (to, reason) = target(i, now: now, settings: settings) else { continue }
            wanted.append((i, to, reason))
        }
        // Free capacity per card: what every instance on it holds now is taken.
        var free = cards
        for i in instances { free[i.card] = (free[i.card] ?? Resources()) - i.current }
        var budget = max(0, settings.churn)
        // Decreases of auto instances first: they free room for the increases.
        let decreases = wanted.filter { $0.instance.mode == .auto && !grows($0.instance.current, $0.to) }
            .sorted { saving($0.instance.current, $0.to) > saving($1.instance.current, $1.to) || (saving($0.instance.current, $0.to) == saving($1.instance.current, $1.to) && $0.instance.id < $1.instance.id) }
        let increases = wanted.filter { $0.instance.mode == .auto && grows($0.instance.current, $0.to) }
            .sorted { ($0.instance.priority, shortfall($0.instance.current, $0.to), $1.instance.id) > ($1.instance.priority, shortfall($1.instance.current, $1.to), $0.instance.id) }
        var decided: [String: Resize] = [:]
        // Increases take the churn budget first, but their room comes from every decrease that
        // will be made, so decreases are counted against the budget after them.
        let decreasesMade = Array(decreases.prefix(max(0, budget - min(budget, increases.count))))
        for d in decreasesMade { free[d.instance.card] = (free[d.instance.card] ?? Resources()) + (d.instance.current - d.to) }
        for w in increases {
            let extra = w.to - w.instance.current
            let room = free[w.instance.card] ?? Resources()
            var held: String?
            if budget == 0 {
                held = "churn budget of \(settings.churn) resizes used"
            } else if extra.cpuMillis > room.cpuMillis || extra.memoryBytes > room.memoryBytes {
                held = "card \(w.instance.card) full (needs \(extra), has \(Resources(cpuMillis: max(0, room.cpuMillis), memoryBytes: max(0, room.memoryBytes))) free): a move, not a resize"
            } else {
                budget -= 1
                free[w.instance.card] = room - extra
            }
            decided[w.instance.id] = Resize(instance: w.instance.id, card: w.instance.card, from: w.instance.current, to: w.to, applied: held == nil, held: held, reason: w.reason)
        }
        for d in decreases {
            let made = budget > 0 && decreasesMade.contains { $0.instance.id == d.instance.id }
            if made { budget -= 1 }
            decided[d.instance.id] = Resize(instance: d.instance.id, card: d.instance.card, from: d.instance.current, to: d.to, applied: made,
                                            held: made ? nil : "churn budget of \(settings.churn) resizes used", reason: d.reason)
        }
        for w in wanted where w.instance.mode == .recommend {
            decided[w.instance.id] = Resize(instance: w.instance.id, card: w.instance.card, from: w.instance.current, to: w.to, applied: false, held: "vertical: recommend", reason: w.reason)
        }
        return decided.values.sorted { $0.instance < $1.instance }
    }

    /// What one instance should have, when that differs enough from what it has.
    static func target(_ i: Instance, now: Double, settings: Settings) -> (Resources, String)? {
        func clean(_ x: Double) -> Double { x.isFinite && x > 0 ? min(x, 1e15) : 0 }
        let cpuWant = max(clean(i.forecastCPU) * settings.headroom, clean(i.usageCPU) * settings.usageMargin, Double(settings.minimum.cpuMillis))
        let memWant = max(clean(i.forecastMemory) * settings.headroom, clean(i.usageMemory) * settings.usageMargin, Double(settings.minimum.memoryBytes))
        let cpu = min(Resources.maximum.cpuMillis, Int64((cpuWant / 10).rounded(.up)) * 10)
        let memory = min(Resources.maximum.memoryBytes, Int64((memWant / Double(1 << 20)).rounded(.up)) << 20)
        var to = i.current
        var why: [String] = []
        let coolingDown = i.lastResized.map { now - $0 < settings.cooldown } ?? false
        func decide(_ have: Int64, _ want: Int64) -> Int64 {
            let h = Double(max(have, 1))
            if Double(want) > h * (1 + settings.band) { return want }
            if Double(want) < h * (1 - settings.band), !coolingDown { return want }
            return have
        }
        to.cpuMillis = decide(i.current.cpuMillis, cpu)
        to.memoryBytes = decide(i.current.memoryBytes, memory)
        if to.cpuMillis != i.current.cpuMillis {
            why.append("cpu p99 forecast \(fmt(clean(i.forecastCPU) / 1000)) cores, using \(fmt(clean(i.usageCPU) / 1000)), limit \(fmt(Double(i.current.cpuMillis) / 1000)) → \(fmt(Double(to.cpuMillis) / 1000))")
        }
        if to.memoryBytes != i.current.memoryBytes {
            why.append("memory p99 forecast \(mib(clean(i.forecastMemory))) MiB, working set \(mib(clean(i.usageMemory))) MiB, limit \(mib(Double(i.current.memoryBytes))) → \(mib(Double(to.memoryBytes))) MiB")
        }
        guard !why.isEmpty else { return nil }
        return (to, why.joined(separator: "; "))
    }

    static func grows(_ from: Resources, _ to: Resources) -> Bool { to.cpuMillis > from.cpuMillis || to.memoryBytes > from.memoryBytes }
    /// Relative shortfall (the larger of CPU's and memory's).
    static func shortfall(_ from: Resources, _ to: Resources) -> Double {
        max(Double(to.cpuMillis - from.cpuMillis) / Double(max(from.cpuMillis, 1)), Double(to.memoryBytes - from.memoryBytes) / Double(max(from.memoryBytes, 1)))
    }
    /// Relative saving (the larger of CPU's and memory's decrease).
    static func saving(_ from: Resources, _ to: Resources) -> Double {
        max(Double(from.cpuMillis - to.cpuMillis) / Double(max(from.cpuMillis, 1)), Double(from.memoryBytes - to.memoryBytes) / Double(max(from.memoryBytes, 1)))
    }
    static func fmt(_ x: Double) -> String { String(Double(Int((x * 100).rounded())) / 100) }
    static func mib(_ x: Double) -> String { String(Int((x / Double(1 << 20)).rounded())) }
}
