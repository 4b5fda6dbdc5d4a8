import BackplaneModel

/// Only ready cards take new instances (draining, joining, lost and removed ones refuse).
public struct CardReadyFilter: CardFilter {
    public init() {}
    public var name: String { "CardReady" }
    public func check(_ demand: DemandShape, on card: CardStateView) -> Refusal? {
        card.state == .ready ? nil : .notReady
    }
}

/// The card carries every label the instance requires.
public struct LabelFilter: CardFilter {
    public init() {}
    public var name: String { "Labels" }
    public func check(_ demand: DemandShape, on card: CardStateView) -> Refusal? {
        for (key, value) in demand.requiredLabels where card.labels[key] != value { return .labels }
        return nil
    }
}

/// A GPU instance restricted to some models needs a device of one of them.
public struct GPUModelFilter: CardFilter {
    public init() {}
    public var name: String { "GPUModel" }
    public func check(_ demand: DemandShape, on card: CardStateView) -> Refusal? {
        guard demand.gpuCount > 0, demand.modelMask != .max, !card.devices.isEmpty else { return nil }
        return card.devices.contains { allows(demand.modelMask, $0.model) } ? nil : .gpuModel
    }
}

/// Free CPU, memory, network and storage IOPS cover the request (the first short dimension is reported).
public struct ResourceFitFilter: CardFilter {
    public init() {}
    public var name: String { "ResourceFit" }
    public func check(_ demand: DemandShape, on card: CardStateView) -> Refusal? {
        let r = demand.resources, f = card.free
        if r.cpuMillis > f.cpuMillis { return .cpu }
        if r.memoryBytes > f.memoryBytes { return .memory }
        if r.networkBitsPerSecond > f.networkBitsPerSecond { return .network }
        if r.storageIOPS > f.storageIOPS { return .storageIOPS }
        return nil
    }
}

/// Enough allowed GPU devices, each with the requested milli-GPU free (per device, never summed).
public struct GPUFitFilter: CardFilter {
    public init() {}
    public var name: String { "GPUFit" }
    public func check(_ demand: DemandShape, on card: CardStateView) -> Refusal? {
        guard demand.gpuCount > 0 else { return nil }
        // A card with GPUs of none of the allowed models is GPUModelFilter's refusal, not this one's.
        if demand.modelMask != .max, !card.devices.isEmpty, !card.devices.contains(where: { allows(demand.modelMask, $0.model) }) { return nil }
        // Whole-device requests need one model for all their devices.
        if demand.gpuCount == 1 { return card.fittingDevices(milli: demand.gpuMilli, mask: demand.modelMask) >= 1 ? nil : .gpu }
        var perModel: [Int: Int] = [:]
        for d in card.devices where d.free >= demand.gpuMilli && allows(demand.modelMask, d.model) {
            perModel[d.model, default: 0] += 1
            if perModel[d.model]! >= demand.gpuCount { return nil }
        }
        return .gpu
    }
}

/// Anti-affinity: at most `InstanceDemand.maxInstancesPerCard` instances of a workload per card.
/// Per card, not per class, so the engine applies it to the chosen card (and falls back when it refuses).
public struct AntiAffinityFilter: Sendable {
    public init() {}
    public var name: String { "AntiAffinity" }
    public func allows(_ demand: InstanceDemand, instancesOfWorkloadOnCard: Int) -> Bool {
        guard let limit = demand.maxInstancesPerCard else { return true }
        return instancesOfWorkloadOnCard < limit
    }
}

/// A tenant's limit: resources and milli-GPU it may hold at once across the bus.
public struct TenantQuota: Hashable, Sendable {
    public var limit: Resources
    public var gpuMilli: Int
    public init(limit: Resources, gpuMilli: Int = .max) {
        self.limit = limit
        self.gpuMilli = gpuMilli
    }
}

/// What a tenant holds now.
public struct TenantUsage: Hashable, Sendable {
    public var resources: Resources = .zero
    public var gpuMilli: Int = 0
    public var instances: Int = 0
    public init(resources: Resources = .zero, gpuMilli: Int = 0, instances: Int = 0) {
        self.resources = resources
        self.gpuMilli = gpuMilli
        self.instances = instances
    }
}

/// Tenant quota: admission before any card is looked at.
public struct TenantQuotaFilter: Sendable {
    public init() {}
    public var name: String { "TenantQuota" }
    public func admits(_ demand: InstanceDemand, usage: TenantUsage, quota: TenantQuota?) -> Bool {
        guard let quota else { return true }
        return quota.limit.covers(usage.resources + demand.resources) && usage.gpuMilli.saturatingAdd(demand.gpu.totalMilli) <= quota.gpuMilli
    }
}
