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
/// - an increase must fit in its card's free capacity now (not counting this plan's decreases,
///   which the card may refuse); when it does not, it grows into what is free, higher priority
///   first, and what is left is held ("card full": a move is the allocator's next tool);
/// - at most `churn` resizes are applied per plan: increases first (priority, then shortfall),
///   then decreases (largest saving first).
/// Instances in `recommend` mode get the same rows, marked not applied, and take no churn or
/// capacity; `off` instances are left out.
public enum VerticalPlanner {
    public typealias Mode = VerticalMode

    /// The `held` of every row of a `vertical: recommend` instance.
    public static let recommendOnly = "vertical: recommend"

    public struct Settings: Hashable, Sendable {
        public var headroom = 1.15
        /// Live usage × this is the floor (CPU and memory).
        public var usageMargin = 1.10
        public var band = 0.10
        public var cooldown = 300.0
        public var churn = 10
        public var minimum = Resources(cpuMillis: 10, memoryBytes: 16 << 20)
        /// CPU usage is censored at the limit: an instance throttled in at least this share of
        /// its CFS periods wants more than it shows, so its CPU grows by `throttleStep` at least.
        public var throttleThreshold = 0.10
        public var throttleStep = 1.5
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
        /// Share of its CFS periods throttled in the last interval (0–1).
        public var throttled: Double = 0
        /// The long-horizon (1 h) forecast: a decrease goes no lower than it.
        public var longForecastCPU: Double = 0
        public var longForecastMemory: Double = 0

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
        /// What it would have grown to with room on its card (when `to` is less, or held).
        public var wanted: Resources?

        public init(instance: String, card: CardID, from: Resources, to: Resources, applied: Bool, held: String?, reason: String, wanted: Resources? = nil) {
            self.instance = instance
            self.card = card
            self.from = from
            self.to = to
            self.applied = applied
            self.held = held
            self.reason = reason
            self.wanted = wanted == to ? nil : wanted
        }
    }

    /// The plan for `instances` on `cards` (capacity by card) at `now`. Deterministic; rows in
    /// instance id order. Works on indices: a bus has 100,000 instances and sorting the structs
    /// themselves was most of a plan's time.
    public static func plan(_ instances: [Instance], cards: [CardID: Resources], now: Double, settings: Settings = Settings()) -> [Resize] {
        // What each instance wants (in id order), as (instance index, target, reason).
        var wanted: [(index: Int, to: Resources, reason: String)] = []
        for k in instances.indices.sorted(by: { instances[$0].id < instances[$1].id }) where instances[k].mode != .off {
            guard let (to, reason) = target(instances[k], now: now, settings: settings) else { continue }
            wanted.append((k, to, reason))
        }
        // Free capacity per card: what every instance on it holds now is taken.
        var free = cards
        for i in instances { free[i.card] = (free[i.card] ?? Resources()) - i.current }
        var budget = max(0, settings.churn)
        // Positions in `wanted` of auto instances' decreases (largest saving first) and
        // increases (priority, then shortfall); ties by id, which is `wanted`'s order.
        var decreases: [(position: Int, saving: Double)] = []
        var increases: [(position: Int, priority: Int, shortfall: Double)] = []
        for (position, w) in wanted.enumerated() where instances[w.index].mode == .auto {
            let current = instances[w.index].current
            if grows(current, w.to) {
                increases.append((position, instances[w.index].priority, shortfall(current, w.to)))
            } else {
                decreases.append((position, saving(current, w.to)))
            }
        }
        decreases.sort { ($0.saving, $1.position) > ($1.saving, $0.position) }
        increases.sort { ($0.priority, $0.shortfall, $1.position) > ($1.priority, $1.shortfall, $0.position) }
        var rows = [Resize?](repeating: nil, count: wanted.count)
        // Increases go first and take the churn budget; decreases take what is left. An
        // increase gets only the room its card has now, not what this plan's decreases will
        // free: a decrease the card refuses (or never answers) would leave the card
        // over-committed. The room a decrease frees is there for the next plan.
        for inc in increases {
            let w = wanted[inc.position], i = instances[w.index]
            let extra = w.to - i.current
            let room = free[i.card] ?? Resources()
            var held: String?
            if budget == 0 {
                held = "churn budget of \(settings.churn) resizes used"
            } else if extra.cpuMillis > room.cpuMillis || extra.memoryBytes > room.memoryBytes {
                // Grow into what the card has left, when that is a change worth making.
                var part = w.to
                part.cpuMillis = min(w.to.cpuMillis, i.current.cpuMillis.saturatingAdd(max(0, room.cpuMillis)))
                part.memoryBytes = min(w.to.memoryBytes, i.current.memoryBytes.saturatingAdd(max(0, room.memoryBytes)))
                let full = "card \(i.card) full (needs \(extra), has \(Resources(cpuMillis: max(0, room.cpuMillis), memoryBytes: max(0, room.memoryBytes))) free)"
                if Double(part.cpuMillis) > Double(max(i.current.cpuMillis, 1)) * (1 + settings.band) || Double(part.memoryBytes) > Double(max(i.current.memoryBytes, 1)) * (1 + settings.band) {
                    budget -= 1
                    free[i.card] = room - (part - i.current)
                    rows[inc.position] = Resize(instance: i.id, card: i.card, from: i.current, to: part, applied: true,
                                                held: nil, reason: w.reason + " (\(full): grows to \(part), short of \(w.to))", wanted: w.to)
                    continue
                }
                held = full + ": a move, not a resize"
            } else {
                budget -= 1
                free[i.card] = room - extra
            }
            rows[inc.position] = Resize(instance: i.id, card: i.card, from: i.current, to: w.to, applied: held == nil, held: held, reason: w.reason, wanted: w.to)
        }
        for d in decreases {
            let w = wanted[d.position], i = instances[w.index]
            let made = budget > 0
            if made { budget -= 1 }
            rows[d.position] = Resize(instance: i.id, card: i.card, from: i.current, to: w.to, applied: made,
                                      held: made ? nil : "churn budget of \(settings.churn) resizes used", reason: w.reason)
        }
        for (position, w) in wanted.enumerated() where instances[w.index].mode == .recommend {
            let i = instances[w.index]
            rows[position] = Resize(instance: i.id, card: i.card, from: i.current, to: w.to, applied: false, held: recommendOnly, reason: w.reason)
        }
        return rows.compactMap { $0 }
    }

    /// What one instance should have, when that differs enough from what it has.
    static func target(_ i: Instance, now: Double, settings: Settings) -> (Resources, String)? {
        func clean(_ x: Double) -> Double { x.isFinite && x > 0 ? min(x, 1e15) : 0 }
        let throttled = i.throttled.isFinite && i.throttled >= settings.throttleThreshold
        var cpuWant = max(clean(i.forecastCPU) * settings.headroom, clean(i.usageCPU) * settings.usageMargin, Double(settings.minimum.cpuMillis))
        if throttled { cpuWant = max(cpuWant, Double(i.current.cpuMillis) * settings.throttleStep) }
        let memWant = max(clean(i.forecastMemory) * settings.headroom, clean(i.usageMemory) * settings.usageMargin, Double(settings.minimum.memoryBytes))
        // Down no lower than the long horizon's forecast (what the next hour will want back).
        let cpuFloor = clean(i.longForecastCPU), memoryFloor = clean(i.longForecastMemory)
        let cpu = min(Resources.maximum.cpuMillis, Int64((min(cpuWant, 1e15) / 10).rounded(.up)) * 10)
        let memory = min(Resources.maximum.memoryBytes, Int64((min(memWant, 1e15) / Double(1 << 20)).rounded(.up)) << 20)
        var to = i.current
        var why: [String] = []
        let coolingDown = i.lastResized.map { now - $0 < settings.cooldown } ?? false
        func decide(_ have: Int64, _ want: Int64, floor: Double, unit: Int64) -> Int64 {
            let h = Double(max(have, 1))
            if Double(want) > h * (1 + settings.band) { return want }
            let down = max(want, min(have, Int64((floor / Double(unit)).rounded(.up)) * unit))
            if Double(down) < h * (1 - settings.band), !coolingDown { return down }
            return have
        }
        to.cpuMillis = decide(i.current.cpuMillis, cpu, floor: cpuFloor, unit: 10)
        to.memoryBytes = decide(i.current.memoryBytes, memory, floor: memoryFloor, unit: 1 << 20)
        if to.cpuMillis != i.current.cpuMillis {
            let throttling = throttled ? ", throttled in \(Int((i.throttled * 100).rounded()))% of periods" : ""
            let forecast = clean(i.forecastCPU) > 0 ? "cpu p99 forecast \(fmt(clean(i.forecastCPU) / 1000)) cores" : "cpu (no forecast yet)"
            why.append("\(forecast), using \(fmt(clean(i.usageCPU) / 1000))\(throttling), limit \(fmt(Double(i.current.cpuMillis) / 1000)) → \(fmt(Double(to.cpuMillis) / 1000))")
        }
        if to.memoryBytes != i.current.memoryBytes {
            let forecast = clean(i.forecastMemory) > 0 ? "memory p99 forecast \(mib(clean(i.forecastMemory))) MiB" : "memory (no forecast yet)"
            why.append("\(forecast), working set \(mib(clean(i.usageMemory))) MiB, limit \(mib(Double(i.current.memoryBytes))) → \(mib(Double(to.memoryBytes))) MiB")
        }
        guard !why.isEmpty else { return nil }
        return (to, why.joined(separator: "; "))
    }

    /// Whether `to` is larger than `from` in CPU or memory.
    public static func grows(_ from: Resources, _ to: Resources) -> Bool { to.cpuMillis > from.cpuMillis || to.memoryBytes > from.memoryBytes }
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
