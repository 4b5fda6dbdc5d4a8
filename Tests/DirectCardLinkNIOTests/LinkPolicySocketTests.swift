import BackplaneModel
import DirectCardLink
import NIOCore
import Synchronization
import Testing
@testable import DirectCardLinkNIO

@Suite("link policy on sockets")
struct LinkPolicySocketTests {
    // The security issue's attacks: a spoofed `instance.exited` with another card's source made
    // the BMC kill and restart a real instance; the BMC forwarded an `instance.start` sent by a
    // card to another card, which ran a container the BMC did not know about.
    @Test("at the BMC, a card that sends as another card, or commands another card, loses its link; nothing reaches anyone", arguments: ["spoofed source", "command to a card"])
    func refused(attack: String) async throws {
        let (events, sink) = AsyncStream.makeStream(of: LinkEvent.self)
        let bus = try await Bus.start(aLinkEvents: { sink.yield($0) })
        let reached = Mutex<[String]>([])
        bus.bmc.onMessage("instance.exited") { _ in reached.withLock { $0.append("bmc got instance.exited") } }
        bus.c.onRequest("instance.start") { _ in
            reached.withLock { $0.append("c got instance.start") }
            return ByteBuffer()
        }
        switch attack {
        case "spoofed source":
            try bus.a.route(OutboundMessage(.event(Event(name: "instance.exited")), qos: .control, flags: .oneWay, source: bus.c.cardID, destination: .bmc))
        default:
            // The command fails when the link closes, not at its 30 s timeout.
            let started = ContinuousClock.now
            do {
                _ = try await bus.a.command(to: bus.c.cardID, name: "instance.start", timeout: .seconds(30))
                Issue.record("the command was answered")
            } catch let error as DCLError {
                #expect(error.status == .peerDead, "\(error)")
                #expect(ContinuousClock.now - started < .seconds(25), "a request whose link closed fails at once")
            }
        }
        var closed: Close?
        for await event in events {
            if case .closed(let peer, let reason) = event, peer == .bmc {
                closed = reason
                break
            }
        }
        #expect(closed?.status == .unauthorized, "\(String(describing: closed))")
        #expect(reached.withLock { $0 }.isEmpty)
        // The BMC still serves the honest card.
        bus.c.onRequest("ping") { _ in ByteBuffer(string: "pong") }
        #expect(try await bus.bmc.request(to: bus.c.cardID, endpoint: "ping", body: ByteBuffer()).text == "pong")
        try await bus.stop()
    }
}
