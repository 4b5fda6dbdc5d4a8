import BackplaneModel
import BusSecurity
import ClusterStore
import Crypto
import DirectCardLink
import DirectCardLinkNIO
import Foundation
import NIOCore
import NIOSSL
import X509

/// The BMC's side of mutual TLS on DCL (ARCHITECTURE.md, "Security"): its certificate, the
/// bus CA that issues card certificates, and the join tokens cards enroll with.
public struct BusLinkSecurity: Sendable {
    public let ca: BusCA
    public let serverKey: P256.Signing.PrivateKey
    public let serverCertificate: Certificate
    /// How long a link admitted to enroll may stay open without enrolling.
    public var enrollmentWindow: Duration = .seconds(30)
    /// How long issued card certificates are valid.
    public var cardValidity: TimeInterval = BusCA.defaultCardValidity
    /// Join tokens besides the configured one (tokens made with `backplane token create --join`).
    public var verifyJoin: @Sendable (String) async -> Bool = { _ in false }
    /// Wall-clock time for certificates (tests use a manual clock).
    public var now: @Sendable () -> Date = { Date() }

    /// A server certificate for `names` (the API's host names or addresses) from `ca`.
    public init(ca: BusCA, names: [String] = [], now: Date = Date()) throws {
        self.ca = ca
        serverKey = P256.Signing.PrivateKey()
        serverCertificate = try ca.issueServer(key: serverKey, names: names, now: now)
    }

    /// The DCL listener's TLS context.
    public func dclContext() throws -> NIOSSLContext {
        try BusTLS.bmcServer(certificate: serverCertificate, key: serverKey, ca: ca.certificate)
    }

    /// The HTTPS API's TLS configuration.
    public func apiConfiguration() throws -> TLSConfiguration {
        try BusTLS.apiServer(certificate: serverCertificate, key: serverKey, ca: ca.certificate)
    }
}

extension Registry {
    static func revokedKey(_ id: CardID) -> String { "/revoked/\(id)" }

    /// Revokes every certificate of card `id` (CardIDs are never reused, so the ID is enough).
    public func revokeCard(_ id: CardID, at time: Instant) async throws {
        _ = try await store.put(Self.revokedKey(id), Array(String(time.nanoseconds).utf8))
    }

    public func isRevoked(_ id: CardID) async throws -> Bool {
        try await store.get(Self.revokedKey(id)) != nil
    }

    /// Removes the card's record (its instances are placed again as for a lost card).
    public func deleteCard(_ id: CardID) async throws -> Bool {
        try await store.delete(Self.cardKey(id))
    }
}

/// Admission of links at the BMC, pure apart from the lookups it is given.
enum CardAdmission {
    /// Whether a presented token is the configured one, in time independent of where they differ
    /// (SHA-256 of both, compared byte by byte without an early exit).
    static func sameSecret(_ presented: String, _ expected: String) -> Bool {
        let a = Array(SHA256.hash(data: Data(presented.utf8))), b = Array(SHA256.hash(data: Data(expected.utf8)))
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0 && !expected.isEmpty
    }

    /// Why a hello is refused, or how it is admitted.
    enum Verdict: Equatable {
        /// A card, by the CardID its certificate carries.
        case card(CardID)
        /// A link without a certificate that may only enroll (join token checked by the caller).
        case enrollment
        case refuse(String)
    }

    /// On a mutual-TLS bus: a certificate makes a card (its CardID from the certificate, the
    /// hello may not claim another); no certificate allows only enrollment.
    static func decide(_ hello: Hello, certificate: [UInt8]?) -> Verdict {
        guard let certificate else {
            guard hello.role == .client, hello.metadata[CardProtocol.purposeKey] == CardProtocol.enrollPurpose else {
                return .refuse("this bus uses mutual TLS: a card links with its certificate (enroll once with a join token and the CA fingerprint)")
            }
            return .enrollment
        }
        guard hello.role == .card else { return .refuse("a link with a certificate is a card's; this one said it is a \(hello.role)") }
        guard let id = CardCertificate.cardID(der: certificate) else { return .refuse("the certificate names no CardID") }
        guard hello.cardID == .unassigned || hello.cardID == id else {
            return .refuse("the certificate is for card \(id); the hello claimed \(hello.cardID): a card speaks only as itself")
        }
        return .card(id)
    }
}

extension BusManagementController {
    /// The largest CSR accepted (a P-256 CSR in PEM is about 500 bytes).
    static let maximumCSRBytes = 8 << 10

    /// `card.enroll` on enrolling links (one certificate per link, for a new CardID) and
    /// `card.renew` on certified card links (a new certificate for the link's own CardID).
    func serveEnrollment(_ security: BusLinkSecurity) {
        let enrolling = self.enrolling
        let registry = self.registry
        node.onRequest(CardProtocol.enroll) { [weak self] d in
            guard enrolling.withLock({ $0.remove(d.source) }) != nil else {
                throw DCLError(.unauthorized, "card.enroll is only for a link admitted with a join token, once")
            }
            let request = try Self.decodeCSR(d.body, as: CardProtocol.Enroll.self, csr: \.csr)
            let id = try await registry.assignCardID()
            let certificate = try security.ca.issueCard(request.csr, cardID: id, now: security.now(), validity: security.cardValidity)
            self?.record("card.enrolled", "card \(id) (\(Quantity.excerpt(request.body.name, limit: 64))) enrolled; certificate valid until \(certificate.notValidAfter)")
            return try Self.enrolled(certificate, security)
        }
        node.onRequest(CardProtocol.renew) { [weak self] d in
            guard !enrolling.withLock({ $0.contains(d.source) }), (try? await registry.card(d.source)) != nil else {
                throw DCLError(.unauthorized, "card.renew is only for a card linked with its certificate")
            }
            guard try await !registry.isRevoked(d.source) else { throw DCLError(.unauthorized, "card \(d.source) is revoked") }
            let request = try Self.decodeCSR(d.body, as: CardProtocol.Renew.self, csr: \.csr)
            let certificate = try security.ca.issueCard(request.csr, cardID: d.source, now: security.now(), validity: security.cardValidity)
            self?.record("card.renewed", "card \(d.source) renewed its certificate; valid until \(certificate.notValidAfter)")
            return try Self.enrolled(certificate, security)
        }
    }

    static func decodeCSR<Body: Decodable>(_ buffer: ByteBuffer, as type: Body.Type, csr: KeyPath<Body, String>) throws -> (body: Body, csr: CertificateSigningRequest) {
        guard buffer.readableBytes <= maximumCSRBytes else { throw DCLError(.protocolError, "the enrollment request is larger than \(maximumCSRBytes) bytes") }
        do {
            let body = try JSONDecoder().decode(Body.self, from: Data(buffer.readableBytesView))
            return (body, try CertificateSigningRequest(pemEncoded: body[keyPath: csr]))
        } catch {
            throw DCLError(.protocolError, "csr: not a certificate signing request in PEM (\(Quantity.excerpt("\(error)", limit: 120)))")
        }
    }

    static func enrolled(_ certificate: Certificate, _ security: BusLinkSecurity) throws -> ByteBuffer {
        let answer = CardProtocol.Enrolled(certificate: try certificate.serializeAsPEM().pemString, ca: security.ca.certificatePEM)
        return ByteBuffer(bytes: try JSONEncoder().encode(answer))
    }

    /// `backplane card remove`: revokes the card's certificate and cuts its link. Its instances
    /// are placed again as for any lost card: only once its lease has surely lapsed (its shims
    /// fence them), so nothing runs twice. A card already lost is marked removed.
    public func removeCard(_ id: CardID) async throws -> Card? {
        guard var card = try await registry.card(id) else { return nil }
        try await registry.revokeCard(id, at: Self.wallClock())
        node.disconnect(id, status: .unauthorized, reason: "card \(id) was removed from the bus: its certificate is revoked")
        if card.state == .lost {
            card.state = .removed
            try await registry.putCard(card)
        }
        record("card.removed", "card \(id) removed; its certificate is revoked")
        poke()
        return card
    }
}
