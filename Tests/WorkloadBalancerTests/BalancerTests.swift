import BackplaneModel
import Testing
@testable import WorkloadBalancer

func card(_ n: UInt64, cpu: Int64 = 2000, memoryMi: Int64 = 1024, state: Card.State = .ready, allocatedCPU: Int64 = 0, allocatedMi: Int64 = 0) -> CardView {
    CardView(card: Card(id: CardID(0x1_000000 + n), name: "card-\(n)", state: state, capacity: Resources(cpuMillis: cpu, memoryBytes: memoryMi << 20)),
             allocated: Resources(cpuMillis: allocatedCPU, memoryBytes: allocatedMi << 20))
}

func request(_ id: String, cpu: Int64 = 250, memoryMi: Int64 = 128, priority: Int = 500) -> PlacementRequest {
    PlacementRequest(instanceID: id, workload: String(id.split(separator: "-").first!), priority: priority, resources: Resources(cpuMillis: cpu, memoryBytes: memoryMi << 20))
}

@Suite("AWB v1")
struct BalancerTests {
    let balancer = Balancer()

    @Test("places on the emptiest ready card; draining and lost cards take nothing")
    func spreads() {
        let cards = [card(1, allocatedCPU: 1000, allocatedMi: 512), card(2), card(3, state: .draining), card(4, state: .lost)]
        #expect(balancer.decide(request("web-0"), cards: cards) == .place(CardID(0x1_000002), score: balancer.scorers.reduce(0) { $0 + $1.weight * $1.plugin.score(request("web-0"), on: cards[1]) }))
    }

    @Test("the pending reason names the binding resource with the numbers")
    func pendingReason() {
        let cards = [card(1, allocatedMi: 768), card(2, allocatedMi: 900), card(3, allocatedMi: 1000)]
        guard case .pending(let reason) = balancer.decide(request("db-0", memoryMi: 512), cards: cards) else { Issue.record("expected pending"); return }
        #expect(reason.dimension == .memory && reason.cardsShort == 3 && reason.cardsConsidered == 3)
        #expect(reason.description == "insufficient memory on 3 of 3 cards (requested 512Mi, largest free 256Mi)")
    }

    @Test("no ready cards is its own reason")
    func noReadyCards() {
        guard case .pending(let reason) = balancer.decide(request("x-0"), cards: [card(1, state: .draining), card(2, state: .joining)]) else { Issue.record("expected pending"); return }
        #expect(reason.description == "no ready cards (1 draining, 1 joining)")
        guard case .pending(let empty) = balancer.decide(request("x-0"), cards: []) else { Issue.record("expected pending"); return }
        #expect(empty.description == "no cards on the bus")
    }

    @Test("a plan places higher priority first and counts each placement against its card")
    func planOrder() {
        let plan = balancer.plan([request("low-0", cpu: 1500, priority: 10), request("high-0", cpu: 1500, priority: 900)], cards: [card(1)])
        #expect(plan.placements.map(\.instanceID) == ["high-0"])
        #expect(plan.pending.map(\.instanceID) == ["low-0"])
        #expect(plan.pending.first?.reason.dimension == .cpu)
    }

    @Test("binpack policy fills the fullest card that fits")
    func binpack() {
        let packer = Balancer(scorers: [.init(AllocationLevel(binpack: true), weight: 1)])
        #expect(packer.decide(request("a-0"), cards: [card(1), card(2, allocatedCPU: 1000, allocatedMi: 512)]) == .place(CardID(0x1_000002), score: packer.scorers[0].plugin.score(request("a-0"), on: card(2, allocatedCPU: 1000, allocatedMi: 512))))
    }

    @Test("never over-commits a card, and is deterministic, on random buses (seeded)")
    func neverOvercommits() {
        for seed in UInt64(1)...200 {
            var rng = SplitMix64(seed: seed)
            let cards = (0..<Int.random(in: 1...8, using: &rng)).map { i in
                card(UInt64(i), cpu: Int64.random(in: 500...4000, using: &rng), memoryMi: Int64.random(in: 256...4096, using: &rng),
                     state: Int.random(in: 0..<10, using: &rng) == 0 ? .draining : .ready)
            }
            let requests = (0..<Int.random(in: 1...40, using: &rng)).map { i in
                request("w-\(i)", cpu: Int64.random(in: 50...2000, using: &rng), memoryMi: Int64.random(in: 16...2048, using: &rng), priority: Int.random(in: 0...1000, using: &rng))
            }
            let plan = balancer.plan(requests, cards: cards)
            #expect(plan == balancer.plan(requests, cards: cards), "deterministic, seed \(seed)")
            #expect(plan.placements.count + plan.pending.count == requests.count, "seed \(seed)")
            for view in cards {
                let placed = plan.placements.filter { $0.card == view.card.id }.map { p in requests.first { $0.instanceID == p.instanceID }!.resources }
                let total = placed.reduce(view.allocated, +)
                #expect(view.card.capacity.covers(total), "card \(view.card.id) over-committed, seed \(seed)")
                if view.card.state != .ready { #expect(placed.isEmpty, "seed \(seed)") }
            }
        }
    }
}
