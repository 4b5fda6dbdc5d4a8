import BackplaneModel

/// Why an instance cannot be placed now, as data (never thrown): how many cards each filter
/// refused, the binding dimension (the refusal most cards share) and its numbers.
/// "insufficient gpu on 1,310 of 1,523 cards (requested 2 GPU, largest free 1.5 GPU); GPU model constraint on 200"
public struct Unschedulable: Hashable, Sendable, CustomStringConvertible {
    /// Cards on the bus.
    public var cards: Int
    /// Cards refused per reason (a card short of CPU and GPU counts for both).
    public var refusals: [Refusal: Int]
    /// The refusal shared by the most ready cards; `.notReady` only when no card is ready.
    public var binding: Refusal?
    /// The binding dimension's request and the most any card has free of it (formatted), when it is a resource.
    public var requested: String?
    public var largestFree: String?
    /// For quota: what the tenant holds and may hold.
    public var detail: String?

    public init(cards: Int, refusals: [Refusal: Int], binding: Refusal?, requested: String? = nil, largestFree: String? = nil, detail: String? = nil) {
        self.cards = cards
        self.refusals = refusals
        self.binding = binding
        self.requested = requested
        self.largestFree = largestFree
        self.detail = detail
    }

    public var description: String {
        guard cards > 0 || binding == .quota else { return "no cards on the bus" }
        guard let binding else { return "no card fits" }
        if binding == .quota { return "tenant quota exceeded" + (detail.map { " (\($0))" } ?? "") }
        var head = "\(binding) on \(grouped(refusals[binding] ?? 0)) of \(grouped(cards)) cards"
        if let requested, let largestFree { head += " (requested \(requested), largest free \(largestFree))" }
        let others = refusals.filter { $0.key != binding && $0.value > 0 }
            .sorted { ($1.value, $0.key) < ($0.value, $1.key) }
            .map { "\($0.key) on \(grouped($0.value))" }
        return ([head] + others).joined(separator: "; ")
    }

    /// The v1 reason, when the binding refusal is a v1 resource dimension.
    public var pendingReason: PendingReason? {
        let dimension: ResourceDimension?
        switch binding {
        case .cpu: dimension = .cpu
        case .memory: dimension = .memory
        case .network: dimension = .network
        case .storageIOPS: dimension = .storageIOPS
        default: return nil
        }
        return PendingReason(dimension: dimension, requested: 0, largestFree: 0, cardsShort: refusals[binding!] ?? 0,
                             cardsConsidered: cards - (refusals[.notReady] ?? 0), notReady: [:])
    }

    static func quota(_ demand: InstanceDemand, usage: TenantUsage, quota: TenantQuota, cards: Int) -> Unschedulable {
        let gpu = quota.gpuMilli == .max ? "" : ", gpu \(usage.gpuMilli)m of \(quota.gpuMilli)m"
        return Unschedulable(cards: cards, refusals: [.quota: cards], binding: .quota,
                             detail: "tenant \(demand.tenant) holds \(usage.resources) of \(quota.limit)\(gpu); requested \(demand.resources)\(demand.gpu.count > 0 ? ", \(demand.gpu)" : "")")
    }
}

/// 1523 → "1,523".
func grouped(_ n: Int) -> String {
    let digits = String(abs(n))
    var out = ""
    for (k, ch) in digits.enumerated() {
        if k > 0 && (digits.count - k) % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return (n < 0 ? "-" : "") + out
}

extension PlacementEngine {
    /// Counts refusals over every card (by class), names the binding one and its numbers.
    mutating func unschedulable(_ t: Int, demand: InstanceDemand, antiAffinityClasses: Set<Int>) -> Unschedulable {
        // The reason depends on the demand shape and the bus only: reuse it while the bus is unchanged.
        if antiAffinityClasses.isEmpty, let cached = pendingCache[t], cached.version == busVersion { return cached.reason }
        let reason = computeUnschedulable(t, demand: demand, antiAffinityClasses: antiAffinityClasses)
        if antiAffinityClasses.isEmpty { pendingCache[t] = (busVersion, reason) }
        return reason
    }

    mutating func computeUnschedulable(_ t: Int, demand: InstanceDemand, antiAffinityClasses: Set<Int>) -> Unschedulable {
        var counts = [Int](repeating: 0, count: Refusal.allCases.count)
        // Every live class needs a verdict; then count cards per refusal signature in one tight pass.
        var missing: [Int] = []
        do {
            let known = refusalTable[t], sizes = slotSize
            for slot in 0..<sizes.count where sizes[slot] > 0 && (slot >= known.count || known[slot] == Self.unknownRefusals) { missing.append(slot) }
        }
        for slot in missing { _ = verdict(slot, t) }
        var bySignature = [Int](repeating: 0, count: 1 << Refusal.allCases.count)
        let table = refusalTable[t]
        let sizes = slotSize
        if antiAffinityClasses.isEmpty {
            table.withUnsafeBufferPointer { refusals in
                sizes.withUnsafeBufferPointer { sizes in
                    for slot in 0..<min(refusals.count, sizes.count) where sizes[slot] > 0 { bySignature[Int(refusals[slot])] += sizes[slot] }
                }
            }
        } else {
            for slot in 0..<sizes.count where sizes[slot] > 0 {
                if antiAffinityClasses.contains(slot) { counts[Refusal.antiAffinity.rawValue] += sizes[slot] } else { bySignature[Int(table[slot])] += sizes[slot] }
            }
        }
        for (signature, cards) in bySignature.enumerated() where cards > 0 && signature != 0 {
            var bits = signature
            while bits != 0 {
                counts[bits.trailingZeroBitCount] += cards
                bits &= bits - 1
            }
        }
        var refusals: [Refusal: Int] = [:]
        for r in Refusal.allCases where counts[r.rawValue] > 0 { refusals[r] = counts[r.rawValue] }
        let ready = refusals.filter { $0.key != .notReady }
        let binding = ready.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key ?? (refusals[.notReady] != nil ? .notReady : nil)
        var requested: String?, free: String?
        if let binding, let dimension = Self.dimension(binding) {
            var largest: Int64 = 0
            for slot in 0..<slotSize.count where slotSize[slot] > 0 && slotReady[slot] {
                largest = max(largest, dimension.amount(slotFree[slot]))
            }
            requested = dimension.format(dimension.amount(demand.resources))
            free = dimension.format(largest)
        } else if binding == .gpu {
            let mask = demandShapes[t].modelMask
            var largest = 0
            for slot in 0..<slotSize.count where slotSize[slot] > 0 && slotReady[slot] && slotIdleGPU[slot] > largest {
                if mask == .max { largest = slotIdleGPU[slot]; continue }
                var idle = 0
                for d in classes[slot].view.devices where allows(mask, d.model) { idle += d.free }
                largest = max(largest, idle)
            }
            requested = demand.gpu.description
            free = Self.formatGPU(largest)
        }
        return Unschedulable(cards: cards.count, refusals: refusals, binding: binding, requested: requested, largestFree: free)
    }

    static func dimension(_ r: Refusal) -> ResourceDimension? {
        switch r {
        case .cpu: return .cpu
        case .memory: return .memory
        case .network: return .network
        case .storageIOPS: return .storageIOPS
        default: return nil
        }
    }

    static func formatGPU(_ milli: Int) -> String {
        milli % 1000 == 0 ? "\(milli / 1000) GPU" : "\(Double(milli) / 1000) GPU"
    }
}
