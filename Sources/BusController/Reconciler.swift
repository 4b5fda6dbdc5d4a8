import BackplaneModel
import WorkloadBalancer

/// Turns desired state (workloads) and actual state (instances, cards) into the instance
/// changes that move one toward the other. Pure: time comes in as `now`; nothing is read or
/// written here. The plan applier commits the result with compare-and-swap.
public struct Reconciler: Sendable {
    /// The AWB policy every placement goes through (`AWBRegistry.policy(named:)`).
    public var policy: Policy
    /// Restart backoff: `base × 2^(restarts)`, at most `maxBackoff`.
    public var baseBackoff: Duration
    public var maxBackoff: Duration

    public init(policy: Policy = AWBRegistry.policy(named: "awb")!, baseBackoff: Duration = .seconds(1), maxBackoff: Duration = .seconds(60)) {
        self.policy = policy
        self.baseBackoff = baseBackoff
        self.maxBackoff = maxBackoff
    }

    /// What the bus looks like to one reconciliation.
    public struct Snapshot: Sendable {
        public var workloads: [WorkloadSpec]
        public var instances: [InstanceRecord]
        public var cards: [Card]
        /// Per-tenant quotas, by tenant.
        public var quotas: [String: Quota]
        public init(workloads: [WorkloadSpec], instances: [InstanceRecord], cards: [Card], quotas: [String: Quota] = [:]) {
            self.workloads = workloads
            self.instances = instances
            self.cards = cards
            self.quotas = quotas
        }
    }

    /// The changes to make: instances to write (new or updated) and ids to delete.
    public struct Changes: Hashable, Sendable {
        public var upserts: [InstanceRecord] = []
        public var deletions: [String] = []
        public var isEmpty: Bool { upserts.isEmpty && deletions.isEmpty }
    }

    public func reconcile(_ s: Snapshot, now: Instant) -> Changes {
        var changes = Changes()
        let cards = Dictionary(uniqueKeysWithValues: s.cards.map { ($0.id, $0) })
        var instances = Dictionary(uniqueKeysWithValues: s.instances.map { ($0.instance.id, $0) })
        let workloads = Dictionary(uniqueKeysWithValues: s.workloads.map { ($0.key, $0) })
        var upserted: [String: Int] = [:]  // id → index in changes.upserts (one entry per id, O(1))
        func update(_ r: InstanceRecord) {
            instances[r.instance.id] = r
            if let index = upserted[r.instance.id] {
                changes.upserts[index] = r
            } else {
                upserted[r.instance.id] = changes.upserts.count
                changes.upserts.append(r)
            }
        }

        // 1. Instances whose workload is gone, or beyond the replica count, stop; stopped ones go.
        //    So do records under an id their workload no longer gives that ordinal (ids made
        //    before tenants were part of them): the right id is placed anew.
        for r in instances.values.sorted(by: { $0.instance.id < $1.instance.id }) {
            let spec = workloads[r.workloadKey]
            let wanted = spec.map { r.ordinal < $0.replicas && r.instance.id == InstanceRecord.id(tenant: $0.tenant, workload: $0.name, ordinal: r.ordinal) } ?? false
            if wanted { continue }
            switch r.instance.state {
            case .pending, .stopped:
                instances.removeValue(forKey: r.instance.id)
                changes.deletions.append(r.instance.id)
            case .exited where r.instance.card == nil || cards[r.instance.card!]?.state != .ready:
                instances.removeValue(forKey: r.instance.id)
                changes.deletions.append(r.instance.id)
            case .starting, .running, .exited:
                var next = r
                next.instance.state = .stopping
                update(next)
            case .stopping:
                // A card that is gone will never confirm the stop.
                if let card = r.instance.card, cards[card]?.state == .lost || cards[card] == nil {
                    instances.removeValue(forKey: r.instance.id)
                    changes.deletions.append(r.instance.id)
                }
            }
        }

        // 2. Every workload gets instances for ordinals 0..<replicas.
        for spec in s.workloads.sorted(by: { $0.key < $1.key }) {
            for ordinal in 0..<spec.replicas {
                let id = InstanceRecord.id(tenant: spec.tenant, workload: spec.name, ordinal: ordinal)
                if instances[id] == nil {
                    update(InstanceRecord(spec: spec, ordinal: ordinal))
                }
            }
        }

        // 3. Instances on lost or removed cards go back to pending; draining cards stop theirs,
        //    which then go back to pending too; exited ones restart per policy.
        for r in instances.values.sorted(by: { $0.instance.id < $1.instance.id }) {
            guard let spec = workloads[r.workloadKey], r.ordinal < spec.replicas else { continue }
            var next = r
            let cardState = r.instance.card.map { cards[$0]?.state ?? .removed }
            if cardState == .draining, [.starting, .running].contains(r.instance.state) {
                next.instance.state = .stopping
                update(next)
            } else if r.instance.state == .stopped || (r.instance.state == .exited && cardState == .draining) {
                next.unplace(reason: nil)
                update(next)
            } else if let card = r.instance.card, [.lost, .removed].contains(cards[card]?.state ?? .removed), [.starting, .running, .exited, .stopping].contains(r.instance.state) {
                next.unplace(reason: "card \(card) was lost")
                update(next)
            } else if r.instance.state == .exited {
                let failed = (r.instance.exitCode ?? 0) != 0
                let restart = spec.restart == .always || (spec.restart == .onFailure && failed)
                guard restart else { continue }
                let due = r.exitedAt.map { $0 + backoff(restarts: r.instance.restarts) } ?? now
                if now >= due {
                    next.unplace(reason: nil)
                    next.instance.restarts += 1
                    update(next)
                } else if next.restartAt != due {
                    next.restartAt = due
                    update(next)
                }
            }
        }

        // 4. Place pending instances with AWB, highest priority first and, within a priority,
        //    in dominant-resource-fair order across tenants.
        let pending = instances.values.filter { $0.instance.state == .pending }
        if !pending.isEmpty {
            var engine = Self.engine(for: s.cards, holding: instances.values.filter { $0.instance.holdsResources }, policy: policy, quotas: s.quotas)
            let demands = engine.fairOrder(pending.map { Self.demand($0.instance) })
            let order = demands.enumerated().sorted { ($0.element.priority, -$0.offset) > ($1.element.priority, -$1.offset) }.map(\.element)
            for demand in order {
                switch engine.place(demand) {
                case .place(let placement):
                    var next = instances[demand.instanceID]!
                    next.instance.state = .starting
                    next.instance.card = placement.card
                    // A new incarnation: grows with every placement, and past any earlier record
                    // of the same id (a deleted and re-created workload), so a stale copy is
                    // always recognised.
                    next.instance.incarnation = max(next.instance.incarnation &+ 1, now.nanoseconds)
                    next.instance.gpuDevices = placement.gpuDevices.isEmpty ? nil : placement.gpuDevices
                    next.instance.pendingReason = nil
                    next.placedAt = now
                    update(next)
                case .pending(let why):
                    var reason = why.pendingReason ?? PendingReason(dimension: nil, requested: 0, largestFree: 0, cardsShort: 0, cardsConsidered: why.cards, notReady: [:])
                    reason.detail = why.description
                    if instances[demand.instanceID]!.instance.pendingReason != reason {
                        var next = instances[demand.instanceID]!
                        next.instance.pendingReason = reason
                        update(next)
                    }
                }
            }
        }
        changes.upserts.sort { $0.instance.id < $1.instance.id }
        return changes
    }

    /// The bus as AWB sees it: every card, and every instance that holds resources on one.
    public static func engine(for cards: [Card], holding: [InstanceRecord], policy: Policy, quotas: [String: Quota] = [:]) -> PlacementEngine {
        var engine = PlacementEngine(cards: cards.map { CardSpec($0, gpuModels: $0.gpus ?? []) }, policy: policy, expectedWorkload: holding.map { demand($0.instance) })
        engine.quotas = quotas.mapValues(\.balancerQuota)
        // Milli-GPU free per device, to replay recorded device assignments safely (a card may
        // have come back with fewer devices than it had).
        var free = Dictionary(uniqueKeysWithValues: cards.map { ($0.id, Array(repeating: 1000, count: $0.gpus?.count ?? 0)) })
        for r in holding.sorted(by: { $0.instance.id < $1.instance.id }) {
            guard let card = r.instance.card, var devices = free[card] else { continue }
            let d = demand(r.instance)
            var held: [Int] = []
            for index in r.instance.gpuDevices ?? [] where devices.indices.contains(index) && devices[index] >= d.gpu.milliPerDevice && !held.contains(index) {
                held.append(index)
            }
            if held.count != d.gpu.count { held = [] }  // unknown or stale devices: count CPU and memory only
            for index in held { devices[index] -= d.gpu.milliPerDevice }
            free[card] = devices
            engine.commit(Placement(instanceID: r.instance.id, card: card, gpuDevices: held), demand: d)
        }
        return engine
    }

    static func demand(_ i: Instance) -> InstanceDemand {
        InstanceDemand(instanceID: i.id, workload: i.workload, tenant: i.tenant, priority: i.priority, resources: i.requested,
                       gpu: i.gpu.map { GPURequest(count: $0.count, milliPerDevice: $0.milliPerDevice, allowedModels: $0.models) } ?? .none)
    }

    public func backoff(restarts: Int) -> Duration {
        let factor = 1 << min(restarts, 20)
        return min(maxBackoff, baseBackoff * factor)
    }
}
