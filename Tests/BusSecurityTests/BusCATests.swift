import BackplaneModel
import BusSecurity
import Crypto
import DirectCardLink
import DirectCardLinkNIO
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Testing
import X509

/// Certificates issued and verified with a manual clock: a fixed `now` and offsets from it.
@Suite struct BusCATests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func enroll(_ ca: BusCA, id: CardID, validity: TimeInterval = BusCA.defaultCardValidity) throws -> CardCredentials {
        let (key, csr) = try CardCredentials.request(name: "card-a")
        let certificate = try ca.issueCard(csr, cardID: id, now: now, validity: validity)
        return try CardCredentials(key: key, certificate: certificate, ca: ca.certificate)
    }

    @Test func issuedCertificateCarriesTheCardIDAndVerifies() throws {
        let ca = try BusCA.create(now: now)
        let credentials = try enroll(ca, id: CardID(0x1_000000 + 17))
        #expect(credentials.cardID == CardID(0x1_000000 + 17))
        #expect(ca.verifies(credentials.certificate, now: now))
        #expect(CardCertificate.isBMC(credentials.certificate) == false)
        // Another CA's certificate is not one of ours.
        let other = try BusCA.create(now: now)
        #expect(!other.verifies(credentials.certificate, now: now))
        #expect(throws: SecurityError.self) { try CardCredentials(key: credentials.key, certificate: credentials.certificate, ca: other.certificate) }
    }

    @Test func expiryAndRenewalFollowTheClock() throws {
        let ca = try BusCA.create(now: now)
        let credentials = try enroll(ca, id: CardID(0x1_000000 + 5), validity: 3_000)
        #expect(!credentials.renewalDue(now: now))
        // Lifetime 3,300 s counting the 300 s backdate: renewal is due 2,200 s after notBefore.
        #expect(!credentials.renewalDue(now: now + 1_899))
        #expect(credentials.renewalDue(now: now + 1_900))
        #expect(!credentials.expired(now: now + 3_000))
        #expect(credentials.expired(now: now + 3_001))
        #expect(!ca.verifies(credentials.certificate, now: now + 3_001))
        #expect(!ca.verifies(credentials.certificate, now: now - BusCA.backdate - 1))
    }

    @Test func aRequestWhoseSignatureDoesNotMatchIsRefused() throws {
        let ca = try BusCA.create(now: now)
        let (_, honest) = try CardCredentials.request(name: "honest")
        let (_, other) = try CardCredentials.request(name: "other")
        // The other key's signature over the honest request: not made by the key it names.
        let forged = try CertificateSigningRequest(version: .v1, subject: honest.subject, publicKey: other.publicKey,
                                                   attributes: honest.attributes, signatureAlgorithm: honest.signatureAlgorithm, signature: honest.signature)
        #expect(throws: SecurityError.self) { try ca.issueCard(forged, cardID: CardID(0x1_000000 + 9), now: now) }
    }

    @Test func credentialsSurviveTheDiskWithOwnerOnlyModes() throws {
        let ca = try BusCA.create(now: now)
        let credentials = try enroll(ca, id: CardID(0x1_000000 + 12))
        let directory = NSTemporaryDirectory() + "bp-cred-\(UUID().uuidString)/tls"
        defer { try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent) }
        #expect(try CardCredentials.load(directory: directory) == nil)
        try credentials.save(directory: directory)
        let loaded = try #require(try CardCredentials.load(directory: directory))
        #expect(loaded.cardID == CardID(0x1_000000 + 12))
        var st = stat()
        stat(directory + "/card.key", &st)
        #expect(st.st_mode & 0o777 == 0o600)
        stat(directory, &st)
        #expect(st.st_mode & 0o777 == 0o700)
        // A damaged certificate is reported, not trusted.
        try "garbage".write(toFile: directory + "/card.pem", atomically: true, encoding: .utf8)
        #expect(throws: SecurityError.self) { try CardCredentials.load(directory: directory) }
    }

    @Test func caFilesAreCreatedOnceAndReadBack() throws {
        let directory = NSTemporaryDirectory() + "bp-ca-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (first, created) = try BusCAFiles.loadOrCreate(directory: directory, now: now)
        #expect(created)
        let (second, again) = try BusCAFiles.loadOrCreate(directory: directory, now: now)
        #expect(!again)
        #expect(first.fingerprint == second.fingerprint)
        var st = stat()
        stat(directory + "/ca.key", &st)
        #expect(st.st_mode & 0o777 == 0o600)
        // A key that is not the certificate's is refused.
        try BusCA.create(now: now).keyPEM.write(toFile: directory + "/ca.key", atomically: true, encoding: .utf8)
        #expect(throws: SecurityError.self) { try BusCAFiles.loadOrCreate(directory: directory, now: now) }
    }

    @Test func fingerprintsAcceptTheUsualSpellings() throws {
        let ca = try BusCA.create(now: now)
        let fp = ca.fingerprint
        #expect(fp.hasPrefix("sha256:") && fp.count == 71)
        let hex = String(fp.dropFirst(7))
        #expect(Fingerprint.normalize(hex.uppercased()) == fp)
        let colons = stride(from: 0, to: 64, by: 2).map { i in String(hex[hex.index(hex.startIndex, offsetBy: i)...].prefix(2)) }.joined(separator: ":")
        #expect(Fingerprint.normalize("SHA256:" + colons) == fp)
        for bad in ["", "sha256:", String(hex.dropLast()), hex + "00", String(repeating: "g", count: 64), "sha256:ééé"] {
            #expect(Fingerprint.normalize(bad) == nil)
        }
    }

    @Test func pinnedVerificationWantsTheRightCAAndTheBMCsName() throws {
        let ca = try BusCA.create(now: now)
        let key = P256.Signing.PrivateKey()
        let server = try ca.issueServer(key: key, names: ["10.1.2.3", "bmc.example"], now: now)
        let chain = [try BusTLS.nio(server), try BusTLS.nio(ca.certificate)]
        #expect(BusTLS.verifyPinned(chain, fingerprint: ca.fingerprint, now: now) != nil)
        #expect(BusTLS.verifyPinned(chain, fingerprint: try BusCA.create(now: now).fingerprint, now: now) == nil)
        #expect(BusTLS.verifyPinned(chain, fingerprint: ca.fingerprint, now: now + 400 * 86_400) == nil)
        // A card's certificate from the same CA cannot pose as the BMC.
        let card = try enroll(ca, id: CardID(0x1_000000 + 3))
        #expect(BusTLS.verifyPinned([try BusTLS.nio(card.certificate), try BusTLS.nio(ca.certificate)], fingerprint: ca.fingerprint, now: now) == nil)
        // A server certificate from another CA, sent along with ours, is refused.
        let rogue = try BusCA.create(now: now).issueServer(key: key, names: [], now: now)
        #expect(BusTLS.verifyPinned([try BusTLS.nio(rogue), try BusTLS.nio(ca.certificate)], fingerprint: ca.fingerprint, now: now) == nil)
    }

    /// A real TLS link: the accepting node sees the CardID of the certificate the card presented;
    /// a card with another CA's certificate does not get through the handshake.
    @Test func mutualTLSLinkCarriesTheCertificateToAdmission() async throws {
        let ca = try BusCA.create(now: Date())
        let serverKey = P256.Signing.PrivateKey()
        let server = try ca.issueServer(key: serverKey, names: [], now: Date())
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let seen = NIOLockedValueBoxCompat<CardID?>(nil)
        var config = DCLNode.Configuration(cardID: .bmc, role: .controller)
        // What is checked is who gets through, not how fast: in a full parallel test run on
        // 2 cores this test was starved past the 5 s default (a handshake timeout, twice in CI).
        config.handshakeTimeout = .seconds(120)
        config.admission = Admission { hello, link in
            let id = link.peerCertificate.flatMap(CardCertificate.cardID(der:))
            seen.set(id)
            return id.map { .accept($0) } ?? .reject(.unauthorized, reason: "no certificate")
        }
        let bmc = DCLNode(configuration: config, group: group)
        let address = try await bmc.listen(on: .tcp(host: "127.0.0.1", port: 0), tls: try BusTLS.bmcServer(certificate: server, key: serverKey, ca: ca.certificate))
        var cardConfig = DCLNode.Configuration(cardID: .unassigned, role: .card)
        cardConfig.handshakeTimeout = .seconds(120)
        let card = DCLNode(configuration: cardConfig, group: group)
        let (key, csr) = try CardCredentials.request(name: "x")
        let mine = try CardCredentials(key: key, certificate: try ca.issueCard(csr, cardID: CardID(0x1_000000 + 44), now: Date()), ca: ca.certificate)
        let peer = try await card.connect(to: address, tls: try BusTLS.cardClient(mine), serverHostname: BusCA.bmcServerName)
        #expect(peer == .bmc)
        #expect(seen.get() == CardID(0x1_000000 + 44))
        #expect(card.cardID == CardID(0x1_000000 + 44))
        // Another CA's card: refused in the TLS handshake.
        let otherCA = try BusCA.create(now: Date())
        let (k2, c2) = try CardCredentials.request(name: "y")
        let foreign = try CardCredentials(key: k2, certificate: try otherCA.issueCard(c2, cardID: CardID(0x1_000000 + 45), now: Date()), ca: otherCA.certificate)
        let intruder = DCLNode(configuration: cardConfig, group: group)
        await #expect(throws: (any Error).self) { try await intruder.connect(to: address, tls: try BusTLS.cardClient(foreign), serverHostname: BusCA.bmcServerName) }
        #expect(seen.get() == CardID(0x1_000000 + 44))
        await card.shutdown()
        await intruder.shutdown()
        await bmc.shutdown()
        try await group.shutdownGracefully()
    }
}

final class NIOLockedValueBoxCompat<T: Sendable>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ value: T) { self.value = value }
    func get() -> T { lock.withLock { value } }
    func set(_ v: T) { lock.withLock { value = v } }
}
