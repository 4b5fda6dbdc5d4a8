import BackplaneModel

/// AWB v2: places instances one at a time on a bus of cards with GPUs, through one filter/score
/// pipeline (`Policy`). Pure and deterministic for a given seed: no I/O, no clock.
///
/// Speed comes from classes: cards in the same state (same shape, same free resources, same
/// multiset of free GPU devices) are interchangeable, so filters and scorers run once per
/// (class, demand shape) and the verdict is cached for the life of the class. A placement moves
/// one card to another class; only the new class is ever evaluated again. With `Selection.best`
/// the engine also keeps, per demand shape, a heap of the classes it fits and the position in the
/// log of created classes, so a decision looks at the classes created since, not at every card.
public struct PlacementEngine: Sendable {
    /// Fixed for the engine's life: every cached verdict depends on it.
    public let policy: Policy
    /// Some filter or scorer of the policy reads the demand's priority (else shapes ignore it).
    let policyReadsPriority: Bool
    static func readsPriority(_ p: Policy) -> Bool { p.filters.contains { $0.readsPriority } || p.scorers.contains { $0.scorer.readsPriority } }
    /// Per-tenant quotas, checked before any card is looked at.
    public var quotas: [String: TenantQuota] = [:]
    public internal(set) var tenantUsage: [String: TenantUsage] = [:]
    /// The expected workload's shape distribution (fragmentation reference), when the policy uses one.
    public internal(set) var mix: WorkloadMix?
    /// Per model: pressure of model-restricted expected demand (see `ModelScarcityScore`).
    public internal(set) var modelPressure: [Double] = []
    public internal(set) var cards: [CardSpec] = []
    public internal(set) var modelNames: [String] = []
    public internal(set) var gpuCapacityMilli = 0
    public internal(set) var gpuAllocatedMilli = 0
    var rng: SplitMix64
    /// Tests switch the best-list cache off to check it never changes a decision.
    var useBestCache = true

    var modelIDs: [String: Int] = [:]
    struct ShapeKey: Hashable {
        var state: Card.State
        var capacity: Resources
        var models: [Int]
        var labels: [String: String]
        var costPerHour: Double
    }
    var shapeIDs: [ShapeKey: Int] = [:]
    var shapes: [ShapeKey] = []

    var cardIndex: [CardID: Int] = [:]
    var cardShape: [Int] = []
    var allocated: [Resources] = []
    var deviceFree: [[Int]] = []
    var cardClass: [Int] = []
    var posInClass: [Int] = []
    var cardInstances: [[Int]] = []

    struct ClassKey: Hashable {
        var shape: Int
        var free: Resources
        var devices: [DeviceSlot]
    }
    /// A (class, demand shape) outcome: the filters' refusal bits, or the best device choice and
    /// its score. Laid out to fit 32 bytes (one per shape per class slot in the verdict table).
    struct Verdict {
        /// The serial of the class it was computed for: valid while `slotSerial[slot] == serial`, so a
        /// class that dies needs no reset in any demand shape's row (`Int.min`: never computed).
        var serial: Int
        var score: Double
        private var model: Int32
        private var deviceFree: Int32
        var refusals: UInt16
        /// The GPU model and the chosen device's free milli-GPU (-1: whole devices / no GPU).
        var choiceModel: Int {
            get { Int(model) }
            set { model = Int32(truncatingIfNeeded: newValue) }
        }
        var choiceFree: Int {
            get { Int(deviceFree) }
            set { deviceFree = Int32(truncatingIfNeeded: newValue) }
        }
        init(refusals: UInt16, serial: Int, choiceModel: Int, choiceFree: Int, score: Double) {
            self.serial = serial
            self.score = score
            self.model = Int32(truncatingIfNeeded: choiceModel)
            self.deviceFree = Int32(truncatingIfNeeded: choiceFree)
            self.refusals = refusals
        }
        static let unknown = Verdict(refusals: 0, serial: .min, choiceModel: -1, choiceFree: -1, score: -.infinity)
    }
    struct CardClass {
        var serial: Int
        var key: ClassKey
        var members: [Int]
        var view: CardStateView
        var alive: Bool { !members.isEmpty }
    }
    var classes: [CardClass] = []
    /// Hot copies of `classes[slot].serial` and `.members.count` for the scans (-1 / 0 when dead).
    var slotSerial: [Int] = []
    var slotSize: [Int] = []
    /// Hot copies for pending-reason numbers: ready state, free resources, idle milli-GPU per class slot.
    var slotReady: [Bool] = []
    var slotFree: [Resources] = []
    var slotIdleGPU: [Int] = []
    /// Cached verdicts, `verdictTable[demand shape][class slot]`, each stamped with its class's serial.
    var verdictTable: [[Verdict]] = []
    /// Pending reasons: per demand shape, cards per refusal (see `RefusalCounts`), kept current
    /// from `sizeLog` (class slots whose size changed), and the largest free per dimension.
    var refusalCounts: [RefusalCounts?] = []
    var sizeLog = ChangeLog<Int32>()
    var largest = LargestFree()
    var freeClassSlots: [Int] = []
    var classByKey: [ClassKey: Int] = [:]
    var nextSerial = 0
    /// Classes in creation order (read by every shape's `BestCache`).
    var createdLog = ChangeLog<(slot: Int, serial: Int)>()
    /// Both logs keep up to max(this, 4 × class slots) entries (tests lower it to exercise the drop).
    var logFloor = 1 << 16
    var logLimit: Int { max(logFloor, 4 * slotSerial.count) }

    var demandIDs: [DemandShape: Int] = [:]
    var demandShapes: [DemandShape] = []
    /// Per demand shape: every feasible live class in a heap, best on top (higher score, then the
    /// older class). Dead entries leave lazily when they reach the top; classes created since
    /// `logPosition` are pushed before a decision, and the heap is rebuilt from the live classes
    /// when that is less work, when the class log was dropped, or when dead entries pile up.
    struct BestCache {
        struct Entry: Comparable {
            var slot: Int
            var serial: Int
            var score: Double
            /// "Better": `MinHeap` keeps the best on top.
            static func < (a: Entry, b: Entry) -> Bool { a.score > b.score || (a.score == b.score && a.serial < b.serial) }
            static func == (a: Entry, b: Entry) -> Bool { a.slot == b.slot && a.serial == b.serial }
        }
        var heap = MinHeap<Entry>()
        var logPosition: Int
    }
    /// A best heap is rebuilt when it holds more than 2 × live classes + this (tests lower it).
    var bestHeapFloor = 64
    var bestCache: [BestCache?] = []

    struct PlacedInstance {
        var demand: InstanceDemand
        var card: Int
        var devices: [Int]
    }
    var instances: [PlacedInstance?] = []
    var freeInstanceSlots: [Int] = []
    var instanceByID: [String: Int] = [:]
    struct WorkloadOnCard: Hashable {
        var workload: String
        var card: Int
    }
    var workloadCounts: [WorkloadOnCard: Int] = [:]
    /// Bumped by every change of the bus (placement, removal, card change): cached pending reasons are valid within one version.
    var busVersion = 0
    var pendingCache: [Int: (version: Int, reason: Unschedulable)] = [:]

    /// - Parameters:
    ///   - expectedWorkload: requests like those to come; their shape distribution is the
    ///     fragmentation reference (used only when the policy has one).
    ///   - seed: randomness for policies that break ties at random.
    public init(cards: [CardSpec], policy: Policy, expectedWorkload: [InstanceDemand] = [], seed: UInt64 = 0) {
        self.policy = policy
        self.policyReadsPriority = Self.readsPriority(policy)
        self.rng = SplitMix64(seed: seed)
        for card in cards { for model in card.gpuModels { _ = internModel(model) } }
        for model in Set(expectedWorkload.flatMap(\.gpu.allowedModels)).sorted() { _ = internModel(model) }
        if let settings = policy.fragmentation {
            mix = Self.buildMix(expectedWorkload, settings: settings, mask: { self.modelMask($0) })
        }
        if let mix { modelPressure = Self.pressure(mix, cards: cards, models: modelIDs) }
        for card in cards { addCard(card) }
    }

    // MARK: - Cards

    /// Hot-plug: a card joins (or is replaced when its id is known, keeping nothing placed).
    public mutating func addCard(_ spec: CardSpec) {
        for model in spec.gpuModels { _ = internModel(model) }
        if let existing = cardIndex[spec.id] {
            precondition(cardInstances[existing].isEmpty, "replacing card \(spec.id) that still holds instances")
            gpuCapacityMilli -= cards[existing].gpuModels.count * milliGPUPerDevice
            cards[existing] = spec
            cardShape[existing] = internShape(spec)
            deviceFree[existing] = Array(repeating: milliGPUPerDevice, count: spec.gpuModels.count)
            allocated[existing] = .zero
            gpuCapacityMilli += spec.gpuModels.count * milliGPUPerDevice
            reclass(existing)
            return
        }
        let i = cards.count
        cards.append(spec)
        cardIndex[spec.id] = i
        cardShape.append(internShape(spec))
        allocated.append(.zero)
        deviceFree.append(Array(repeating: milliGPUPerDevice, count: spec.gpuModels.count))
        cardClass.append(-1)
        posInClass.append(-1)
        cardInstances.append([])
        gpuCapacityMilli += spec.gpuModels.count * milliGPUPerDevice
        reclass(i)
    }

    /// A card changes state (drain, lost, ready again); its instances stay where they are.
    public mutating func cardStateChanged(_ id: CardID, to state: Card.State) {
        guard let i = cardIndex[id], cards[i].state != state else { return }
        cards[i].state = state
        cardShape[i] = internShape(cards[i])
        reclass(i)
    }

    /// What is allocated on a card: resources and free milli-GPU per device (by device index).
    public func allocation(of id: CardID) -> (allocated: Resources, deviceFree: [Int])? {
        cardIndex[id].map { (allocated[$0], deviceFree[$0]) }
    }

    /// Instances on a card, in placement order.
    public func instances(on id: CardID) -> [PlacedInstanceInfo] {
        guard let i = cardIndex[id] else { return [] }
        return cardInstances[i].compactMap { slot in instances[slot].map { PlacedInstanceInfo(demand: $0.demand, card: id, gpuDevices: $0.devices) } }
    }

    /// Where an instance is, if placed.
    public func instance(_ instanceID: String) -> PlacedInstanceInfo? {
        guard let slot = instanceByID[instanceID], let p = instances[slot] else { return nil }
        return PlacedInstanceInfo(demand: p.demand, card: cards[p.card].id, gpuDevices: p.devices)
    }

    public var instanceCount: Int { instanceByID.count }

    /// Live card classes (distinct card states) — a measure of how much work a decision is.
    public var classCount: Int { classByKey.count }

    // MARK: - Decisions

    /// Where one instance would go now (nothing is committed). Mutating only for caches and the
    /// tie-breaking generator.
    public mutating func decide(_ demand: InstanceDemand) -> PlacementDecision {
        guard withinQuota(demand) else {
            return .pending(Unschedulable.quota(demand, usage: tenantUsage[demand.tenant] ?? TenantUsage(), quota: quotas[demand.tenant]!, cards: cards.count))
        }
        let t = internDemand(demand)
        switch choose(t, demand) {
        case .success(let placement): return .place(placement)
        case .failure(let excluded): return .pending(unschedulable(t, demand: demand, antiAffinityClasses: excluded.classes))
        }
    }

    /// The tenant's quota admits the demand (checked before any card is looked at).
    func withinQuota(_ demand: InstanceDemand) -> Bool {
        demand.tenant == "" || TenantQuotaFilter().admits(demand, usage: tenantUsage[demand.tenant] ?? TenantUsage(), quota: quotas[demand.tenant])
    }

    struct AntiAffinityExcluded: Error { var classes: Set<Int> }

    /// The placement for interned shape `t`, or the classes anti-affinity excluded when nothing fits
    /// (the one decision path of `decide` and `placeWithoutReason`).
    mutating func choose(_ t: Int, _ demand: InstanceDemand) -> Result<Placement, AntiAffinityExcluded> {
        var excluded: Set<Int> = []
        while true {
            let pick: (slot: Int, verdict: Verdict)?
            switch policy.selection {
            case .best: pick = excluded.isEmpty && useBestCache ? cachedBest(t) : scanBest(t, excluded: excluded)
            case .bestWithRandomTies, .uniformRandom: pick = scanRandom(t, excluded: excluded)
            }
            guard let pick else { return .failure(AntiAffinityExcluded(classes: excluded)) }
            guard let card = chooseMember(pick.slot, demand: demand) else {
                excluded.insert(pick.slot)
                continue
            }
            let devices = chooseDevices(card: card, shape: demandShapes[t], verdict: pick.verdict)
            return .success(Placement(instanceID: demand.instanceID, card: cards[card].id, gpuDevices: devices, score: pick.verdict.score))
        }
    }

    /// Decides and commits.
    @discardableResult
    public mutating func place(_ demand: InstanceDemand) -> PlacementDecision {
        let decision = decide(demand)
        if case .place(let p) = decision { commit(p, demand: demand) }
        return decision
    }

    /// Commits a placement (from `decide`, or a recovered one): counts it against the card and its devices.
    /// Precondition: it fits (the devices have the milli-GPU free).
    public mutating func commit(_ placement: Placement, demand: InstanceDemand) {
        let i = cardIndex[placement.card]!
        allocated[i] = allocated[i] + demand.resources
        for d in placement.gpuDevices {
            precondition(deviceFree[i][d] >= demand.gpu.milliPerDevice, "GPU device \(d) of \(placement.card) over-committed")
            deviceFree[i][d] -= demand.gpu.milliPerDevice
        }
        gpuAllocatedMilli = gpuAllocatedMilli.saturatingAdd(demand.gpu.milliPerDevice.saturatingMultiply(placement.gpuDevices.count))
        let record = PlacedInstance(demand: demand, card: i, devices: placement.gpuDevices)
        let slot: Int
        if let free = freeInstanceSlots.popLast() { slot = free; instances[slot] = record } else { slot = instances.count; instances.append(record) }
        if let old = instanceByID[demand.instanceID] { instanceByID[demand.instanceID] = nil; removeSlot(old) }
        instanceByID[demand.instanceID] = slot
        cardInstances[i].append(slot)
        if demand.maxInstancesPerCard != nil { workloadCounts[WorkloadOnCard(workload: demand.workload, card: i), default: 0] += 1 }
        var usage = tenantUsage[demand.tenant] ?? TenantUsage()
        usage.resources = usage.resources + demand.resources
        usage.gpuMilli = usage.gpuMilli.saturatingAdd(demand.gpu.milliPerDevice.saturatingMultiply(placement.gpuDevices.count))
        usage.instances += 1
        tenantUsage[demand.tenant] = usage
        reclass(i)
    }

    /// An instance stopped: its resources and GPU shares return to the card.
    @discardableResult
    public mutating func remove(instanceID: String) -> Bool {
        guard let slot = instanceByID.removeValue(forKey: instanceID) else { return false }
        removeSlot(slot)
        return true
    }

    mutating func removeSlot(_ slot: Int) {
        guard let p = instances[slot] else { return }
        instances[slot] = nil
        freeInstanceSlots.append(slot)
        let i = p.card
        allocated[i] = allocated[i] - p.demand.resources
        for d in p.devices { deviceFree[i][d] += p.demand.gpu.milliPerDevice }
        gpuAllocatedMilli = gpuAllocatedMilli.saturatingSubtract(p.demand.gpu.milliPerDevice.saturatingMultiply(p.devices.count))
        if let k = cardInstances[i].firstIndex(of: slot) { cardInstances[i].remove(at: k) }
        if p.demand.maxInstancesPerCard != nil {
            let key = WorkloadOnCard(workload: p.demand.workload, card: i)
            workloadCounts[key] = (workloadCounts[key] ?? 1) - 1
        }
        var usage = tenantUsage[p.demand.tenant] ?? TenantUsage()
        usage.resources = usage.resources - p.demand.resources
        usage.gpuMilli = usage.gpuMilli.saturatingSubtract(p.demand.gpu.milliPerDevice.saturatingMultiply(p.devices.count))
        usage.instances -= 1
        tenantUsage[p.demand.tenant] = usage
        reclass(i)
    }
}

/// A decision of AWB v2.
public enum PlacementDecision: Hashable, Sendable {
    case place(Placement)
    case pending(Unschedulable)

    public var placement: Placement? { if case .place(let p) = self { return p } else { return nil } }
}

/// One instance on one card, with the GPU devices (indexes on the card) it uses.
public struct Placement: Hashable, Sendable {
    public var instanceID: String
    public var card: CardID
    public var gpuDevices: [Int]
    public var score: Double
    public init(instanceID: String, card: CardID, gpuDevices: [Int] = [], score: Double = 0) {
        self.instanceID = instanceID
        self.card = card
        self.gpuDevices = gpuDevices
        self.score = score
    }
}

/// A placed instance as the engine holds it.
public struct PlacedInstanceInfo: Hashable, Sendable {
    public var demand: InstanceDemand
    public var card: CardID
    public var gpuDevices: [Int]
}
