import BackplaneModel

/// Why a card cannot take an instance, one case per filter dimension. The raw value orders
/// pending reasons; it is never persisted.
public enum Refusal: Int, CaseIterable, Hashable, Sendable, Comparable, CustomStringConvertible {
    case notReady, labels, gpuModel, cpu, memory, network, storageIOPS, gpu, antiAffinity, quota

    public static func < (a: Refusal, b: Refusal) -> Bool { a.rawValue < b.rawValue }

    var bit: UInt16 { 1 << UInt16(rawValue) }

    public var description: String {
        switch self {
        case .notReady: return "card not ready"
        case .labels: return "label constraint"
        case .gpuModel: return "GPU model constraint"
        case .cpu: return "insufficient cpu"
        case .memory: return "insufficient memory"
        case .network: return "insufficient network"
        case .storageIOPS: return "insufficient storage IOPS"
        case .gpu: return "insufficient gpu"
        case .antiAffinity: return "anti-affinity (max instances per card)"
        case .quota: return "tenant quota"
        }
    }
}

/// What a request asks for, as the engine interns it: identical shapes share every cached
/// verdict. Models are a bit mask over the bus's model table (`UInt64.max` = any model).
public struct DemandShape: Hashable, Sendable {
    public var resources: Resources
    public var gpuCount: Int
    public var gpuMilli: Int
    public var modelMask: UInt64
    public var requiredLabels: [String: String]
    public var priority: Int

    public var totalGPUMilli: Int { gpuCount.saturatingMultiply(gpuMilli) }
}

/// A GPU device in a card state: its model (index into the bus's model table) and free milli-GPU.
public struct DeviceSlot: Hashable, Sendable, Comparable {
    public var model: Int
    public var free: Int
    public static func < (a: DeviceSlot, b: DeviceSlot) -> Bool { (a.model, a.free) < (b.model, b.free) }
}

/// One card state (a whole class of identical cards), as filters and scorers see it.
public struct CardStateView: Sendable {
    public var state: Card.State
    public var capacity: Resources
    public var free: Resources
    /// Devices sorted by (model, free); free is 0…1000.
    public var devices: [DeviceSlot]
    public var labels: [String: String]
    public var costPerHour: Double
    /// Expected GPU fragmentation (milli-GPU) of this state w.r.t. the policy's workload mix; 0 without a mix.
    public var fragmentation: Double
    /// Per model (index into the bus's model table): how much of the expected workload that is
    /// restricted to some models leans on this one, relative to its capacity (1 = its fair share;
    /// empty without a mix). See `ModelScarcityScore`.
    public var modelPressure: [Double] = []

    public var gpuCount: Int { devices.count }
    public var idleGPUMilli: Int { devices.reduce(0) { $0 + $1.free } }

    /// Devices a shape may use (model allowed) with at least `milli` free.
    public func fittingDevices(milli: Int, mask: UInt64) -> Int {
        var n = 0
        for d in devices where d.free >= milli && allows(mask, d.model) { n += 1 }
        return n
    }
}

@inline(__always) func allows(_ mask: UInt64, _ model: Int) -> Bool { model < 64 && mask & (1 << UInt64(model)) != 0 }

/// Decides whether a card state can take a demand shape at all. Evaluated once per (card class,
/// demand shape) and cached, so it MUST depend on nothing but its arguments.
public protocol CardFilter: Sendable {
    var name: String { get }
    /// nil when the card fits; otherwise the dimension that refuses.
    func check(_ demand: DemandShape, on card: CardStateView) -> Refusal?
    /// Whether `check` looks at `DemandShape.priority`. When no plugin of a policy does, demands
    /// that differ only in priority share one shape and every cached verdict, and the shape's
    /// priority is 0. A plugin that reads the priority MUST return true (the default is false).
    var readsPriority: Bool { get }
}

extension CardFilter {
    public var readsPriority: Bool { false }
}

/// Rates placing a demand on a card state; higher is better. `after` is the state once the
/// demand (and its chosen GPU devices) is added. Cached like filters: a pure function.
public protocol CardScorer: Sendable {
    var name: String { get }
    func score(_ demand: DemandShape, before: CardStateView, after: CardStateView) -> Double
    /// Whether `score` looks at `DemandShape.priority`: a scorer that reads it MUST return true
    /// (see `CardFilter.readsPriority`; the default is false).
    var readsPriority: Bool { get }
}

extension CardScorer {
    public var readsPriority: Bool { false }
}

/// A scorer and its weight in a policy.
public struct WeightedCardScorer: Sendable {
    public var scorer: any CardScorer
    public var weight: Double
    public init(_ scorer: any CardScorer, weight: Double) {
        self.scorer = scorer
        self.weight = weight
    }
}
