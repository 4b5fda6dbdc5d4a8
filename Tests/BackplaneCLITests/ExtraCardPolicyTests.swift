import Testing
@testable import BackplaneCLI

@Suite("up --max-cards: when extra cards start and stop")
struct ExtraCardPolicyTests {
    @Test("starts as many as the allocator asks for, up to the maximum; never more")
    func startsOnRequest() {
        var p = ExtraCardPolicy(names: ["card-3", "card-4"], idleFor: 60)
        #expect(p.decide(requested: 1, idle: [], now: 0).start == ["card-3"])
        // Still asked for one more while card-3 joins: the next one, then none left.
        #expect(p.decide(requested: 1, idle: [], now: 10).start == ["card-4"])
        #expect(p.decide(requested: 5, idle: [], now: 20).start.isEmpty)
    }

    @Test("stops an extra card only after it was idle for the whole window, newest first; a card that gets work again is kept")
    func stopsWhenIdle() {
        var p = ExtraCardPolicy(names: ["card-3", "card-4"], idleFor: 60)
        _ = p.decide(requested: 2, idle: [], now: 0)
        #expect(p.decide(requested: 0, idle: ["card-3", "card-4"], now: 30).stop.isEmpty, "started 30 s ago")
        #expect(p.decide(requested: 0, idle: ["card-3"], now: 70).stop.isEmpty, "idle since 30 s: 40 s so far")
        #expect(p.decide(requested: 0, idle: ["card-3", "card-4"], now: 95).stop == ["card-3"], "card-4 worked at 70 s: its idle time starts over")
        #expect(p.decide(requested: 0, idle: ["card-4"], now: 160).stop == ["card-4"])
        // Base cards (not extra) are never stopped, idle or not.
        #expect(p.decide(requested: 0, idle: ["card-0"], now: 1000).stop.isEmpty)
        // A request while idle restarts nothing twice.
        #expect(p.decide(requested: 1, idle: [], now: 1010).start == ["card-3"])
    }
}
