import BackplaneModel
import Testing
@testable import WorkloadBalancer

@Suite("AWB v2 plugins")
struct AWBPluginTests {
    struct FilterCase: CustomTestStringConvertible, Sendable {
        var name: String
        var filter: any CardFilter
        var shape: DemandShape
        var card: CardStateView
        var expected: Refusal?
        var testDescription: String { name }
    }

    static let filterCases: [FilterCase] = [
        .init(name: "a ready card passes", filter: CardReadyFilter(), shape: shape(), card: view(), expected: nil),
        .init(name: "a draining card refuses", filter: CardReadyFilter(), shape: shape(), card: view(state: .draining), expected: .notReady),
        .init(name: "a joining card refuses", filter: CardReadyFilter(), shape: shape(), card: view(state: .joining), expected: .notReady),
        .init(name: "required label present", filter: LabelFilter(), shape: shape(labels: ["zone": "a"]), card: view(labels: ["zone": "a", "x": "y"]), expected: nil),
        .init(name: "required label differs", filter: LabelFilter(), shape: shape(labels: ["zone": "a"]), card: view(labels: ["zone": "b"]), expected: .labels),
        .init(name: "model allowed", filter: GPUModelFilter(), shape: shape(gpus: 1, mask: 0b1), card: view(devices: [1000]), expected: nil),
        .init(name: "model not allowed", filter: GPUModelFilter(), shape: shape(gpus: 1, mask: 0b10), card: view(devices: [1000]), expected: .gpuModel),
        .init(name: "cpu short", filter: ResourceFitFilter(), shape: shape(cpu: 2000), card: view(freeCPU: 1999), expected: .cpu),
        .init(name: "memory short", filter: ResourceFitFilter(), shape: shape(memoryGi: 4), card: view(freeMemoryGi: 3), expected: .memory),
        .init(name: "exact fit", filter: ResourceFitFilter(), shape: shape(cpu: 2000, memoryGi: 4), card: view(freeCPU: 2000, freeMemoryGi: 4), expected: nil),
        .init(name: "share fits one device", filter: GPUFitFilter(), shape: shape(gpus: 1, milli: 500), card: view(devices: [300, 500]), expected: nil),
        .init(name: "share never spans devices", filter: GPUFitFilter(), shape: shape(gpus: 1, milli: 500), card: view(devices: [300, 400]), expected: .gpu),
        .init(name: "whole GPU needs a free device", filter: GPUFitFilter(), shape: shape(gpus: 1), card: view(devices: [999, 999]), expected: .gpu),
        .init(name: "two whole GPUs", filter: GPUFitFilter(), shape: shape(gpus: 2), card: view(devices: [1000, 0, 1000]), expected: nil),
        .init(name: "two whole GPUs, one free", filter: GPUFitFilter(), shape: shape(gpus: 2), card: view(devices: [1000, 500]), expected: .gpu),
        .init(name: "no GPU on the card", filter: GPUFitFilter(), shape: shape(gpus: 1, milli: 100), card: view(), expected: .gpu),
        .init(name: "CPU-only request ignores GPUs", filter: GPUFitFilter(), shape: shape(), card: view(), expected: nil),
    ]

    @Test("filters", arguments: filterCases)
    func filters(_ c: FilterCase) {
        #expect(c.filter.check(c.shape, on: c.card) == c.expected)
    }

    struct ScoreCase: CustomTestStringConvertible, Sendable {
        var name: String
        var scorer: any CardScorer
        var better: (CardStateView, CardStateView)
        var worse: (CardStateView, CardStateView)
        var testDescription: String { name }
    }

    static func frag(_ v: CardStateView, _ f: Double) -> CardStateView { var v = v; v.fragmentation = f; return v }

    static let scoreCases: [ScoreCase] = [
        .init(name: "least allocated prefers the emptier card", scorer: LeastAllocatedScore(),
              better: (view(), view(freeCPU: 6000)), worse: (view(), view(freeCPU: 1000))),
        .init(name: "most allocated prefers the fuller card", scorer: MostAllocatedScore(),
              better: (view(), view(freeCPU: 1000)), worse: (view(), view(freeCPU: 6000))),
        .init(name: "balanced prefers even CPU and memory", scorer: BalancedAllocationScore(),
              better: (view(), view(freeCPU: 4000, freeMemoryGi: 16)), worse: (view(), view(freeCPU: 4000, freeMemoryGi: 30))),
        .init(name: "fragmentation prefers the smaller increase", scorer: FragmentationScore(),
              better: (frag(view(), 500), frag(view(), 400)), worse: (frag(view(), 500), frag(view(), 900))),
        .init(name: "GPU stranding avoids cards with idle GPUs for CPU work", scorer: GPUStrandingScore(),
              better: (view(), view()), worse: (view(devices: [1000, 1000]), view(devices: [1000, 1000]))),
    ]

    @Test("scorers", arguments: scoreCases)
    func scorers(_ c: ScoreCase) {
        let s = shape()
        #expect(c.scorer.score(s, before: c.better.0, after: c.better.1) > c.scorer.score(s, before: c.worse.0, after: c.worse.1))
    }

    @Test("fragmentation: a share sliver too small for the mix counts as fragment; fitting devices do not")
    func fragmentationDefinition() {
        // Mix: half 1-GPU, half 500m shares.
        let mix = WorkloadMix(entries: [
            .init(cpuMillis: 0, memoryBytes: 0, gpuCount: 1, gpuMilli: 1000, modelMask: .max, weight: 0.5),
            .init(cpuMillis: 0, memoryBytes: 0, gpuCount: 1, gpuMilli: 500, modelMask: .max, weight: 0.5),
        ], memoryAware: true)
        let free = Resources(cpuMillis: 1000, memoryBytes: 1 << 30)
        #expect(mix.fragmentation(free: free, devices: [DeviceSlot(model: 0, free: 1000)]) == 0)
        // 600 free: useless to 1-GPU (600 × 0.5), fine for 500m.
        #expect(mix.fragmentation(free: free, devices: [DeviceSlot(model: 0, free: 600)]) == 300)
        // 100 free: useless to both.
        #expect(mix.fragmentation(free: free, devices: [DeviceSlot(model: 0, free: 100)]) == 100)
        // CPU exhausted: all idle GPU is fragment.
        #expect(mix.fragmentation(free: Resources(cpuMillis: 0, memoryBytes: 0), devices: [DeviceSlot(model: 0, free: 1000)]) == 0)
        let starved = WorkloadMix(entries: [.init(cpuMillis: 500, memoryBytes: 0, gpuCount: 1, gpuMilli: 1000, modelMask: .max, weight: 1)], memoryAware: true)
        #expect(starved.fragmentation(free: Resources(cpuMillis: 100, memoryBytes: 0), devices: [DeviceSlot(model: 0, free: 1000)]) == 1000)
    }

    @Test("every registered policy name builds, and unknown scorer names are reported")
    func registry() {
        for name in AWBRegistry.policyNames { #expect(AWBRegistry.policy(named: name) != nil, "\(name)") }
        #expect(AWBRegistry.policy(named: "nope") == nil)
        #expect(AWBRegistry.unknownScorers(["Cost": 1, "Bogus": 2]) == ["Bogus"])
        #expect(AWBRegistry.policy(name: "x", weights: ["Fragmentation": 1]).fragmentation != nil)
        #expect(AWBRegistry.policy(name: "x", weights: ["Cost": 1]).fragmentation == nil)
    }
}

@Suite("AWB v2 helpers")
struct AWBHelperTests {
    @Test("exponential matches known values", arguments: [(0.0, 1.0), (1.0, 2.718281828459045), (-1.0, 0.36787944117144233), (10.0, 22026.465794806718), (-20.0, 2.061153622438558e-09)])
    func exponentialValues(_ c: (Double, Double)) {
        #expect(abs(exponential(c.0) - c.1) <= 1e-14 * c.1)
    }

    @Test("thousands are grouped in reasons")
    func groupedNumbers() {
        #expect(grouped(0) == "0" && grouped(999) == "999" && grouped(1523) == "1,523" && grouped(1_234_567) == "1,234,567")
    }
}
