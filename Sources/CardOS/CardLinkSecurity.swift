import BackplaneModel
import BusSecurity
import DirectCardLink
import DirectCardLinkNIO
import Foundation
import NIOCore
import NIOSSL
import Synchronization
import X509

/// A card's side of mutual TLS (ARCHITECTURE.md, "Security"): its credentials directory, and
/// the CA fingerprint it enrolls with the first time (with the join token).
public struct CardLinkSecurity: Sendable {
    /// `sha256:<hex>` of the bus CA; needed only to enroll (after that the saved CA is trusted).
    public var caFingerprint: String?
    /// Where the key (0600), certificate and CA are kept: `<state>/tls`.
    public var credentialsDirectory: String
    /// Wall-clock time for certificates (tests use a manual clock).
    public var now: @Sendable () -> Date = { Date() }

    public init(caFingerprint: String?, credentialsDirectory: String) {
        self.caFingerprint = caFingerprint
        self.credentialsDirectory = credentialsDirectory
    }
}

extension CardAgent {
    /// This card's credentials: the saved ones while valid, else a new enrollment.
    func credentials(_ security: CardLinkSecurity) async throws -> CardCredentials {
        if let saved = try CardCredentials.load(directory: security.credentialsDirectory), !saved.expired(now: security.now()) {
            return saved
        }
        return try await enroll(security)
    }

    /// Enrolls: a link without a certificate to the BMC, whose certificate must chain to the CA
    /// with the pinned fingerprint; the join token admits it; a CSR goes out and the certificate
    /// (with this card's new CardID) comes back and is saved.
    func enroll(_ security: CardLinkSecurity) async throws -> CardCredentials {
        guard let pin = security.caFingerprint else {
            throw DCLError(.unauthorized, "this card has no valid certificate: to enroll it needs the bus CA's fingerprint ($BACKPLANE_CA_FINGERPRINT or --ca-fingerprint-file; `backplane bmc` prints it) and a join token")
        }
        guard !configuration.token.isEmpty else {
            throw DCLError(.unauthorized, "this card has no valid certificate: to enroll it needs a join token ($BACKPLANE_JOIN_TOKEN or --join-token-file; `backplane token create --join`)")
        }
        let (key, csr) = try CardCredentials.request(name: configuration.name)
        var config = DCLNode.Configuration(cardID: .unassigned, role: .client)
        config.token = configuration.token
        config.metadata = [CardProtocol.purposeKey: CardProtocol.enrollPurpose]
        let node = DCLNode(configuration: config, group: group)
        let now = security.now()
        let pinned = Mutex<Bool?>(nil)
        do {
            defer { Task { await node.shutdown() } }
            do {
                try await node.connect(to: configuration.bmc, tls: try BusTLS.enrollmentClient(), serverHostname: BusCA.bmcServerName) { chain in
                    let ok = BusTLS.verifyPinned(chain, fingerprint: pin, now: now) != nil
                    pinned.withLock { $0 = ok }
                    return ok
                }
            } catch where pinned.withLock({ $0 }) == false {
                throw DCLError(.unauthorized, "the BMC at \(configuration.bmc) does not present a certificate from the CA with fingerprint \(pin): wrong fingerprint, or not our BMC")
            }
            let body = try JSONEncoder().encode(CardProtocol.Enroll(csr: try csr.serializeAsPEM().pemString, name: configuration.name))
            let reply = try await node.request(to: .bmc, endpoint: CardProtocol.enroll, body: ByteBuffer(bytes: body))
            let enrolled = try JSONDecoder().decode(CardProtocol.Enrolled.self, from: Data(reply.readableBytesView))
            let ca = try Certificate(pemEncoded: enrolled.ca)
            guard Fingerprint.of(ca) == pin else { throw DCLError(.unauthorized, "the BMC sent a CA that does not match the pinned fingerprint \(pin)") }
            let credentials = try CardCredentials(key: key, certificate: try Certificate(pemEncoded: enrolled.certificate), ca: ca)
            try credentials.save(directory: security.credentialsDirectory)
            logger.notice("enrolled", metadata: ["card": "\(credentials.cardID)", "valid-until": "\(credentials.certificate.notValidAfter)"])
            return credentials
        }
    }

    /// Renews the certificate over the card's own link whenever two thirds of its lifetime have
    /// passed; checks again at least hourly. Returns when the link fails.
    func renewWhenDue(over node: DCLNode, _ security: CardLinkSecurity) async throws {
        while !Task.isCancelled {
            guard var credentials = try CardCredentials.load(directory: security.credentialsDirectory) else { return }
            if credentials.renewalDue(now: security.now()) {
                let (key, csr) = try CardCredentials.request(name: configuration.name)
                let body = try JSONEncoder().encode(CardProtocol.Renew(csr: try csr.serializeAsPEM().pemString))
                let reply = try await node.request(to: .bmc, endpoint: CardProtocol.renew, body: ByteBuffer(bytes: body))
                let renewed = try JSONDecoder().decode(CardProtocol.Enrolled.self, from: Data(reply.readableBytesView))
                credentials = try CardCredentials(key: key, certificate: try Certificate(pemEncoded: renewed.certificate), ca: credentials.ca)
                try credentials.save(directory: security.credentialsDirectory)
                logger.notice("certificate renewed", metadata: ["valid-until": "\(credentials.certificate.notValidAfter)"])
            }
            try await Task.sleep(for: .seconds(3600))
        }
    }
}
