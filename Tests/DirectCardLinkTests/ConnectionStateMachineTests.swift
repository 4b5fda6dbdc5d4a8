import BackplaneModel
import NIOCore
import Testing
@testable import DirectCardLink

@Suite("DCL connection state machine")
struct ConnectionStateMachineTests {
    static let card = CardID(0x1_000005)

    /// Encodes a `.send` action into the frame the peer would receive.
    func wire(_ actions: [ConnectionStateMachine.Action]) -> Frame? {
        for action in actions { if let frame = wire(action) { return frame } }
        return nil
    }

    func wire(_ action: ConnectionStateMachine.Action) -> Frame? {
        guard case .send(let m) = action else { return nil }
        var s = OutboundScheduler(initialCredit: 1 << 20)
        s.enqueue(m)
        var buffer = ByteBuffer()
        _ = s.dequeue(into: &buffer)
        var d = FrameDecoder()
        d.append(buffer)
        return try? d.nextFrame()
    }

    func pair(openerVersions: ClosedRange<UInt8> = 1...1, acceptorVersions: ClosedRange<UInt8> = 1...1) -> (ConnectionStateMachine, ConnectionStateMachine) {
        (ConnectionStateMachine(configuration: .init(role: .card, localID: .unassigned, versions: openerVersions, token: "join")),
         ConnectionStateMachine(configuration: .init(role: .controller, localID: .bmc, versions: acceptorVersions, heartbeatInterval: .seconds(1), deadAfter: .seconds(3))))
    }

    @Test("hello, admission, welcome: both ends agree on version and identities")
    func handshake() throws {
        var (card, bmc) = pair()
        let t0 = Instant(nanoseconds: 1_000_000_000)
        let opening = card.start(opener: true, now: t0)
        #expect(bmc.start(opener: false, now: t0).count == 1)
        let hello = try #require(wire(opening[0]))
        #expect(hello.header.type == .hello && hello.header.version == 1)
        guard case .admit(let h)? = bmc.frameReceived(hello, now: t0) else { Issue.record("expected admit"); return }
        #expect(h.token == "join" && h.cardID == .unassigned)
        let admitted = bmc.admitted(as: Self.card, now: t0)
        guard case .established? = admitted.first else { Issue.record("the link is established before the welcome goes out"); return }
        let welcome = try #require(wire(admitted))
        #expect(welcome.header.type == .welcome && welcome.header.version == 1)
        guard case .established(let e)? = card.frameReceived(welcome, now: t0) else { Issue.record("expected established"); return }
        #expect(e.localID == Self.card && e.peerID == .bmc && e.peerRole == .controller && e.version == 1)
        #expect(bmc.established?.peerID == Self.card && bmc.established?.peerRole == .card)
    }

    @Test("a peer with no common version is closed with a reason naming both ranges")
    func versionMismatch() throws {
        var (card, bmc) = pair(openerVersions: 2...3)
        let hello = try #require(wire(card.start(opener: true, now: .zero)[0]))
        _ = bmc.start(opener: false, now: .zero)
        guard case .close(let close, let sendFirst)? = bmc.frameReceived(hello, now: .zero) else { Issue.record("expected close"); return }
        #expect(sendFirst && close.status == .versionMismatch)
        #expect(close.reason.contains("2...3") && close.reason.contains("1...1"))
        #expect(bmc.isClosed)
    }

    @Test("anything but hello first is a protocol error")
    func helloFirst() {
        var (_, bmc) = pair()
        _ = bmc.start(opener: false, now: .zero)
        let frame = Frame(header: FrameHeader(type: .data, qos: .bulk, source: Self.card, destination: .bmc), payload: ByteBuffer())
        guard case .close(let close, _)? = bmc.frameReceived(frame, now: .zero) else { Issue.record("expected close"); return }
        #expect(close.status == .protocolError && close.reason.contains("expected hello"))
    }

    func established() throws -> (ConnectionStateMachine, ConnectionStateMachine) {
        var (card, bmc) = pair()
        let hello = try #require(wire(card.start(opener: true, now: .zero)[0]))
        _ = bmc.start(opener: false, now: .zero)
        _ = bmc.frameReceived(hello, now: .zero)
        let welcome = try #require(wire(bmc.admitted(as: Self.card, now: .zero)))
        _ = card.frameReceived(welcome, now: .zero)
        return (card, bmc)
    }

    @Test("heartbeats go out each interval; silence beyond deadAfter closes with peerDead")
    func heartbeatsAndDeath() throws {
        var (_, bmc) = try established()
        let second = Instant.zero + .seconds(1)
        let actions = bmc.tick(now: second)
        #expect(actions.contains { if case .send(let m) = $0 { return m.type == .heartbeat } else { return false } })
        #expect(actions.contains { if case .scheduleTick(let at) = $0 { return at > second } else { return false } })
        let late = bmc.tick(now: Instant.zero + .milliseconds(3_001))
        guard case .close(let close, _)? = late.first else { Issue.record("expected close, got \(late)"); return }
        #expect(close.status == .peerDead && close.reason.contains("3001 ms"))
    }

    @Test("a heartbeat is answered and any frame counts as a sign of life")
    func heartbeatAnswered() throws {
        var (card, bmc) = try established()
        let hb = Frame(header: FrameHeader(type: .heartbeat, qos: .control, source: .bmc, destination: Self.card), payload: ByteBuffer(integer: UInt64(7)))
        guard case .send(let answer)? = card.frameReceived(hb, now: Instant.zero + .seconds(2)) else { Issue.record("expected answer"); return }
        #expect(answer.flags.contains(.response))
        #expect(bmc.tick(now: Instant.zero + .seconds(2)).allSatisfy { if case .close = $0 { return false } else { return true } })
    }

    @Test("the handshake times out")
    func handshakeTimeout() {
        var (_, bmc) = pair()
        _ = bmc.start(opener: false, now: .zero)
        guard case .close(let close, _)? = bmc.tick(now: Instant.zero + .seconds(6)).first else { Issue.record("expected close"); return }
        #expect(close.status == .handshakeTimeout)
    }

    @Test("a sender that overruns its credit is closed with flowControlViolation")
    func creditOverrun() throws {
        var (card, _) = try established()
        let big = Frame(header: FrameHeader(type: .data, qos: .bulk, source: .bmc, destination: Self.card), payload: ByteBuffer(repeating: 0, count: 1 << 20))  // 4x the bulk window
        var closed: Close?
        for _ in 0..<1 {
            if case .close(let c, _)? = card.frameReceived(big, now: .zero) { closed = c; break }
        }
        #expect(closed?.status == .flowControlViolation, "192 KiB bulk window, 1 MiB sent without consuming")
    }

    @Test("frames for other cards are handed to the router; frames for this card are delivered")
    func forwardOrDeliver() throws {
        var (card, _) = try established()
        let elsewhere = Frame(header: FrameHeader(type: .data, qos: .bulk, source: .bmc, destination: CardID(0x9_000000)), payload: ByteBuffer(string: "x"))
        guard case .forward? = card.frameReceived(elsewhere, now: .zero) else { Issue.record("expected forward"); return }
        var payload = ByteBuffer()
        Message.data(DataMessage(endpoint: "e", body: ByteBuffer(string: "x"))).encodePayload(into: &payload)
        let mine = Frame(header: FrameHeader(type: .data, qos: .bulk, source: .bmc, destination: Self.card), payload: payload)
        guard case .deliver(_, let credit)? = card.frameReceived(mine, now: .zero) else { Issue.record("expected deliver"); return }
        #expect(credit == payload.readableBytes)
    }
}
