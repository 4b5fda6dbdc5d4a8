import BackplaneModel

/// A card as AWB v2 sees it: what it offers, its GPU devices, labels, state and price.
/// Cards that share every field but the id and name are interchangeable: the engine groups
/// them into classes and decides per class, not per card.
public struct CardSpec: Hashable, Sendable {
    public var id: CardID
    public var name: String
    public var state: Card.State
    /// CPU, memory, network and storage IOPS the card offers.
    public var capacity: Resources
    /// One entry per GPU device: its model ("T4", "V100M32"); each device offers 1000 milli-GPU.
    public var gpuModels: [String]
    public var labels: [String: String]
    /// What the card costs per hour, in any currency, consistently across the bus.
    public var costPerHour: Double

    public init(id: CardID, name: String, state: Card.State = .ready, capacity: Resources, gpuModels: [String] = [],
                labels: [String: String] = [:], costPerHour: Double = 0) {
        self.id = id
        self.name = name
        self.state = state
        self.capacity = capacity
        self.gpuModels = gpuModels
        self.labels = labels
        self.costPerHour = costPerHour
    }

    /// A v1 card (no GPUs unless given).
    public init(_ card: Card, gpuModels: [String] = [], costPerHour: Double = 0) {
        self.init(id: card.id, name: card.name, state: card.state, capacity: card.capacity, gpuModels: gpuModels,
                  labels: card.labels, costPerHour: costPerHour)
    }
}

/// Milli-GPU per device: 1000 is one whole GPU.
public let milliGPUPerDevice = 1000

/// What an instance asks of GPUs: `count` devices with `milliPerDevice` each. A share
/// (`milliPerDevice < 1000`) sits on one device next to other shares (their sum ≤ 1000);
/// whole GPUs (`milliPerDevice == 1000`) are devices of their own.
public struct GPURequest: Hashable, Sendable, CustomStringConvertible {
    public var count: Int
    public var milliPerDevice: Int
    /// Models the instance may run on (openb's `gpu_spec`); empty means any.
    public var allowedModels: [String]

    public init(count: Int, milliPerDevice: Int = milliGPUPerDevice, allowedModels: [String] = []) {
        self.count = count
        self.milliPerDevice = count == 0 ? 0 : milliPerDevice
        self.allowedModels = allowedModels.sorted()
    }

    public static let none = GPURequest(count: 0)
    public static func whole(_ count: Int, models: [String] = []) -> GPURequest { GPURequest(count: count, allowedModels: models) }
    public static func share(_ milli: Int, models: [String] = []) -> GPURequest { GPURequest(count: 1, milliPerDevice: milli, allowedModels: models) }

    /// count × milliPerDevice: how arrived GPU workload is counted (as in the FGD artifact).
    public var totalMilli: Int { count.saturatingMultiply(milliPerDevice) }
    public var isShare: Bool { count > 0 && milliPerDevice < milliGPUPerDevice }

    public var description: String {
        guard count > 0 else { return "no GPU" }
        let amount = isShare ? "\(count)×\(milliPerDevice)m GPU" : "\(count) GPU"
        return allowedModels.isEmpty ? amount : amount + " (" + allowedModels.joined(separator: "|") + ")"
    }
}

/// One instance to place with AWB v2: resources, GPUs and constraints.
public struct InstanceDemand: Hashable, Sendable {
    public var instanceID: String
    public var workload: String
    public var tenant: String
    public var priority: Int
    public var resources: Resources
    public var gpu: GPURequest
    /// Labels a card must carry (exact values).
    public var requiredLabels: [String: String]
    /// Anti-affinity: at most this many instances of the workload on one card (nil: no limit).
    public var maxInstancesPerCard: Int?

    public init(instanceID: String, workload: String, tenant: String = WorkloadSpec.defaultTenant,
                priority: Int = WorkloadSpec.defaultPriority, resources: Resources, gpu: GPURequest = .none,
                requiredLabels: [String: String] = [:], maxInstancesPerCard: Int? = nil) {
        self.instanceID = instanceID
        self.workload = workload
        self.tenant = tenant
        self.priority = priority
        self.resources = resources
        self.gpu = gpu
        self.requiredLabels = requiredLabels
        self.maxInstancesPerCard = maxInstancesPerCard
    }

}
