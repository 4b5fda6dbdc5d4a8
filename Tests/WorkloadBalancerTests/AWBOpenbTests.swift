import BackplaneModel
import Testing
@testable import WorkloadBalancer

@Suite("openb experiment")
struct AWBOpenbTests {
    // Two machines: 2 T4s; a CPU-only one.
    static let nodesCSV = """
    sn,cpu_milli,memory_mib,gpu,model
    node-a,8000,16384,2,T4
    node-b,4000,8192,0,
    """
    // GPU request 1000 + 500 + 500 = 2000 = capacity; one CPU task.
    static let podsCSV = """
    name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time
    pod-0,1000,1024,1,1000,,LS,Running,0,,0
    pod-1,1000,1024,1,500,T4,LS,Running,1,,1
    pod-2,1000,1024,1,500,,BE,Running,2,100,2
    pod-3,2000,2048,0,0,,BE,Running,3,,3
    """

    @Test("parses node and pod lists")
    func parses() throws {
        let nodes = try OpenbTrace.parseNodes(Self.nodesCSV, file: "nodes.csv")
        #expect(nodes == [OpenbNode(name: "node-a", cpuMilli: 8000, memoryMiB: 16384, gpuCount: 2, model: "T4"),
                          OpenbNode(name: "node-b", cpuMilli: 4000, memoryMiB: 8192, gpuCount: 0, model: "")])
        let tasks = try OpenbTrace.parseTasks(Self.podsCSV, file: "pods.csv")
        #expect(tasks.count == 4)
        #expect(tasks[1].gpuSpec == ["T4"] && tasks[1].gpuMilli == 500 && tasks[2].deletionTime == 100 && tasks[0].deletionTime == nil)
        #expect(tasks.map(\.totalGPUMilli) == [1000, 500, 500, 0])
    }

    @Test("parse errors name the file, the line and the field")
    func parseErrors() {
        #expect(throws: OpenbParseError(code: .badNumber, file: "pods.csv", line: 3, field: "cpu_milli", message: "'12x' is not an integer")) {
            try OpenbTrace.parseTasks(Self.podsCSV.replacingOccurrences(of: "pod-1,1000", with: "pod-1,12x"), file: "pods.csv")
        }
        #expect(throws: OpenbParseError(code: .missingColumn, file: "n.csv", line: 1, field: "model", message: "missing column (header: sn,cpu_milli,memory_mib,gpu)")) {
            try OpenbTrace.parseNodes("sn,cpu_milli,memory_mib,gpu\nx,1,1,1", file: "n.csv")
        }
        do {
            _ = try OpenbTrace.parseTasks(Self.podsCSV + "\npod-4,1,1,1,2000,,,,,,", file: "p.csv")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "p.csv:6: field gpu_milli: must be 0…1000, is 2000")
        }
    }

    @Test("inflation adds tasks until the next would pass the target; an oversized list is trimmed")
    func taskList() throws {
        let tasks = try OpenbTrace.parseTasks(Self.podsCSV, file: "pods.csv")
        for seed in UInt64(1)...20 {
            var rng = SplitMix64(seed: seed)
            let list = OpenbExperiment.taskList(tasks, gpuCapacityMilli: 2000, inflation: 1.3, rng: &rng)
            let total = list.reduce(0) { $0 + $1.totalGPUMilli }
            #expect(total <= 2600 && total >= 2600 - 1000, "seed \(seed): \(total)")
            #expect(Set(tasks).isSubset(of: Set(list)), "seed \(seed)")
            var trim = SplitMix64(seed: seed)
            let trimmed = OpenbExperiment.taskList(tasks, gpuCapacityMilli: 1000, inflation: 1, rng: &trim)
            #expect(trimmed.reduce(0) { $0 + $1.totalGPUMilli } <= 1000, "seed \(seed)")
        }
    }

    @Test("a tiny bus with a known answer: AWB pairs the shares on one device and allocates 100 % at 100 % arrived")
    func knownAnswer() throws {
        let nodes = try OpenbTrace.parseNodes(Self.nodesCSV, file: "nodes.csv")
        let tasks = try OpenbTrace.parseTasks(Self.podsCSV, file: "pods.csv")
        for seed in UInt64(42)...51 {
            var progressCalls = 0
            let r = OpenbExperiment.run(nodes: nodes, tasks: tasks, policy: awb, seed: seed, inflation: 1.0, progressEvery: 1) { _ in progressCalls += 1 }
            #expect(r.gpuCapacityMilli == 2000)
            #expect(r.gpuAllocPctAt100 == 100, "seed \(seed): \(String(describing: r.gpuAllocPctAt100))")
            #expect(r.finalGPUAllocPct == 100)
            #expect(r.placed == r.tasks && r.failed == 0, "seed \(seed)")
            #expect(progressCalls == r.tasks)
            #expect(r == OpenbExperiment.run(nodes: nodes, tasks: tasks, policy: awb, seed: seed, inflation: 1.0), "same seed, same result")
        }
        // Past capacity: GPU tasks beyond capacity fail, and the bus never exceeds 100 %.
        for seed in UInt64(1)...10 {
            var rng = SplitMix64(seed: seed)
            let arrived = OpenbExperiment.taskList(tasks, gpuCapacityMilli: 2000, inflation: 1.3, rng: &rng).reduce(0) { $0 + $1.totalGPUMilli }
            let r = OpenbExperiment.run(nodes: nodes, tasks: tasks, policy: awb, seed: seed, inflation: 1.3)
            if arrived > 2000 { #expect(r.failed > 0, "seed \(seed)") }
            #expect(r.finalGPUAllocPct <= 100 && r.curve.values.allSatisfy { $0 <= 100 }, "seed \(seed)")
        }
    }
}
