import BackplaneModel
import Testing
@testable import WorkloadBalancer

@Suite("sim replay")
struct AWBReplayTests {
    static func task(_ name: String, at: Int64, runs: Int64, cpu: Int64, instances: Int = 1, priority: Int = 500, tenant: String = "default") -> ReplayTask {
        ReplayTask(name: name, tenant: tenant, priority: priority, createTime: at, duration: runs, instances: instances,
                   resources: Resources(cpuMillis: cpu, memoryBytes: 1 << 30))
    }
    static let twoCards = [spec(1, cpu: 4000), spec(2, cpu: 4000)]

    @Test("tasks wait for a departure: exact pending times, utilisation and span")
    func waitsForDeparture() {
        // t=0: a (3 cores, 100 s) and b (3 cores, 50 s) take a card each; c (2 cores, t=10) waits for b to leave (t=50)
        // and runs 50..80 on b's card; d (4 cores, t=20) waits for that card to empty (t=80) and runs 80..90.
        let tasks = [Self.task("a", at: 0, runs: 100, cpu: 3000), Self.task("b", at: 0, runs: 50, cpu: 3000),
                     Self.task("c", at: 10, runs: 30, cpu: 2000), Self.task("d", at: 20, runs: 10, cpu: 4000)]
        let r = ReplayExperiment.run(cards: Self.twoCards, tasks: tasks, policy: awb, seed: 1, options: .init(sampleInterval: 10))
        #expect(r.placedInstances == 4 && r.neverPlacedInstances == 0 && r.preemptions == 0)
        #expect(r.startTime == 0 && r.endTime == 100)
        // Waits: a 0, b 0, c 40, d 60 (nearest rank).
        #expect(r.pendingTime == .init(count: 4, mean: 25, p50: 0, p90: 60, p99: 60, max: 60))
        // CPU allocated (of 8 cores): 0-50: 6; 50-80: 5; 80-90: 7; 90-100: 3 → (300 + 150 + 70 + 30) / 8 / 100.
        #expect(abs(r.meanUtilisation.cpu - 550.0 / 8 / 100) < 1e-12)
        #expect(r.peakUtilisation.cpu == 0.875)
        // A sample shows the state after every event at or before its time.
        #expect(r.samples.map(\.time) == Array(stride(from: 0, through: 100, by: 10)))
        #expect(r.samples[3].pendingInstances == 2 && r.samples[6].pendingInstances == 1 && r.samples[6].runningInstances == 2)
        #expect(r.samples[5].utilisation.cpu == 5.0 / 8 && r.samples[8].utilisation.cpu == 7.0 / 8 && r.samples[10].runningInstances == 0)
    }

    @Test("a higher-priority task preempts a lower one; the victim waits and restarts")
    func preemption() {
        // low fills card 1 (4 cores, 100 s), mid fills card 2 (priority 500, never a victim of 500);
        // high (900, 4 cores) arrives at t=10 and evicts low, which restarts when high leaves at 30 and runs 100 s.
        let tasks = [Self.task("low", at: 0, runs: 100, cpu: 4000, priority: 100), Self.task("mid", at: 0, runs: 200, cpu: 4000),
                     Self.task("high", at: 10, runs: 20, cpu: 4000, priority: 900)]
        let r = ReplayExperiment.run(cards: Self.twoCards, tasks: tasks, policy: awb, seed: 1)
        #expect(r.preemptions == 1)
        #expect(r.placements == 4 && r.placedInstances == 3)
        #expect(r.pendingTime.max == 0, "high starts at once by preempting")
        #expect(r.requeuedPendingTime == .init(count: 1, mean: 20, p50: 20, p90: 20, p99: 20, max: 20))
        #expect(r.endTime == 200)
        let off = ReplayExperiment.run(cards: Self.twoCards, tasks: tasks, policy: awb, seed: 1, options: .init(preemption: false))
        #expect(off.preemptions == 0 && off.pendingTime.max == 90, "without preemption high waits for low (t=100)")
    }

    @Test("pending instances go highest priority first, then to the tenant with the smallest dominant share")
    func order() {
        // One 4-core card held by x until t=10, while a1, a2 (tenant A), b1 (B) and hi (A, priority 600) arrive.
        let cards = [spec(1, cpu: 4000)]
        let tasks = [Self.task("x", at: 0, runs: 10, cpu: 4000, priority: 900),
                     Self.task("a1", at: 1, runs: 100, cpu: 2000, tenant: "A"), Self.task("a2", at: 2, runs: 100, cpu: 2000, tenant: "A"),
                     Self.task("b1", at: 3, runs: 100, cpu: 2000, tenant: "B"), Self.task("hi", at: 4, runs: 5, cpu: 2000, priority: 600, tenant: "A")]
        let r = ReplayExperiment.run(cards: cards, tasks: tasks, policy: awb, seed: 1, options: .init(preemption: false))
        // t=10: hi (priority 600) and then B (share 0 < A's 0.5 after hi) start; a1 at 15 when hi leaves, a2 at 110.
        // Waits: x 0, hi 6, b1 7, a1 14, a2 108.
        #expect(r.pendingTime == .init(count: 5, mean: 27, p50: 7, p90: 108, p99: 108, max: 108))
    }

    @Test("a task that fits no card is refused on arrival; instances are counted; capped tasks drop the rest")
    func unplaceableAndCap() {
        let tasks = [Self.task("huge", at: 0, runs: 10, cpu: 9000), Self.task("many", at: 0, runs: 10, cpu: 1000, instances: 10)]
        let r = ReplayExperiment.run(cards: Self.twoCards, tasks: tasks, policy: awb, seed: 1)
        #expect(r.unplaceableInstances == 1 && r.unplaceableTasks == 1)
        #expect(r.instances == 11 && r.placedInstances == 10 && r.neverPlacedInstances == 0)
        #expect(r.taskPendingTime == .init(count: 1, mean: 10, p50: 10, p90: 10, p99: 10, max: 10), "the last 2 start at t=10")
        let capped = ReplayExperiment.run(cards: Self.twoCards, tasks: tasks, policy: awb, seed: 1, options: .init(maxInstancesPerTask: 3))
        #expect(capped.instances == 4 && capped.droppedInstances == 7 && capped.placedInstances == 3)
    }

    @Test("the same seed gives the same result; progress is reported (seeded random traces)")
    func deterministic() {
        for seed in UInt64(1)...20 {
            var rng = SplitMix64(seed: seed)
            let cards = (0..<4).map { spec(UInt64($0), cpu: 8000, gpus: [0, 2].randomElement(using: &rng)!) }
            let tasks = (0..<60).map { k in
                ReplayTask(name: "t\(k)", tenant: ["A", "B", "C"].randomElement(using: &rng)!, priority: [100, 500, 900].randomElement(using: &rng)!,
                           createTime: Int64.random(in: 0...200, using: &rng), duration: Int64.random(in: 0...100, using: &rng),
                           instances: Int.random(in: 1...4, using: &rng), resources: Resources(cpuMillis: Int64.random(in: 1...8, using: &rng) * 500, memoryBytes: 1 << 30),
                           gpu: Bool.random(using: &rng) ? .none : GPURequest(count: 1, milliPerDevice: [300, 500, 1000].randomElement(using: &rng)!))
            }
            for name in ["awb", "random"] {
                let policy = AWBRegistry.policy(named: name)!
                var calls = 0
                let a = ReplayExperiment.run(cards: cards, tasks: tasks, policy: policy, seed: seed, options: .init(progressEvery: 10)) { _ in calls += 1 }
                let b = ReplayExperiment.run(cards: cards, tasks: tasks, policy: policy, seed: seed)
                #expect(a == b, "seed \(seed), \(name)")
                #expect(calls > 1, "seed \(seed)")
                #expect(a.placedInstances + a.unplaceableInstances + a.neverPlacedInstances == a.instances, "seed \(seed), \(name)")
                #expect(a.neverRestartedInstances == 0 && a.peakUtilisation.cpu <= 1 && a.peakUtilisation.gpu <= 1, "seed \(seed), \(name)")
            }
        }
    }

    @Test("a contended replay decides the same with the engine's caches off and with short class logs (seeded)")
    func cachesAreTransparent() {
        for seed in UInt64(1)...6 {
            var rng = SplitMix64(seed: seed)
            let cards = (0..<6).map { spec(UInt64($0), cpu: 16_000, memoryGi: 64) }
            let tasks = (0..<150).map { k in
                ReplayTask(name: "t\(k)", tenant: ["A", "B"].randomElement(using: &rng)!, priority: [100, 500].randomElement(using: &rng)!,
                           createTime: Int64.random(in: 0...300, using: &rng), duration: Int64.random(in: 1...200, using: &rng),
                           instances: Int.random(in: 1...6, using: &rng),
                           resources: Resources(cpuMillis: Int64.random(in: 1...40, using: &rng) * 100, memoryBytes: Int64.random(in: 1...9000, using: &rng) << 20))
            }
            let cached = ReplayExperiment.run(cards: cards, tasks: tasks, policy: awb, seed: seed)
            #expect(cached.pendingTime.max > 0, "seed \(seed): the bus should be contended")
            // Compared as a Bool: a failure names the setting, not two pages of samples.
            let uncached = cached == ReplayExperiment.run(cards: cards, tasks: tasks, policy: awb, seed: seed, useBestCache: false, logFloor: 1 << 16)
            let shortLogs = cached == ReplayExperiment.run(cards: cards, tasks: tasks, policy: awb, seed: seed, useBestCache: true, logFloor: 4)
            let eagerRebuild = cached == ReplayExperiment.run(cards: cards, tasks: tasks, policy: awb, seed: seed, useBestCache: true, logFloor: 1 << 16, bestHeapFloor: 0)
            #expect(uncached, "seed \(seed): caches off")
            #expect(shortLogs, "seed \(seed): class logs dropped")
            #expect(eagerRebuild, "seed \(seed): heaps rebuilt eagerly")
        }
    }

    @Test("openb and alibaba-2017 loaders: units, skipped rows, and errors naming file, line and field")
    func loaders() throws {
        let extra = "\npod-4,1000,1024,0,0,,BE,Running,5,,5\npod-5,1000,1024,0,0,,XX,Running,9,3,9\npod-6,1000,1024,2,1000,T4,LS,Running,7,17,7\npod-7,1000,1024,0,0,,XX,Running,8,9,8"
        let openb = try ReplayTrace.openb(AWBOpenbTests.podsCSV + extra, file: "pods.csv")
        #expect(openb.tasks.map(\.name) == ["pod-2", "pod-6", "pod-7"])
        #expect(openb.tasks.map(\.priority) == [100, 900, 500], "BE, LS, unknown qos")
        #expect(openb.tasks.map(\.duration) == [98, 10, 1] && openb.tasks.map(\.line) == [4, 8, 9])
        #expect(openb.tasks[0].gpu == .share(500) && openb.tasks[1].gpu == .whole(2, models: ["T4"]))
        #expect(openb.skipped == ["missing deletion_time": 4, "deletion_time before creation_time": 1])
        #expect(throws: TraceParseError(code: .missingColumn, file: "m.csv", line: 1, field: "creation_time",
                                        message: "missing column (header: name,cpu_milli,memory_mib,num_gpu,gpu_milli)")) {
            try ReplayTrace.openb("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1,1,0,0", file: "m.csv")
        }
        let alibaba = """
        task_create_time, task_end_time, job_id, task_id,number_of_instances, status, number_of_cpus_requested_per_instance_in_the_task,normalized_memory_requested_per_instance_in_the_task\r
        6459,6524,3,4,15740,Terminated,50,0.007956928\r
        6036,6046,4,7,393,Waiting,,\r
        100,90,5,1,2,Terminated,100,0.01\r
        7000,7100,5,2,3,Terminated,100,0.5\r

        """
        let trace = try ReplayTrace.alibaba2017BatchTasks(alibaba, file: "batch_task.csv")
        #expect(trace.tasks.count == 2 && trace.skippedRows == 2)
        #expect(trace.skipped == ["missing number_of_cpus_requested_per_instance_in_the_task": 1, "task_end_time before task_create_time": 1])
        #expect(trace.tasks[0] == ReplayTask(name: "job-3/task-4", tenant: "job-3", createTime: 6459, duration: 65, instances: 15740,
                                             resources: Resources(cpuMillis: 500, memoryBytes: 7_956_928), line: 2))
        #expect(trace.tasks[1].resources.memoryBytes == 500_000_000 && trace.tasks[1].line == 5)
        do {
            _ = try ReplayTrace.alibaba2017BatchTasks(alibaba.replacingOccurrences(of: "7000,7100,5,2,3,Terminated,100", with: "7000,7100,5,2,3,Terminated,1x0"), file: "b.csv")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "b.csv:5: field number_of_cpus_requested_per_instance_in_the_task: '1x0' is not an integer")
        }
        do {
            _ = try ReplayTrace.alibaba2017BatchTasks(alibaba.replacingOccurrences(of: "100,0.5", with: "100,half"), file: "b.csv")
            Issue.record("expected an error")
        } catch {
            #expect(error.line == 5 && error.field == "normalized_memory_requested_per_instance_in_the_task")
        }
        do {
            _ = try ReplayTrace.alibaba2017BatchTasks(alibaba.replacingOccurrences(of: "7000,7100,5,2,3,Terminated,100", with: "7000,7100,5,2,3,Terminated,922337203685477580"), file: "b.csv")
            Issue.record("expected an error")
        } catch {
            #expect(error.line == 5 && error.field == "number_of_cpus_requested_per_instance_in_the_task", "a huge request is an error, not a crash")
        }
        let cards = ReplayTrace.alibaba2017Cards(count: 3)
        #expect(cards.count == 3 && cards[0].capacity == Resources(cpuMillis: 64_000, memoryBytes: 1_000_000_000))
    }
}
