import BackplaneModel

extension PlacementEngine {
    /// Decides and commits like `place`, but returns nil instead of building the pending reason
    /// (for simulators that retry a pending queue often and never show the reason). Same decision
    /// as `place`: one code path.
    @discardableResult
    public mutating func placeWithoutReason(_ demand: InstanceDemand) -> Placement? {
        guard withinQuota(demand), case .success(let placement) = choose(internDemand(demand), demand) else { return nil }
        commit(placement, demand: demand)
        return placement
    }

    /// Would the demand pass every filter on some card of the bus if that card were empty and ready?
    /// (false: it can never be placed here, whatever leaves.)
    public func fitsSomeEmptyCard(_ demand: InstanceDemand) -> Bool {
        let shape = demandShape(demand)
        for key in Set(cards.indices.map { cardShape[$0] }).sorted() {
            let s = shapes[key]
            let empty = CardStateView(state: .ready, capacity: s.capacity, free: s.capacity,
                                      devices: s.models.map { DeviceSlot(model: $0, free: milliGPUPerDevice) }.sorted(),
                                      labels: s.labels, costPerHour: s.costPerHour, fragmentation: 0, modelPressure: modelPressure)
            if policy.filters.allSatisfy({ $0.check(shape, on: empty) == nil }) { return true }
        }
        return false
    }
}
