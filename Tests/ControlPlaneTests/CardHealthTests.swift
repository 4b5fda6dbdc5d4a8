import BackplaneModel
import Testing
@testable import ControlPlane

func ms(_ n: Int) -> Duration { .milliseconds(n) }
let a = CardID(0x1_000001)
let b = CardID(0x1_000002)

@Suite("phi-accrual failure detector")
struct PhiAccrualTests {
    @Test("phi stays low while heartbeats arrive on time and grows steadily when they stop")
    func growsWhenSilent() {
        var d = PhiAccrualDetector(configuration: .init(expectedInterval: ms(200)))
        var now = Duration.zero
        for _ in 0..<50 {
            d.heartbeatReceived(at: now)
            now += ms(200)
        }
        let last = now - ms(200)
        #expect(d.phi(at: last + ms(100)) < 1)
        #expect(d.phi(at: last + ms(400)) < 3, "a 200 ms late heartbeat is not suspicious")
        let p1 = d.phi(at: last + ms(800))
        let p2 = d.phi(at: last + ms(1200))
        #expect(p1 < p2)
        #expect(p2 >= 8, "1.2 s of silence at a 200 ms period is suspicious (phi \(p2))")
    }

    @Test("jittery heartbeats widen the distribution: the same silence is less suspicious")
    func adaptsToJitter() {
        var regular = PhiAccrualDetector(configuration: .init(expectedInterval: ms(200), minimumStandardDeviation: ms(10)))
        var jittery = PhiAccrualDetector(configuration: .init(expectedInterval: ms(200), minimumStandardDeviation: ms(10)))
        var t1 = Duration.zero, t2 = Duration.zero
        for i in 0..<100 {
            regular.heartbeatReceived(at: t1)
            jittery.heartbeatReceived(at: t2)
            t1 += ms(200)
            t2 += ms(i % 2 == 0 ? 50 : 350)
        }
        let silence = ms(900)
        #expect(jittery.phi(at: t2 + silence) < regular.phi(at: t1 + silence))
    }

    @Test("phi is 0 before the first heartbeat and never negative or NaN")
    func bounded() {
        var d = PhiAccrualDetector(configuration: .init(expectedInterval: ms(200)))
        #expect(d.phi(at: .seconds(100)) == 0)
        d.heartbeatReceived(at: .seconds(1))
        for t in [Duration.zero, .seconds(1), .seconds(3), .seconds(1_000_000)] {
            let p = d.phi(at: t)
            #expect(p >= 0 && p.isFinite, "phi \(p) at \(t)")
        }
    }
}

@Suite("card lifecycle and leases (manual clock)")
struct CardHealthTests {
    let config = CardHealth.Configuration(heartbeatInterval: ms(200), lease: ms(1500), fenceMargin: ms(300))

    func linkedCard(at now: Duration = .zero) -> CardHealth {
        var h = CardHealth(configuration: config)
        _ = h.linked(a, stored: nil, now: now)
        return h
    }

    @Test("a linked card that heartbeats stays ready and gets a lease grant per heartbeat")
    func readyWhileHeartbeating() {
        var h = linkedCard()
        var now = Duration.zero
        for _ in 0..<100 {
            now += ms(200)
            let (grant, t) = h.heartbeatReceived(a, rtt: ms(1), now: now)
            #expect(grant == CardHealth.Grant(lease: ms(1500), heartbeatInterval: ms(200)))
            #expect(t == nil)
            #expect(h.tick(now: now + ms(50)).isEmpty)
        }
        #expect(h.state(of: a) == .ready)
    }

    @Test("silence: ready → suspect (phi) → lost only once lease + fence margin have passed")
    func silenceToLost() {
        var h = linkedCard()
        var now = Duration.zero
        for _ in 0..<20 { now += ms(200); _ = h.heartbeatReceived(a, rtt: nil, now: now) }
        let last = now
        var transitions: [(Duration, CardHealth.Transition)] = []
        for step in 1...60 {
            for t in h.tick(now: last + ms(50 * step)) { transitions.append((ms(50 * step), t)) }
        }
        #expect(transitions.map(\.1.to) == [.suspect, .lost])
        let suspectAt = transitions[0].0, lostAt = transitions[1].0
        #expect(suspectAt < ms(1500), "suspected before the lease lapses (at \(suspectAt))")
        #expect(lostAt >= ms(1800), "never lost before lease + margin (at \(lostAt))")
        #expect(lostAt <= ms(1850))
        #expect(transitions[1].1.heartbeatAge == lostAt)
    }

    @Test("a closed link makes the card suspect at once, lost only after the lease")
    func linkClosed() {
        var h = linkedCard()
        _ = h.heartbeatReceived(a, rtt: nil, now: ms(200))
        let t = h.linkClosed(a, now: ms(250))
        #expect(t?.to == .suspect)
        #expect(h.tick(now: ms(200 + 1799)).isEmpty)
        #expect(h.tick(now: ms(200 + 1800)).map(\.to) == [.lost])
    }

    @Test("a card that heartbeats again while suspect is ready again; its lease is extended")
    func recovers() {
        var h = linkedCard()
        _ = h.heartbeatReceived(a, rtt: nil, now: ms(200))
        #expect(h.tick(now: ms(1400)).map(\.to) == [.suspect])
        let (grant, t) = h.heartbeatReceived(a, rtt: nil, now: ms(1450))
        #expect(grant != nil)
        #expect(t?.to == .ready)
        #expect(h.tick(now: ms(2100)).isEmpty, "the new grant moved the lease")
    }

    @Test("no grant for a card that is not linked")
    func noGrantUnlinked() {
        var h = CardHealth(configuration: config)
        #expect(h.heartbeatReceived(a, rtt: nil, now: .zero).grant == nil)
        _ = h.linked(a, stored: nil, now: .zero)
        _ = h.linkClosed(a, now: ms(10))
        #expect(h.heartbeatReceived(a, rtt: nil, now: ms(20)).grant == nil)
    }

    @Test("a lost card that links again is ready")
    func relink() {
        var h = linkedCard()
        _ = h.linkClosed(a, now: ms(10))
        _ = h.tick(now: ms(5000))
        #expect(h.state(of: a) == .lost)
        #expect(h.linked(a, stored: .lost, now: ms(6000))?.to == .ready)
    }

    @Test("after a BMC restart, stored ready cards are suspect and lost only after a whole lease")
    func restored() {
        var h = CardHealth(configuration: config)
        let t = h.restored([Card(id: a, name: "a", state: .ready, capacity: .zero), Card(id: b, name: "b", state: .lost, capacity: .zero)], now: ms(1000))
        #expect(t.map(\.to) == [.suspect])
        #expect(h.tick(now: ms(1000 + 1799)).isEmpty)
        _ = h.linked(b, stored: .lost, now: ms(1100))
        #expect(h.state(of: b) == .ready)
        #expect(h.tick(now: ms(1000 + 1800)).map { ($0.card, $0.to) }.first! == (a, .lost))
    }

    @Test("a draining card stays draining while linked and is removed when its lease lapses")
    func draining() {
        var h = linkedCard()
        _ = h.heartbeatReceived(a, rtt: nil, now: ms(100))
        h.stateSet(a, to: .draining)
        _ = h.heartbeatReceived(a, rtt: nil, now: ms(300))
        #expect(h.state(of: a) == .draining)
        _ = h.linkClosed(a, now: ms(400))
        #expect(h.state(of: a) == .draining)
        #expect(h.tick(now: ms(300 + 1800)).map(\.to) == [.removed])
    }
}
