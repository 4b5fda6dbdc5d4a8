import BackplaneModel
import Testing
@testable import ControlPlane

@Suite("adoption of what a card reports")
struct AdoptionTests {
    func instance(_ id: String, on card: CardID?, incarnation: UInt64, state: Instance.State, pid: Int32? = nil) -> Instance {
        var i = Instance(id: id, workload: "w", tenant: "default", priority: 0, requested: .zero, state: state)
        i.card = card
        i.incarnation = incarnation
        i.pid = pid
        return i
    }
    func running(_ id: String, _ incarnation: UInt64, pid: Int32 = 100) -> CardProtocol.RunningInstance {
        .init(id: id, incarnation: incarnation, pid: pid, containerID: "\(id).\(incarnation)")
    }

    @Test("a matching copy is adopted (starting → running), same PID; an unchanged one is left alone")
    func adopts() {
        let records = [instance("w-0", on: a, incarnation: 5, state: .starting), instance("w-1", on: a, incarnation: 3, state: .running, pid: 100)]
        let d = Adoption.decide(card: a, report: [running("w-0", 5), running("w-1", 3)], initial: true, instances: records, inFlight: [])
        #expect(d.adopt == [running("w-0", 5)])
        #expect(d.stop.isEmpty && d.missing.isEmpty)
    }

    @Test("stale incarnations, copies placed elsewhere and unknown instances are stopped")
    func stopsStrays() {
        let records = [instance("w-0", on: a, incarnation: 6, state: .running), instance("w-1", on: b, incarnation: 3, state: .running), instance("w-2", on: a, incarnation: 1, state: .exited)]
        let report = [running("w-0", 5), running("w-1", 3), running("w-2", 1), running("gone-0", 1)]
        let d = Adoption.decide(card: a, report: report, initial: false, instances: records, inFlight: [])
        #expect(Set(d.stop) == Set(report))
        #expect(d.adopt.isEmpty)
    }

    @Test("the link report's missing instances ended; stopping ones are stopped; in-flight ones wait")
    func missing() {
        let records = [instance("w-0", on: a, incarnation: 1, state: .running), instance("w-1", on: a, incarnation: 1, state: .stopping),
                       instance("w-2", on: a, incarnation: 1, state: .running), instance("w-3", on: a, incarnation: 1, state: .starting)]
        let d = Adoption.decide(card: a, report: [], initial: true, instances: records, inFlight: ["w-2"])
        #expect(d.missing == ["w-0"])
        #expect(d.stopped == ["w-1"])
        let later = Adoption.decide(card: a, report: [], initial: false, instances: records, inFlight: [])
        #expect(later.isEmpty, "only the link report says what is missing")
    }

    @Test("an exit applies once, to the incarnation on the reporting card")
    func exits() {
        let r = instance("w-0", on: a, incarnation: 2, state: .running)
        #expect(Adoption.applies(.init(id: "w-0", incarnation: 2, code: 1, oomKilled: false), from: a, to: r))
        #expect(!Adoption.applies(.init(id: "w-0", incarnation: 1, code: 1, oomKilled: false), from: a, to: r))
        #expect(!Adoption.applies(.init(id: "w-0", incarnation: 2, code: 1, oomKilled: false), from: b, to: r))
        var ended = r
        ended.state = .exited
        #expect(!Adoption.applies(.init(id: "w-0", incarnation: 2, code: 1, oomKilled: false), from: a, to: ended))
    }
}
