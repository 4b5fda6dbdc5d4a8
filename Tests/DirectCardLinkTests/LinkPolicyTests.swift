import BackplaneModel
import DirectCardLink
import Testing

@Suite("link policy at the BMC")
struct LinkPolicyTests {
    static let a = CardID("c-0001-000001")!
    static let c = CardID("c-0001-000003")!

    func header(_ type: MessageType, from source: CardID, to destination: CardID, flags: FrameFlags = []) -> FrameHeader {
        FrameHeader(type: type, flags: flags, qos: type == .data ? .bulk : .control, source: source, destination: destination)
    }

    @Test("a card speaks only as itself: another card's (or the BMC's) source is refused, for the BMC and for forwarding", arguments: [
        (MessageType.event, false), (.command, false), (.data, true), (.routedRequest, true), (.reply, false),
    ])
    func spoofedSource(type: MessageType, forwarding: Bool) {
        let destination = forwarding ? Self.c : .bmc
        for claimed in [Self.c, CardID.bmc, CardID("c-0001-000099")!] {
            guard case .refuse(let status, let reason) = LinkPolicy.check(header(type, from: claimed, to: destination), onLinkOf: Self.a, forwarding: forwarding) else {
                Issue.record("\(claimed) accepted on the link of \(Self.a)")
                continue
            }
            #expect(status == .unauthorized && reason.contains("speaks only as itself"))
        }
        #expect(LinkPolicy.check(header(type, from: Self.a, to: destination), onLinkOf: Self.a, forwarding: forwarding) == .accept)
    }

    @Test("only the BMC commands cards: a card's command or event for another card is not forwarded; data, routed requests and one-sided operations are")
    func commandsOnlyFromTheBMC() {
        for type in [MessageType.command, .event] {
            for flags in [FrameFlags(), .oneWay, .response] {
                let verdict = LinkPolicy.check(header(type, from: Self.a, to: Self.c, flags: flags), onLinkOf: Self.a, forwarding: true)
                #expect(verdict != .accept, "\(type) \(flags)")
            }
            #expect(LinkPolicy.check(header(type, from: Self.a, to: .bmc), onLinkOf: Self.a, forwarding: false) == .accept, "to the BMC itself")
        }
        for type in [MessageType.data, .reply, .errorReply, .routedRequest, .regionRead, .regionWrite, .regionReadResponse, .regionCompletion, .regionRegister] {
            #expect(LinkPolicy.check(header(type, from: Self.a, to: Self.c), onLinkOf: Self.a, forwarding: true) == .accept, "\(type)")
        }
    }
}
