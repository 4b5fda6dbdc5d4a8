import BackplaneModel

/// FGD-style packing: minus the increase of expected GPU fragmentation (w.r.t. the policy's
/// workload mix) that placing causes, 100 points per GPU. The engine computes both
/// fragmentations (it owns the mix); this scorer only compares them.
public struct FragmentationScore: CardScorer {
    public init() {}
    public var name: String { "Fragmentation" }
    public func score(_ demand: DemandShape, before: CardStateView, after: CardStateView) -> Double {
        -(after.fragmentation - before.fragmentation) / 10
    }
}

/// Keeps CPU, memory and GPU use even on a card (less stranded capacity): 100 when equal.
public struct BalancedAllocationScore: CardScorer {
    public init() {}
    public var name: String { "BalancedAllocation" }
    public func score(_ demand: DemandShape, before: CardStateView, after: CardStateView) -> Double {
        let u = utilisation(after)
        var lo = min(u.cpu, u.memory), hi = max(u.cpu, u.memory)
        if let g = u.gpu { lo = min(lo, g); hi = max(hi, g) }
        return (1 - (hi - lo)) * 100
    }
}

/// Spread: prefers the emptiest card after placing (mean of CPU, memory and GPU use).
public struct LeastAllocatedScore: CardScorer {
    public init() {}
    public var name: String { "LeastAllocated" }
    public func score(_ demand: DemandShape, before: CardStateView, after: CardStateView) -> Double {
        (1 - utilisation(after).mean) * 100
    }
}

/// Bin-packing: prefers the fullest card after placing.
public struct MostAllocatedScore: CardScorer {
    public init() {}
    public var name: String { "MostAllocated" }
    public func score(_ demand: DemandShape, before: CardStateView, after: CardStateView) -> Double {
        utilisation(after).mean * 100
    }
}

/// Priority-aware spreading: high-priority instances go to emptier cards (less contention, less
/// to lose when a card dies), low-priority ones pack onto fuller cards (cheap to preempt there).
public struct PriorityScore: CardScorer {
    public init() {}
    public var name: String { "Priority" }
    public var readsPriority: Bool { true }
    public func score(_ demand: DemandShape, before: CardStateView, after: CardStateView) -> Double {
        let p = Double(min(max(demand.priority, 0), 1000)) / 1000
        let used = utilisation(after).mean
        return (p * (1 - used) + (1 - p) * used) * 100
    }
}

/// Prefers cheaper cards: 100 for a free card, 0 at `referenceCostPerHour` and below zero past it.
public struct CostScore: CardScorer {
    public var referenceCostPerHour: Double
    public init(referenceCostPerHour: Double = 10) { self.referenceCostPerHour = referenceCostPerHour }
    public var name: String { "Cost" }
    public func score(_ demand: DemandShape, before: CardStateView, after: CardStateView) -> Double {
        (1 - before.costPerHour / max(referenceCostPerHour, 1e-9)) * 100
    }
}

/// Keeps GPU cards for GPU work: a CPU-only instance on a card with idle GPUs loses points in
/// proportion to the idle GPUs and to the share of the card's CPU and memory it takes (that
/// share is what later GPU instances will miss). 0 for GPU instances and GPU-less cards.
public struct GPUStrandingScore: CardScorer {
    public init() {}
    public var name: String { "GPUStranding" }
    public func score(_ demand: DemandShape, before: CardStateView, after: CardStateView) -> Double {
        guard demand.gpuCount == 0, before.idleGPUMilli > 0 else { return 0 }
        let share = (fraction(demand.resources.cpuMillis, before.capacity.cpuMillis) + fraction(demand.resources.memoryBytes, before.capacity.memoryBytes)) / 2
        return -share * Double(before.idleGPUMilli) / 10
    }
}

/// Keeps scarce GPU models for the instances that can only run there: placing loses
/// 100 points per GPU used, times the model's pressure (expected model-restricted demand per
/// unit of the model's capacity, relative to the bus average). An instance restricted to one
/// model pays the same wherever it goes; a flexible one is steered to models nobody else needs.
public struct ModelScarcityScore: CardScorer {
    public init() {}
    public var name: String { "ModelScarcity" }
    public func score(_ demand: DemandShape, before: CardStateView, after: CardStateView) -> Double {
        guard demand.gpuCount > 0, !before.modelPressure.isEmpty else { return 0 }
        var cost = 0.0
        for (b, a) in zip(before.devices, after.devices) where b.model < before.modelPressure.count {
            cost += Double(b.free - a.free) * before.modelPressure[b.model]
        }
        // Devices are sorted by (model, free) in both states: a model's total change is exact even if positions moved.
        return -cost / 10
    }
}

/// Tie-breaker that packs GPUs: prefers the card left with the least idle GPU (100 per GPU less).
public struct GPUPackingScore: CardScorer {
    public init() {}
    public var name: String { "GPUPacking" }
    public func score(_ demand: DemandShape, before: CardStateView, after: CardStateView) -> Double {
        guard demand.gpuCount > 0 else { return 0 }
        return -Double(after.idleGPUMilli) / 10
    }
}

// MARK: - Baselines from the FGD artifact (hkust-adsl/kubernetes-scheduler-simulator), integer scores

/// Artifact's node size used to normalise BestFit and DotProd: 128 cores, 8 GPUs.
let artifactMaxCPU = 128_000.0, artifactMaxGPU = 8_000.0

/// BestFit (artifact `best_fit_score.go`): 100 × (1 − ½·cpu_left′/128 cores − ½·gpu_left′/8 GPUs), truncated.
public struct BestFitScore: CardScorer {
    public init() {}
    public var name: String { "BestFit" }
    public func score(_ demand: DemandShape, before: CardStateView, after: CardStateView) -> Double {
        let left = 0.5 * Double(after.free.cpuMillis) / artifactMaxCPU + 0.5 * Double(after.idleGPUMilli) / artifactMaxGPU
        return Double(Int64((1 - left) * 100))
    }
}

/// DotProd (Tetris; artifact `dot_product_score.go`, merged GPU dimension, max normalisation):
/// 100 × (1 − ⟨free, request⟩ / 2), truncated; smaller alignment scores higher.
public struct DotProductScore: CardScorer {
    public init() {}
    public var name: String { "DotProduct" }
    public func score(_ demand: DemandShape, before: CardStateView, after: CardStateView) -> Double {
        let dot = Double(before.free.cpuMillis) / artifactMaxCPU * Double(demand.resources.cpuMillis) / artifactMaxCPU
            + Double(before.idleGPUMilli) / artifactMaxGPU * Double(demand.totalGPUMilli) / artifactMaxGPU
        return Double(Int64(100 * (1 - dot / 2)))
    }
}

/// FGD as the artifact scores it (`fgd_score.go`): sigmoid(−Δfragmentation / 1000) × 100, truncated.
public struct FGDArtifactScore: CardScorer {
    public init() {}
    public var name: String { "FGD" }
    public func score(_ demand: DemandShape, before: CardStateView, after: CardStateView) -> Double {
        let x = (before.fragmentation - after.fragmentation) / 1000
        return Double(Int64(1 / (1 + exponential(-x)) * 100))
    }
}

struct Utilisation {
    var cpu: Double, memory: Double, gpu: Double?
    var mean: Double { gpu.map { (cpu + memory + $0) / 3 } ?? (cpu + memory) / 2 }
}

/// `part / whole` clamped to 0…1 (1 when `whole` is 0: nothing to offer is full).
func fraction(_ part: Int64, _ whole: Int64) -> Double {
    whole > 0 ? min(1, max(0, Double(part) / Double(whole))) : 1
}

func utilisation(_ card: CardStateView) -> Utilisation {
    let cpu = 1 - fraction(card.free.cpuMillis, card.capacity.cpuMillis)
    let memory = 1 - fraction(card.free.memoryBytes, card.capacity.memoryBytes)
    let gpu: Double? = card.devices.isEmpty ? nil : 1 - Double(card.idleGPUMilli) / Double(card.devices.count * milliGPUPerDevice)
    return Utilisation(cpu: cpu, memory: memory, gpu: gpu)
}

/// e^x without Foundation (this module imports no platform library): range reduction by ln 2 and a
/// Taylor series on |r| ≤ ln 2 / 2; relative error below 1e-15.
func exponential(_ x: Double) -> Double {
    let x = min(max(x, -700), 700)
    let ln2 = 0.693_147_180_559_945_3
    let n = (x / ln2).rounded()
    let r = x - n * ln2
    var term = 1.0, sum = 1.0
    for k in 1...18 {
        term *= r / Double(k)
        sum += term
    }
    return Double(sign: .plus, exponent: Int(n), significand: sum)
}
