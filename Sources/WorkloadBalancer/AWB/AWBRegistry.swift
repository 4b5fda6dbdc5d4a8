import BackplaneModel

/// The one place plugins and policies are named: the CLI, the BMC and the simulator build
/// policies from here (`binpack`, `spread`, `cost`, `awb`, and the baselines `fgd`, `bestfit`,
/// `dotprod`, `random`), or from explicit scorer weights.
public enum AWBRegistry {
    public static let filters: [String: any CardFilter] = [
        "CardReady": CardReadyFilter(), "Labels": LabelFilter(), "GPUModel": GPUModelFilter(),
        "ResourceFit": ResourceFitFilter(), "GPUFit": GPUFitFilter(),
    ]

    public static let scorers: [String: any CardScorer] = [
        "Fragmentation": FragmentationScore(), "BalancedAllocation": BalancedAllocationScore(),
        "LeastAllocated": LeastAllocatedScore(), "MostAllocated": MostAllocatedScore(), "Priority": PriorityScore(),
        "Cost": CostScore(), "GPUStranding": GPUStrandingScore(), "GPUPacking": GPUPackingScore(), "ModelScarcity": ModelScarcityScore(),
        "BestFit": BestFitScore(), "DotProduct": DotProductScore(), "FGD": FGDArtifactScore(),
    ]

    public static let policyNames = ["awb", "binpack", "spread", "cost", "fgd", "bestfit", "dotprod", "random"]

    /// `awb` (the GPU-packing objective of the openb experiment; `binpack` adds MostAllocated so
    /// CPU-only work packs too): memory-aware FGD fragmentation, plus keeping scarce GPU models for
    /// the instances restricted to them, keeping GPU cards for GPU work, and even CPU/memory/GPU
    /// use on a card (so CPU or memory does not run out while GPUs idle). The same weights for
    /// every workload (chosen on openb's default list; see README).
    public static let awbWeights: [String: Double] = [
        "Fragmentation": 1, "ModelScarcity": 1, "GPUStranding": 0.5, "BalancedAllocation": 0.5,
    ]

    /// A named policy, or nil for an unknown name.
    public static func policy(named name: String) -> Policy? {
        switch name {
        case "awb":
            return policy(name: name, weights: awbWeights)
        case "binpack":
            return policy(name: name, weights: awbWeights.merging(["MostAllocated": 1]) { $1 })
        case "spread":
            return policy(name: name, weights: ["LeastAllocated": 1, "BalancedAllocation": 0.5, "Priority": 0.1])
        case "cost":
            return policy(name: name, weights: ["Cost": 1, "Fragmentation": 0.2, "MostAllocated": 0.2, "GPUStranding": 0.1])
        case "fgd":
            return Policy(name: name, scorers: [WeightedCardScorer(FGDArtifactScore(), weight: 1)], selection: .bestWithRandomTies,
                          deviceSelection: .byScore, fragmentation: .init(memoryAware: false, cpuShapesCountIdle: true))
        case "bestfit":
            return Policy(name: name, scorers: [WeightedCardScorer(BestFitScore(), weight: 1)], selection: .bestWithRandomTies, deviceSelection: .bestFit)
        case "dotprod":
            return Policy(name: name, scorers: [WeightedCardScorer(DotProductScore(), weight: 1)], selection: .bestWithRandomTies, deviceSelection: .bestFit)
        case "random":
            return Policy(name: name, scorers: [], selection: .uniformRandom, deviceSelection: .random)
        default:
            return nil
        }
    }

    /// A deterministic policy from scorer names and weights (unknown names are ignored, listed in
    /// `unknownScorers`). Fragmentation is switched on when its scorer is weighted.
    public static func policy(name: String, weights: [String: Double]) -> Policy {
        let scorers = weights.sorted { $0.key < $1.key }.compactMap { entry in
            self.scorers[entry.key].map { WeightedCardScorer($0, weight: entry.value) }
        }
        let needsMix = weights["Fragmentation", default: 0] != 0 || weights["FGD", default: 0] != 0 || weights["ModelScarcity", default: 0] != 0
        return Policy(name: name, scorers: scorers, fragmentation: needsMix ? .init() : nil)
    }

    public static func unknownScorers(_ weights: [String: Double]) -> [String] {
        weights.keys.filter { scorers[$0] == nil }.sorted()
    }
}
