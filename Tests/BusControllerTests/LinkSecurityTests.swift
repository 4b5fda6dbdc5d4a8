import BackplaneModel
import BusSecurity
import CardOS
import ClusterStore
import DirectCardLink
import DirectCardLinkNIO
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Testing
import X509
import Crypto
@testable import BusController

/// Mutual TLS on DCL against a real BMC: enrollment, certificates binding CardIDs, revocation,
/// and what an attacker with the join token but no certificate can (not) do.
@Suite("mutual TLS and enrollment", .serialized)
struct LinkSecurityTests {
    /// A raw DCL node, for acting as an attacker.
    func rawNode(role: PeerRole, token: String, metadata: [String: String] = [:], group: any EventLoopGroup) -> DCLNode {
        var config = DCLNode.Configuration(cardID: .unassigned, role: role)
        config.token = token
        config.metadata = metadata
        config.handshakeTimeout = .seconds(3)
        return DCLNode(configuration: config, group: group)
    }

    /// Enrolls as a card would, with the bus's join token: a valid certificate for a new CardID.
    static func enroll(_ bus: LocalBus) async throws -> CardCredentials {
        let ca = try #require(bus.ca)
        var config = DCLNode.Configuration(cardID: .unassigned, role: .client)
        config.token = "test-token"
        config.metadata = [CardProtocol.purposeKey: CardProtocol.enrollPurpose]
        let node = DCLNode(configuration: config, group: bus.group)
        try await node.connect(to: await bus.bmc.listening(), tls: try BusTLS.client(trusting: ca.certificate), serverHostname: BusCA.bmcServerName)
        let (key, csr) = try CardCredentials.request(name: "rogue")
        let body = ByteBuffer(bytes: try JSONEncoder().encode(CardProtocol.Enroll(csr: try csr.serializeAsPEM().pemString, name: "rogue")))
        let reply = try JSONDecoder().decode(CardProtocol.Enrolled.self, from: Data(try await node.request(to: .bmc, endpoint: CardProtocol.enroll, body: body).readableBytesView))
        await node.shutdown()
        return try CardCredentials(key: key, certificate: try Certificate(pemEncoded: reply.certificate), ca: ca.certificate)
    }

    @Test("a card with a valid certificate cannot speak as another card, alive or dead")
    func certifiedCardCannotImpersonate() async throws {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            let bus = try await LocalBus.start(cards: 1, tasks: &tasks)
            let s = try await bus.waitFor("a ready card") { $0.cards.contains { $0.state == .ready } }
            let victim = try #require(s.cards.first?.id)
            let credentials = try await Self.enroll(bus)
            let address = await bus.bmc.listening()
            let capacity = String(decoding: try JSONEncoder().encode(Resources(cpuMillis: 64000, memoryBytes: 256 << 30)), as: UTF8.self)
            // Claiming the victim's CardID in the hello with its own certificate: refused.
            var config = DCLNode.Configuration(cardID: victim, role: .card)
            config.metadata = [CardProtocol.capacityKey: capacity]
            let claimer = DCLNode(configuration: config, group: bus.group)
            let refused = await #expect(throws: DCLError.self) {
                try await claimer.connect(to: address, tls: try BusTLS.cardClient(credentials), serverHostname: BusCA.bmcServerName)
            }
            #expect(refused?.status == .unauthorized)
            await claimer.shutdown()
            // Linked as itself, it is the CardID of its certificate.
            var own = DCLNode.Configuration(cardID: .unassigned, role: .card)
            own.metadata = [CardProtocol.capacityKey: capacity]
            let rogue = DCLNode(configuration: own, group: bus.group)
            try await rogue.connect(to: address, tls: try BusTLS.cardClient(credentials), serverHostname: BusCA.bmcServerName)
            #expect(rogue.cardID == credentials.cardID)
            await rogue.shutdown()
            #expect(bus.bmc.node.connectedPeers.contains(victim))
            try await bus.stop()
        }
    }

    @Test("a card enrolls once, then links by its certificate alone and keeps its CardID")
    func enrollThenCertificate() async throws {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            var bus = try await LocalBus.start(cards: 1, tasks: &tasks)
            let first = try await bus.waitFor("1 ready card") { $0.cards.filter { $0.state == .ready }.count == 1 }
            let id = try #require(first.cards.first?.id)
            let tls = bus.root + "/card-0/tls"
            #expect(FileManager.default.fileExists(atPath: tls + "/card.pem"))
            #expect(try CardCredentials.load(directory: tls)?.cardID == id)
            // The card stops; a new run of it has neither join token nor fingerprint.
            bus.cardRuns[0].cancel()
            _ = try? await bus.cardRuns[0].value
            _ = try await bus.waitFor("card lost") { $0.cards.first?.state != .ready }
            var config = CardAgent.Configuration(name: "card-0", stateDirectory: bus.root + "/card-0", bmc: await bus.bmc.listening(), token: "", capacity: Resources(cpuMillis: 1000, memoryBytes: 512 << 20))
            config.security = CardLinkSecurity(caFingerprint: nil, credentialsDirectory: tls)
            let again = try CardAgent(configuration: config, runtime: try ProcessRuntime(stateDirectory: bus.root + "/card-0/runtime2"), group: bus.group)
            let run = Task { try await again.run() }
            bus.cardRuns.append(run)
            let back = try await bus.waitFor("the same card ready again") { $0.cards.filter { $0.state == .ready }.map(\.id) == [id] }
            #expect(back.cards.count == 1)
            try await bus.stop()
        }
    }

    /// The hostile test's finding: the pin was not enforced (TLS verification off skipped the
    /// callback) and a fake BMC received the join token. A listener with a certificate from
    /// another CA that names bmc.backplane must never see a hello.
    @Test("a fake BMC never receives the join token")
    func fakeBMCGetsNoToken() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let realCA = try BusCA.create(now: Date()), fakeCA = try BusCA.create(now: Date())
        let key = P256.Signing.PrivateKey()
        let fakeCertificate = try fakeCA.issueServer(key: key, names: [], now: Date())
        let hellos = LockedBox<[String]>([])
        var config = DCLNode.Configuration(cardID: .bmc, role: .controller)
        config.admission = Admission { hello in
            hellos.withLock { $0.append(hello.token) }
            return .reject(.unauthorized, reason: "fake")
        }
        let fake = DCLNode(configuration: config, group: group)
        let address = try await fake.listen(on: .tcp(host: "127.0.0.1", port: 0), tls: try BusTLS.bmcServer(certificate: fakeCertificate, key: key, ca: fakeCA.certificate))
        let state = NSTemporaryDirectory() + "bp-fake-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: state) }
        var cardConfig = CardAgent.Configuration(name: "x", stateDirectory: state, bmc: address, token: "secret-join-token", capacity: Resources(cpuMillis: 1000, memoryBytes: 512 << 20))
        cardConfig.security = CardLinkSecurity(caFingerprint: realCA.fingerprint, credentialsDirectory: state + "/tls")
        let agent = try CardAgent(configuration: cardConfig, runtime: try ProcessRuntime(stateDirectory: state + "/runtime"), group: group)
        let error = await #expect(throws: DCLError.self) { try await agent.run() }
        #expect(error?.status == .unauthorized)
        #expect(hellos.withLock { $0 }.isEmpty, "the fake BMC saw a hello: \(hellos.withLock { $0 })")
        await fake.shutdown()
        try await group.shutdownGracefully()
    }

    @Test("a wrong CA fingerprint stops enrollment before the join token is sent")
    func wrongFingerprint() async throws {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            let bus = try await LocalBus.start(cards: 0, tasks: &tasks)
            let state = bus.root + "/impostor"
            var config = CardAgent.Configuration(name: "x", stateDirectory: state, bmc: await bus.bmc.listening(), token: "test-token", capacity: Resources(cpuMillis: 1000, memoryBytes: 512 << 20))
            config.security = CardLinkSecurity(caFingerprint: try BusCA.create(now: Date()).fingerprint, credentialsDirectory: state + "/tls")
            let agent = try CardAgent(configuration: config, runtime: try ProcessRuntime(stateDirectory: state + "/runtime"), group: bus.group)
            let error = await #expect(throws: DCLError.self) { try await agent.run() }
            #expect(error?.status == .unauthorized)
            #expect("\(error.map { "\($0)" } ?? "")".contains("fingerprint"))
            #expect(!FileManager.default.fileExists(atPath: state + "/tls/card.pem"))
            #expect(try await bus.bmc.registry.read().snapshot.cards.isEmpty)
            #expect(!bus.bmc.recentEvents.withLock { $0 }.contains { $0.kind == "card.enrolled" }, "the BMC issued a certificate to a card that did not trust it")
            try await bus.stop()
        }
    }

    @Test("with the join token but no certificate: no card link, no card messages, one enrollment per link; a bad token is refused")
    func joinTokenWithoutCertificate() async throws {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            let bus = try await LocalBus.start(cards: 0, tasks: &tasks)
            let ca = try #require(bus.ca)
            let address = await bus.bmc.listening()
            // A card link without a certificate (the CA trusted, the token right): refused.
            let card = rawNode(role: .card, token: "test-token", metadata: [CardProtocol.capacityKey: String(decoding: try JSONEncoder().encode(Resources(cpuMillis: 64000, memoryBytes: 256 << 30)), as: UTF8.self)], group: bus.group)
            let refused = await #expect(throws: DCLError.self) {
                try await card.connect(to: address, tls: try BusTLS.client(trusting: ca.certificate), serverHostname: BusCA.bmcServerName)
            }
            #expect(refused?.status == .unauthorized)
            await card.shutdown()
            // An enrolling link with a wrong token: refused.
            let wrong = rawNode(role: .client, token: "guess", metadata: [CardProtocol.purposeKey: CardProtocol.enrollPurpose], group: bus.group)
            await #expect(throws: DCLError.self) {
                try await wrong.connect(to: address, tls: try BusTLS.client(trusting: ca.certificate), serverHostname: BusCA.bmcServerName)
            }
            await wrong.shutdown()
            // An enrolling link: it cannot heartbeat (no lease, no card), and enrolls once.
            let enrolling = rawNode(role: .client, token: "test-token", metadata: [CardProtocol.purposeKey: CardProtocol.enrollPurpose], group: bus.group)
            try await enrolling.connect(to: address, tls: try BusTLS.client(trusting: ca.certificate), serverHostname: BusCA.bmcServerName)
            let beat = try JSONEncoder().encode(CardProtocol.Heartbeat(sequence: 0, rttMicros: nil, running: [], exited: []))
            await #expect(throws: (any Error).self) { try await enrolling.request(to: .bmc, endpoint: CardProtocol.heartbeat, body: ByteBuffer(bytes: beat)) }
            let (_, csr) = try CardCredentials.request(name: "e")
            let body = ByteBuffer(bytes: try JSONEncoder().encode(CardProtocol.Enroll(csr: try csr.serializeAsPEM().pemString, name: "e")))
            let reply = try await enrolling.request(to: .bmc, endpoint: CardProtocol.enroll, body: body)
            #expect(try JSONDecoder().decode(CardProtocol.Enrolled.self, from: Data(reply.readableBytesView)).ca == ca.certificatePEM)
            await #expect(throws: (any Error).self) { try await enrolling.request(to: .bmc, endpoint: CardProtocol.enroll, body: body) }
            // Garbage in place of a CSR.
            let other = rawNode(role: .client, token: "test-token", metadata: [CardProtocol.purposeKey: CardProtocol.enrollPurpose], group: bus.group)
            try await other.connect(to: address, tls: try BusTLS.client(trusting: ca.certificate), serverHostname: BusCA.bmcServerName)
            await #expect(throws: (any Error).self) { try await other.request(to: .bmc, endpoint: CardProtocol.enroll, body: ByteBuffer(string: #"{"csr":"-----BEGIN CERTIFICATE REQUEST-----\nAAAA","name":"\u{1F600}"}"#)) }
            await #expect(throws: (any Error).self) { try await other.request(to: .bmc, endpoint: CardProtocol.enroll, body: ByteBuffer(repeating: 0x41, count: 100_000)) }
            await enrolling.shutdown()
            await other.shutdown()
            // Plain TCP to a mutual-TLS bus: no link.
            let plain = rawNode(role: .card, token: "test-token", group: bus.group)
            await #expect(throws: (any Error).self) { try await plain.connect(to: address) }
            await plain.shutdown()
            #expect(try await bus.bmc.registry.read().snapshot.cards.isEmpty)
            try await bus.stop()
        }
    }

    @Test("a removed card's certificate is revoked: its link is cut and it cannot link again")
    func revocation() async throws {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            let bus = try await LocalBus.start(cards: 1, tasks: &tasks)
            let ready = try await bus.waitFor("1 ready card") { $0.cards.filter { $0.state == .ready }.count == 1 }
            let id = try #require(ready.cards.first?.id)
            #expect(try await bus.bmc.removeCard(id) != nil)
            // The card is cut off; linking again is refused, which ends its run with the reason.
            let error = await #expect(throws: DCLError.self) { try await bus.cardRuns[0].value }
            #expect(error?.status == .unauthorized)
            #expect(try await bus.bmc.registry.isRevoked(id))
            #expect(!bus.bmc.node.connectedPeers.contains(id))
            #expect(try await bus.bmc.removeCard(CardID(0x7_000000)) == nil)
            try await bus.stop()
        }
    }

    @Test("an enrolling link that does not enroll within the window is cut")
    func idleEnrollmentIsCut() async throws {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            let bus = try await LocalBus.start(cards: 0, tasks: &tasks, enrollmentWindow: .milliseconds(200))
            let ca = try #require(bus.ca)
            var config = DCLNode.Configuration(cardID: .unassigned, role: .client)
            config.token = "test-token"
            config.metadata = [CardProtocol.purposeKey: CardProtocol.enrollPurpose]
            let (events, sink) = AsyncStream.makeStream(of: LinkEvent.self)
            config.linkEvents = { sink.yield($0) }
            let idle = DCLNode(configuration: config, group: bus.group)
            try await idle.connect(to: await bus.bmc.listening(), tls: try BusTLS.client(trusting: ca.certificate), serverHostname: BusCA.bmcServerName)
            var closed = false
            for await event in events {
                if case .closed(let peer, _) = event, peer == .bmc { closed = true; break }
            }
            #expect(closed)
            #expect(idle.recentCloses.contains { $0.close.status == .timeout && $0.close.reason.contains("no enrollment") }, "\(idle.recentCloses)")
            await idle.shutdown()
            try await bus.stop()
        }
    }

    @Test("join tokens made through the API enroll too")
    func apiJoinToken() async throws {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            let bus = try await LocalBus.start(cards: 0, tasks: &tasks, joinTokens: ["made-by-api"])
            let state = bus.root + "/api-card"
            var config = CardAgent.Configuration(name: "api", stateDirectory: state, bmc: await bus.bmc.listening(), token: "made-by-api", capacity: Resources(cpuMillis: 1000, memoryBytes: 512 << 20))
            config.security = CardLinkSecurity(caFingerprint: bus.ca?.fingerprint, credentialsDirectory: state + "/tls")
            let agent = try CardAgent(configuration: config, runtime: try ProcessRuntime(stateDirectory: state + "/runtime"), group: bus.group)
            let run = Task { try await agent.run() }
            _ = try await bus.waitFor("the card ready") { $0.cards.filter { $0.state == .ready }.count == 1 }
            run.cancel()
            _ = try? await run.value
            try await bus.stop()
        }
    }
}
