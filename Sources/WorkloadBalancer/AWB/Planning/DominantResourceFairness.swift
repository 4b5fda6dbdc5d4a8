import BackplaneModel

/// Orders a pending queue by dominant-resource fairness (Ghodsi et al., NSDI '11): repeatedly the
/// tenant with the smallest dominant share (its largest share of any bus resource, counting what
/// it holds and what is ordered before) gets its next instance (highest priority first).
/// Deterministic: ties go to the tenant name, then the instance id.
public enum DominantResourceFairness {
    public static func order(_ pending: [InstanceDemand], usage: [String: TenantUsage], capacity: Resources, gpuCapacityMilli: Int) -> [InstanceDemand] {
        var queues: [String: [InstanceDemand]] = Dictionary(grouping: pending, by: \.tenant)
        for key in queues.keys {
            queues[key]!.sort { ($0.priority, $1.instanceID) > ($1.priority, $0.instanceID) }
            queues[key]!.reverse()   // pop from the end
        }
        var held = usage
        var ordered: [InstanceDemand] = []
        ordered.reserveCapacity(pending.count)
        while true {
            let next = queues.filter { !$0.value.isEmpty }.keys.min {
                let a = dominantShare(held[$0] ?? TenantUsage(), capacity, gpuCapacityMilli), b = dominantShare(held[$1] ?? TenantUsage(), capacity, gpuCapacityMilli)
                return a != b ? a < b : $0 < $1
            }
            guard let tenant = next else { return ordered }
            let demand = queues[tenant]!.removeLast()
            ordered.append(demand)
            var u = held[tenant] ?? TenantUsage()
            u.resources = u.resources + demand.resources
            u.gpuMilli = u.gpuMilli.saturatingAdd(demand.gpu.totalMilli)
            u.instances += 1
            held[tenant] = u
        }
    }

    /// max over resources with capacity of usage / capacity.
    public static func dominantShare(_ usage: TenantUsage, _ capacity: Resources, _ gpuCapacityMilli: Int) -> Double {
        var share = 0.0
        for dimension in ResourceDimension.allCases where dimension.amount(capacity) > 0 {
            share = max(share, Double(dimension.amount(usage.resources)) / Double(dimension.amount(capacity)))
        }
        if gpuCapacityMilli > 0 { share = max(share, Double(usage.gpuMilli) / Double(gpuCapacityMilli)) }
        return share
    }
}

extension PlacementEngine {
    /// The bus's total capacity of ready cards.
    public var readyCapacity: Resources {
        cards.filter { $0.state == .ready }.reduce(.zero) { $0 + $1.capacity }
    }

    /// `pending` in DRF order given what tenants hold on this bus.
    public func fairOrder(_ pending: [InstanceDemand]) -> [InstanceDemand] {
        DominantResourceFairness.order(pending, usage: tenantUsage, capacity: readyCapacity, gpuCapacityMilli: gpuCapacityMilli)
    }
}
