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

    /// As the model's `PendingReason` (what the BMC stores), when the binding refusal is a resource dimension.
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
    /// Per demand shape: cards refused per reason, kept current from the log of class size changes
    /// (a pending decision replays the changes since its last one instead of scanning every class).
    struct RefusalCounts {
        /// Cards per `Refusal.rawValue`.
        var counts: [Int]
        /// What is counted per class slot: its size and its refusal bits for this shape.
        var countedSize: [Int32]
        var countedSignature: [UInt16]
        /// Absolute position in the size log up to which the counts are current.
        var logPosition: Int
    }

    /// Records that a class slot's size changed (for every shape's `RefusalCounts`; shapes behind a
    /// dropped log recount in full).
    mutating func sizeChanged(_ slot: Int) {
        sizeLog.append(Int32(truncatingIfNeeded: slot), limit: logLimit)
    }

    /// Brings shape `t`'s refusal counts up to date: replays the size log since its last use, or
    /// recounts every class when that is less work (or the log was dropped).
    mutating func refreshRefusalCounts(_ t: Int) -> RefusalCounts {
        let slots = slotSize.count
        var rc: RefusalCounts
        var pending: ArraySlice<Int32>?
        if let position = refusalCounts[t]?.logPosition, let changed = sizeLog.entries(since: position), changed.count <= slots {
            rc = refusalCounts[t]!
            refusalCounts[t] = nil  // `rc` is the sole owner: its arrays change in place, not as a copy
            pending = changed
        } else {
            rc = RefusalCounts(counts: Array(repeating: 0, count: Refusal.allCases.count), countedSize: [], countedSignature: [], logPosition: 0)
        }
        if rc.countedSize.count < slots {
            rc.countedSize.append(contentsOf: repeatElement(0, count: slots - rc.countedSize.count))
            rc.countedSignature.append(contentsOf: repeatElement(0, count: slots - rc.countedSignature.count))
        }
        func recount(_ slot: Int, _ rc: inout RefusalCounts, _ engine: inout PlacementEngine) {
            let before = Int(rc.countedSize[slot])
            if before > 0 { Self.forEachBit(rc.countedSignature[slot]) { rc.counts[$0] -= before } }
            let size = engine.slotSize[slot]
            let signature = size > 0 ? engine.verdict(slot, t).refusals : 0
            rc.countedSize[slot] = Int32(size)
            rc.countedSignature[slot] = signature
            if size > 0 { Self.forEachBit(signature) { rc.counts[$0] += size } }
        }
        if let pending {
            for slot in pending { recount(Int(slot), &rc, &self) }
        } else {
            for slot in 0..<slots where slotSize[slot] > 0 { recount(slot, &rc, &self) }
        }
        rc.logPosition = sizeLog.end
        refusalCounts[t] = rc
        return rc
    }

    static func forEachBit(_ bits: UInt16, _ body: (Int) -> Void) {
        var b = bits
        while b != 0 {
            body(b.trailingZeroBitCount)
            b &= b - 1
        }
    }

    /// Counts refusals over every card (by class), names the binding one and its numbers.
    mutating func unschedulable(_ t: Int, demand: InstanceDemand, antiAffinityClasses: Set<Int>) -> Unschedulable {
        // The reason depends on the demand shape and the bus only: reuse it while the bus is unchanged.
        if antiAffinityClasses.isEmpty, let cached = pendingCache[t], cached.version == busVersion { return cached.reason }
        let reason = computeUnschedulable(t, demand: demand, antiAffinityClasses: antiAffinityClasses)
        if antiAffinityClasses.isEmpty { pendingCache[t] = (busVersion, reason) }
        return reason
    }

    mutating func computeUnschedulable(_ t: Int, demand: InstanceDemand, antiAffinityClasses: Set<Int>) -> Unschedulable {
        let rc = refreshRefusalCounts(t)
        var counts = rc.counts
        // Classes that fit but whose every card anti-affinity refused count as anti-affinity.
        for slot in antiAffinityClasses where slotSize[slot] > 0 {
            let n = Int(rc.countedSize[slot])
            Self.forEachBit(rc.countedSignature[slot]) { counts[$0] -= n }
            counts[Refusal.antiAffinity.rawValue] += n
        }
        var refusals: [Refusal: Int] = [:]
        for r in Refusal.allCases where counts[r.rawValue] > 0 { refusals[r] = counts[r.rawValue] }
        let ready = refusals.filter { $0.key != .notReady }
        let binding = ready.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key ?? (refusals[.notReady] != nil ? .notReady : nil)
        var requested: String?, free: String?
        if let binding, let dimension = Self.dimension(binding) {
            requested = dimension.format(dimension.amount(demand.resources))
            free = dimension.format(largestFree(LargestFree.Dimension(dimension)))
        } else if binding == .gpu {
            let mask = demandShapes[t].modelMask
            var most = 0
            if mask == .max {
                most = Int(largestFree(.idleGPU))
            } else {
                for slot in 0..<slotSize.count where slotSize[slot] > 0 && slotReady[slot] && slotIdleGPU[slot] > most {
                    var idle = 0
                    for d in classes[slot].view.devices where allows(mask, d.model) { idle += d.free }
                    most = max(most, idle)
                }
            }
            requested = demand.gpu.description
            free = Self.formatGPU(most)
        }
        return Unschedulable(cards: cards.count, refusals: refusals, binding: binding, requested: requested, largestFree: free)
    }

    /// The most any ready card has free of a dimension (0 when no card is ready).
    mutating func largestFree(_ dimension: LargestFree.Dimension) -> Int64 {
        if !largest.tracking {
            largest = LargestFree()
            largest.tracking = true
            for slot in 0..<slotSize.count where slotSize[slot] > 0 && slotReady[slot] {
                largest.classCreated(slot: slot, serial: slotSerial[slot], free: slotFree[slot], idleGPU: slotIdleGPU[slot])
            }
        }
        return largest.max(dimension, alive: { slotSerial[$0] == $1 })
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

/// The most free of each dimension over ready card classes: one max-heap per dimension with lazy
/// deletion (a class never changes while alive, so an entry is valid while its slot has its serial).
struct LargestFree: Sendable {
    enum Dimension: Int, CaseIterable {
        case cpu, memory, network, storageIOPS, idleGPU
        init(_ d: ResourceDimension) {
            switch d {
            case .cpu: self = .cpu
            case .memory: self = .memory
            case .network: self = .network
            case .storageIOPS: self = .storageIOPS
            }
        }
    }
    struct Entry: Comparable, Sendable {
        /// Negated: `MinHeap` keeps the smallest on top.
        var negatedAmount: Int64
        var slot: Int
        var serial: Int
        static func < (a: Entry, b: Entry) -> Bool { (a.negatedAmount, a.slot, a.serial) < (b.negatedAmount, b.slot, b.serial) }
    }
    var heaps = Array(repeating: MinHeap<Entry>(), count: Dimension.allCases.count)
    /// Off until the first pending reason asks (simulators that never ask pay nothing per class).
    var tracking = false

    mutating func classCreated(slot: Int, serial: Int, free: Resources, idleGPU: Int) {
        func push(_ d: Dimension, _ amount: Int64) { heaps[d.rawValue].push(Entry(negatedAmount: Int64(0).saturatingSubtract(amount), slot: slot, serial: serial)) }
        push(.cpu, free.cpuMillis)
        push(.memory, free.memoryBytes)
        push(.network, free.networkBitsPerSecond)
        push(.storageIOPS, free.storageIOPS)
        push(.idleGPU, Int64(idleGPU))
    }

    /// Dead entries pile up between queries (a dimension never asked about is never popped):
    /// too many, and tracking stops until the next query rebuilds from the live classes.
    func overgrown(liveClasses: Int) -> Bool { heaps.contains { $0.items.count > 4 * liveClasses + 1024 } }

    mutating func max(_ d: Dimension, alive: (Int, Int) -> Bool) -> Int64 {
        while let top = heaps[d.rawValue].min {
            if alive(top.slot, top.serial) { return Swift.max(0, -top.negatedAmount) }  // an over-committed card has none free
            _ = heaps[d.rawValue].pop()
        }
        return 0
    }
}
