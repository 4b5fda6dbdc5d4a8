import BackplaneModel
@testable import WorkloadBalancer

func spec(_ n: UInt64, cpu: Int64 = 8000, memoryGi: Int64 = 32, gpus: Int = 0, model: String = "T4", state: Card.State = .ready,
          labels: [String: String] = [:], cost: Double = 0) -> CardSpec {
    CardSpec(id: CardID(0x2_000000 + n), name: "card-\(n)", state: state, capacity: Resources(cpuMillis: cpu, memoryBytes: memoryGi << 30),
             gpuModels: Array(repeating: model, count: gpus), labels: labels, costPerHour: cost)
}

func demand(_ id: String, cpu: Int64 = 1000, memoryGi: Int64 = 1, gpus: Int = 0, milli: Int = 1000, models: [String] = [],
            priority: Int = 500, tenant: String = "default", labels: [String: String] = [:], maxPerCard: Int? = nil) -> InstanceDemand {
    InstanceDemand(instanceID: id, workload: String(id.split(separator: "-").first!), tenant: tenant, priority: priority,
                   resources: Resources(cpuMillis: cpu, memoryBytes: memoryGi << 30),
                   gpu: gpus == 0 ? .none : GPURequest(count: gpus, milliPerDevice: milli, allowedModels: models),
                   requiredLabels: labels, maxInstancesPerCard: maxPerCard)
}

func cardID(_ n: UInt64) -> CardID { CardID(0x2_000000 + n) }

let awb = AWBRegistry.policy(named: "awb")!

/// A view for plugin tests: one card state.
func view(cpu: Int64 = 8000, freeCPU: Int64? = nil, memoryGi: Int64 = 32, freeMemoryGi: Int64? = nil, devices: [Int] = [], state: Card.State = .ready,
          labels: [String: String] = [:]) -> CardStateView {
    CardStateView(state: state, capacity: Resources(cpuMillis: cpu, memoryBytes: memoryGi << 30),
                  free: Resources(cpuMillis: freeCPU ?? cpu, memoryBytes: (freeMemoryGi ?? memoryGi) << 30),
                  devices: devices.map { DeviceSlot(model: 0, free: $0) }.sorted(), labels: labels, costPerHour: 0, fragmentation: 0)
}

func shape(cpu: Int64 = 1000, memoryGi: Int64 = 1, gpus: Int = 0, milli: Int = 1000, mask: UInt64 = .max, labels: [String: String] = [:], priority: Int = 500) -> DemandShape {
    DemandShape(resources: Resources(cpuMillis: cpu, memoryBytes: memoryGi << 30), gpuCount: gpus, gpuMilli: gpus == 0 ? 0 : milli,
                modelMask: mask, requiredLabels: labels, priority: priority)
}

/// Checks no card and no GPU device holds more than it has; returns a description of the first breach.
func overCommitment(_ engine: PlacementEngine) -> String? {
    for card in engine.cards {
        let (allocated, deviceFree) = engine.allocation(of: card.id)!
        if !card.capacity.covers(allocated) { return "\(card.name): \(allocated) > \(card.capacity)" }
        if let d = deviceFree.firstIndex(where: { $0 < 0 || $0 > 1000 }) { return "\(card.name) device \(d) free \(deviceFree[d])" }
        let used = engine.instances(on: card.id)
        let summed = used.reduce(Resources.zero) { $0 + $1.demand.resources }
        if summed != allocated { return "\(card.name): instances sum \(summed) ≠ allocated \(allocated)" }
        var perDevice = [Int](repeating: 0, count: card.gpuModels.count)
        for i in used { for d in i.gpuDevices { perDevice[d] += i.demand.gpu.milliPerDevice } }
        for (d, u) in perDevice.enumerated() where u + deviceFree[d] != 1000 { return "\(card.name) device \(d): used \(u) + free \(deviceFree[d]) ≠ 1000" }
        for i in used where !i.demand.gpu.allowedModels.isEmpty {
            for d in i.gpuDevices where !i.demand.gpu.allowedModels.contains(card.gpuModels[d]) { return "\(i.demand.instanceID) on a \(card.gpuModels[d])" }
        }
        for i in used where Set(i.gpuDevices).count != i.gpuDevices.count || i.gpuDevices.count != i.demand.gpu.count { return "\(i.demand.instanceID) devices \(i.gpuDevices)" }
    }
    return nil
}
