import BackplaneModel
import Testing
@testable import ControlPlane

/// A model of the bus, driven step by step with a seeded generator, that uses the real
/// ``CardHealth`` and ``Adoption`` decisions on the BMC's side and the lease/shim rules on the
/// cards' side (a copy is fenced at most `shimDelay` after its card's lease deadline). Faults
/// interleave at random: card agent killed and restarted, frozen and resumed, link lost, BMC
/// crashed and restarted, instances exiting.
struct BusModel {
    struct SimCard {
        var agentUp = true
        var frozen = false
        var linked = false
        var sentInitial = false
        var leaseDeadline: Duration = .zero
        var nextHeartbeat: Duration = .zero
        var relinkAt: Duration = .zero
        /// instance id → incarnation, as its shims run them.
        var containers: [String: UInt64] = [:]
        var exits: [CardProtocol.InstanceExited] = []
    }

    var config = CardHealth.Configuration(heartbeatInterval: .milliseconds(200), lease: .milliseconds(1500), fenceMargin: .milliseconds(300))
    let shimDelay = Duration.milliseconds(100)
    let ids: [CardID] = [CardID(0x1_000001), CardID(0x1_000002), CardID(0x1_000003)]
    var now = Duration.zero
    var bmcUp = true
    var bmcRestartAt = Duration.zero
    var health: CardHealth
    var storedStates: [CardID: Card.State] = [:]
    var records: [String: Instance]
    var cards: [CardID: SimCard] = [:]
    var rng: SplitMix64
    var maxCopies = 0

    init(seed: UInt64) {
        rng = SplitMix64(seed: seed)
        health = CardHealth(configuration: config)
        records = Dictionary(uniqueKeysWithValues: ["x-0", "x-1"].map { ($0, Instance(id: $0, workload: "x", tenant: "t", priority: 0, requested: .zero)) })
        for id in ids { cards[id] = SimCard() }
    }

    mutating func chance(_ p: Double) -> Bool { Double(rng.next() % 1_000_000) / 1_000_000 < p }

    mutating func link(_ id: CardID) {
        guard bmcUp, var c = cards[id], c.agentUp, !c.linked, now >= c.relinkAt else { return }
        c.linked = true
        c.sentInitial = false
        c.nextHeartbeat = now
        cards[id] = c
        if let t = health.linked(id, stored: storedStates[id], now: now) { storedStates[id] = t.to }
    }

    mutating func unlink(_ id: CardID, for pause: Duration) {
        guard var c = cards[id], c.linked else { return }
        c.linked = false
        c.relinkAt = now + pause
        cards[id] = c
        if bmcUp, let t = health.linkClosed(id, now: now) { storedStates[id] = t.to }
    }

    mutating func faults() {
        for id in ids {
            if chance(0.004) { cards[id]!.agentUp = false; unlink(id, for: .zero) }                     // kill -9 of the agent
            else if !cards[id]!.agentUp && chance(0.02) { cards[id]!.agentUp = true }                  // restarted: adopts
            if chance(0.003) { cards[id]!.frozen.toggle() }                                             // SIGSTOP / SIGCONT
            if cards[id]!.frozen && chance(0.01) { cards[id]!.frozen = false }
            if chance(0.003) { unlink(id, for: .milliseconds(Int64(rng.next() % 3000))) }               // link lost
            if let instance = cards[id]!.containers.keys.sorted().first, chance(0.003) {              // the instance exits
                let inc = cards[id]!.containers.removeValue(forKey: instance)!
                cards[id]!.exits.append(.init(id: instance, incarnation: inc, code: 1, oomKilled: false))
            }
        }
        if bmcUp && chance(0.002) {                                                                     // BMC crash
            bmcUp = false
            bmcRestartAt = now + .milliseconds(Int64(rng.next() % 4000))
            for id in ids { cards[id]!.linked = false }
        } else if !bmcUp && now >= bmcRestartAt {                                                      // BMC restart, same store
            bmcUp = true
            health = CardHealth(configuration: config)
            let stored = ids.compactMap { id in storedStates[id].map { Card(id: id, name: "", state: $0, capacity: .zero) } }
            for t in health.restored(stored, now: now) { storedStates[t.card] = t.to }
        }
    }

    mutating func cardsAct() {
        for id in ids {
            var c = cards[id]!
            if now >= c.leaseDeadline + shimDelay { c.containers = [:] }  // shims fence (agent or not)
            cards[id] = c
            if !c.linked { link(id) }
            c = cards[id]!
            guard bmcUp, c.agentUp, !c.frozen, c.linked, now >= c.nextHeartbeat else { continue }
            let sentAt = now
            let (grant, t) = health.heartbeatReceived(id, rtt: nil, now: now)
            if let t { storedStates[id] = t.to }
            if let grant { c.leaseDeadline = max(c.leaseDeadline, sentAt + grant.lease) }
            let report = c.containers.map { CardProtocol.RunningInstance(id: $0.key, incarnation: $0.value, pid: 1, containerID: "") }
            for exit in c.exits {
                if let r = records[exit.id], Adoption.applies(exit, from: id, to: r) { records[exit.id]!.state = .exited }
            }
            c.exits = []
            let decision = Adoption.decide(card: id, report: report, initial: !c.sentInitial, instances: Array(records.values), inFlight: [])
            c.sentInitial = true
            for stray in decision.stop { c.containers.removeValue(forKey: stray.id) }
            for running in decision.adopt { records[running.id]!.state = .running }
            for missing in decision.missing { records[missing]!.state = .exited }
            c.nextHeartbeat = now + config.heartbeatInterval
            cards[id] = c
        }
    }

    mutating func bmcActs() {
        guard bmcUp else { return }
        for t in health.tick(now: now) { storedStates[t.card] = t.to }
        for key in records.keys.sorted() {
            var r = records[key]!
            if let card = r.card, [.lost, .removed].contains(storedStates[card] ?? .lost) || r.state == .exited {
                r.state = .pending  // the reconciler unplaces it (lost card) or restarts it
                r.card = nil
            }
            if r.state == .pending, let target = ids.filter({ storedStates[$0] == .ready }).randomElement(using: &rng) {
                r.state = .starting
                r.card = target
                r.incarnation += 1
            }
            if r.state == .starting, let card = r.card, var c = cards[card], c.linked, c.agentUp, !c.frozen {
                // The card starts it only under a valid lease, replacing any other incarnation.
                if now < c.leaseDeadline {
                    c.containers[r.id] = r.incarnation
                    r.state = .running
                    cards[card] = c
                }
            }
            records[key] = r
        }
    }

    mutating func step() {
        faults()
        cardsAct()
        bmcActs()
        for id in records.keys {
            let copies = cards.values.filter { $0.containers[id] != nil }.count
            maxCopies = max(maxCopies, copies)
        }
        now += .milliseconds(50)
    }
}

@Suite("an instance never runs twice")
struct NeverTwiceTests {
    @Test("under random interleavings of agent kills, freezes, link loss, BMC restarts and exits, no instance has two copies", arguments: 0..<40)
    func neverTwice(batch: Int) {
        for seed in UInt64(batch * 10)..<UInt64(batch * 10 + 10) {
            var model = BusModel(seed: seed)
            var everRan = false
            for _ in 0..<1200 {
                model.step()
                everRan = everRan || model.cards.values.contains { !$0.containers.isEmpty }
            }
            #expect(model.maxCopies <= 1, "seed \(seed): \(model.maxCopies) copies of one instance at once")
            #expect(everRan, "seed \(seed): the model never ran anything (the test would prove nothing)")
        }
    }

    @Test("the model catches a BMC that re-places before the lease has lapsed (the test can fail)")
    func mutation() {
        var worst = 0
        for seed in UInt64(0)..<100 {
            var model = BusModel(seed: seed)
            model.config = .init(heartbeatInterval: .milliseconds(200), lease: .milliseconds(1500), fenceMargin: .milliseconds(-1200))
            model.health = CardHealth(configuration: model.config)
            for _ in 0..<1200 { model.step() }
            worst = max(worst, model.maxCopies)
        }
        #expect(worst > 1, "a negative fence margin must produce duplicates in some seed")
    }
}
