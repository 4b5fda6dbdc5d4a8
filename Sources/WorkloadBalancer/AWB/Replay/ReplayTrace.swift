import BackplaneModel

/// One task of a placement trace to replay: `instances` identical instances that arrive at
/// `createTime` (seconds) and, once started, each hold their resources for `duration` seconds.
public struct ReplayTask: Hashable, Sendable {
    public var name: String
    /// DRF orders a pending queue across tenants (alibaba-2017: the job; openb: one tenant).
    public var tenant: String
    /// Higher is more important; strictly higher may preempt.
    public var priority: Int
    public var createTime: Int64
    public var duration: Int64
    public var instances: Int
    /// Per instance.
    public var resources: Resources
    public var gpu: GPURequest
    /// Line of the trace file it comes from (1-based; 0 when made by hand).
    public var line: Int

    public init(name: String, tenant: String = WorkloadSpec.defaultTenant, priority: Int = WorkloadSpec.defaultPriority, createTime: Int64,
                duration: Int64, instances: Int = 1, resources: Resources, gpu: GPURequest = .none, line: Int = 0) {
        self.name = name
        self.tenant = tenant
        self.priority = priority
        self.createTime = createTime
        self.duration = duration
        self.instances = instances
        self.resources = resources
        self.gpu = gpu
        self.line = line
    }

    func demand(instanceID: String) -> InstanceDemand {
        InstanceDemand(instanceID: instanceID, workload: name, tenant: tenant, priority: priority, resources: resources, gpu: gpu)
    }
}

/// A parse failure of any placement trace: file, line (1-based), field and why (`code`).
public typealias TraceParseError = OpenbParseError

/// The tasks of a trace to replay, and the rows left out (reason → rows), in file order.
public struct ReplayTrace: Hashable, Sendable {
    public var tasks: [ReplayTask]
    public var skipped: [String: Int]
    public var skippedRows: Int { skipped.values.reduce(0, +) }

    public init(tasks: [ReplayTask], skipped: [String: Int] = [:]) {
        self.tasks = tasks
        self.skipped = skipped
    }

    // MARK: - openb

    /// openb `qos` → priority: latency-sensitive and guaranteed work over burstable over best effort.
    public static let openbQoSPriority: [String: Int] = ["LS": 900, "Guaranteed": 900, "Burstable": 500, "BE": 100]

    /// An openb pod list (`name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time`;
    /// times in seconds). Every pod with both times is replayed whatever its phase (one instance,
    /// one tenant); rows without a time, or deleted before created, are skipped and counted.
    /// Unknown `qos` values get `defaultPriority`. Throws on a malformed row (file, line, field).
    public static func openb(_ text: String, file: String, qosPriority: [String: Int] = openbQoSPriority,
                             defaultPriority: Int = WorkloadSpec.defaultPriority) throws(TraceParseError) -> ReplayTrace {
        let table = try OpenbTrace.Table(text, file: file, required: ["name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "creation_time", "deletion_time"])
        let tasks = try OpenbTrace.parseTasks(text, file: file)
        var trace = ReplayTrace(tasks: [])
        trace.tasks.reserveCapacity(tasks.count)
        for (row, task) in zip(table.rows, tasks) {
            guard let created = task.creationTime else { trace.skipped["missing creation_time", default: 0] += 1; continue }
            guard let deleted = task.deletionTime else { trace.skipped["missing deletion_time", default: 0] += 1; continue }
            guard deleted >= created else { trace.skipped["deletion_time before creation_time", default: 0] += 1; continue }
            guard !deleted.subtractingReportingOverflow(created).overflow else {
                throw table.error(row, "deletion_time", "\(deleted) − \(created) overflows")
            }
            let d = task.demand(instanceID: task.name)
            trace.tasks.append(ReplayTask(name: task.name, priority: qosPriority[task.qos] ?? defaultPriority, createTime: created,
                                          duration: deleted - created, resources: d.resources, gpu: d.gpu, line: row.line))
        }
        return trace
    }

    /// The openb node list as cards (ids from `firstID` on, in file order).
    public static func openbCards(_ nodes: [OpenbNode], firstID: UInt64 = 0x0B_0000) -> [CardSpec] {
        nodes.enumerated().map { $1.card(id: CardID(firstID + UInt64($0))) }
    }

    // MARK: - alibaba-2017

    /// alibaba-2017 memory is normalised to a machine's memory; the replay counts it in
    /// `Resources.memoryBytes` as normalised × 10⁹ (1.0 = one machine = 1,000,000,000).
    public static let alibabaMemoryUnit = 1e9

    /// alibaba-2017 `batch_task.csv` (`task_create_time, task_end_time, job_id, task_id, number_of_instances, status,
    /// number_of_cpus_requested_per_instance_in_the_task, normalized_memory_requested_per_instance_in_the_task`).
    /// CPUs are in 1/100 core (50 = half a core → 500 millicores); memory as `alibabaMemoryUnit` says.
    /// A task is `number_of_instances` instances of the job's tenant (`job-<id>`), all at `priority`,
    /// running `task_end_time − task_create_time` seconds once started. Rows with an empty time,
    /// count, CPU or memory field (e.g. every `Waiting` row), with no instances, or ending before
    /// they start are skipped and counted; a field that is present but not a number throws (file, line, field).
    public static func alibaba2017BatchTasks(_ text: String, file: String, priority: Int = WorkloadSpec.defaultPriority) throws(TraceParseError) -> ReplayTrace {
        let create = "task_create_time", end = "task_end_time", job = "job_id", taskColumn = "task_id", count = "number_of_instances"
        let cpus = "number_of_cpus_requested_per_instance_in_the_task", memory = "normalized_memory_requested_per_instance_in_the_task"
        let table = try OpenbTrace.Table(text, file: file, required: [create, end, job, taskColumn, count, cpus, memory])
        let c = (create: table.columns[create]!, end: table.columns[end]!, job: table.columns[job]!, task: table.columns[taskColumn]!,
                 count: table.columns[count]!, cpus: table.columns[cpus]!, memory: table.columns[memory]!)
        var trace = ReplayTrace(tasks: [])
        trace.tasks.reserveCapacity(table.rows.count)
        for row in table.rows {
            func field(_ k: Int) -> Substring { row.fields[k].trimmingCharacters(in: " \r") }
            func int(_ k: Int, _ name: String) throws(TraceParseError) -> Int64? {
                let raw = field(k)
                if raw.isEmpty { return nil }
                guard let v = Int64(raw) else { throw table.error(row, name, "'\(raw)' is not an integer") }
                return v
            }
            let missing = [(c.create, create), (c.end, end), (c.count, count), (c.cpus, cpus), (c.memory, memory)].first { field($0.0).isEmpty }
            if let missing {
                trace.skipped["missing \(missing.1)", default: 0] += 1
                // Still validate what is there.
                for (k, name) in [(c.create, create), (c.end, end), (c.count, count), (c.cpus, cpus)] { _ = try int(k, name) }
                continue
            }
            let start = try int(c.create, create)!, stop = try int(c.end, end)!, n = try int(c.count, count)!, cpu = try int(c.cpus, cpus)!
            let rawMemory = field(c.memory)
            guard let mem = Double(rawMemory), mem.isFinite else { throw table.error(row, memory, "'\(rawMemory)' is not a number") }
            guard cpu >= 0 else { throw table.error(row, cpus, "must not be negative, is \(cpu)") }
            guard cpu <= 100_000_000 else { throw table.error(row, cpus, "\(cpu) is more than 1,000,000 cores") }
            guard mem >= 0 else { throw table.error(row, memory, "must not be negative, is \(rawMemory)") }
            guard mem <= 1_000_000 else { throw table.error(row, memory, "\(rawMemory) is more than 1,000,000 machines' memory") }
            guard n <= 100_000_000 else { throw table.error(row, count, "\(n) is more than 100,000,000 instances") }
            guard n > 0 else { trace.skipped["no instances", default: 0] += 1; continue }
            guard stop >= start else { trace.skipped["task_end_time before task_create_time", default: 0] += 1; continue }
            guard !stop.subtractingReportingOverflow(start).overflow else { throw table.error(row, end, "\(stop) − \(start) overflows") }
            let jobID = field(c.job)
            trace.tasks.append(ReplayTask(name: "job-\(jobID)/task-\(field(c.task))", tenant: "job-\(jobID)", priority: priority,
                                          createTime: start, duration: stop - start, instances: Int(n),
                                          resources: Resources(cpuMillis: cpu * 10, memoryBytes: Int64((mem * alibabaMemoryUnit).rounded())),
                                          line: row.line))
        }
        return trace
    }

    /// `count` identical cards (ids from `firstID` on) with `cores` CPUs and `memory` (normalised;
    /// alibaba-2017's `server_event.csv` lists 64-CPU machines).
    public static func alibaba2017Cards(count: Int, cores: Int64 = 64, memory: Double = 1.0, firstID: UInt64 = 0xA1_0000) -> [CardSpec] {
        identicalCards(count: count, capacity: Resources(cpuMillis: cores * 1000, memoryBytes: Int64((memory * alibabaMemoryUnit).rounded())), firstID: firstID)
    }

    /// `count` copies of one card shape, named `card-<k>`.
    public static func identicalCards(count: Int, capacity: Resources, gpuModels: [String] = [], firstID: UInt64 = 0xA1_0000) -> [CardSpec] {
        (0..<max(count, 0)).map { CardSpec(id: CardID(firstID + UInt64($0)), name: "card-\($0)", capacity: capacity, gpuModels: gpuModels) }
    }
}
