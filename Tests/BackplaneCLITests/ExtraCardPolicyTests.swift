import Testing
@testable import BackplaneCLI

@Suite("up --max-cards: when extra cards start and stop")
struct ExtraCardPolicyTests {
    @Test("starts as many as the allocator asks for, counting the ones still joining, up to the maximum")
    func startsOnRequest() {
        var p = ExtraCardPolicy(names: ["card-3", "card-4", "card-5"], idleFor: 60)
        #expect(p.decide(requested: 1, idle: [], ready: [], now: 0).start == ["card-3"])
        // Still asked for one while card-3 joins (slow): it is that one, nothing more starts.
        #expect(p.decide(requested: 1, idle: [], ready: [], now: 10).start.isEmpty)
        // card-3 is ready and the plan still asks for one: the next one.
        #expect(p.decide(requested: 1, idle: [], ready: ["card-3"], now: 20).start == ["card-4"])
        #expect(p.decide(requested: 5, idle: [], ready: ["card-3", "card-4"], now: 30).start == ["card-5"], "the maximum")
        #expect(p.decide(requested: 5, idle: [], ready: ["card-3", "card-4", "card-5"], now: 40).start.isEmpty)
    }

    @Test("stops an extra card only after it was idle for the whole window, newest first; a card that gets work again is kept")
    func stopsWhenIdle() {
        var p = ExtraCardPolicy(names: ["card-3", "card-4"], idleFor: 60)
        _ = p.decide(requested: 2, idle: [], ready: [], now: 0)
        #expect(p.decide(requested: 0, idle: ["card-3", "card-4"], ready: ["card-3", "card-4"], now: 30).stop.isEmpty, "started 30 s ago")
        #expect(p.decide(requested: 0, idle: ["card-3"], ready: ["card-3", "card-4"], now: 70).stop.isEmpty, "idle since 30 s: 40 s so far")
        #expect(p.decide(requested: 0, idle: ["card-3", "card-4"], ready: ["card-3", "card-4"], now: 95).stop == ["card-3"], "card-4 worked at 70 s: its idle time starts over")
        #expect(p.decide(requested: 0, idle: ["card-4"], ready: ["card-3", "card-4"], now: 160).stop == ["card-4"])
        // Base cards (not extra) are never stopped, idle or not.
        #expect(p.decide(requested: 0, idle: ["card-0"], ready: ["card-3", "card-4"], now: 1000).stop.isEmpty)
        // A request while idle restarts nothing twice.
        #expect(p.decide(requested: 1, idle: [], ready: ["card-3", "card-4"], now: 1010).start == ["card-3"])
    }
}
