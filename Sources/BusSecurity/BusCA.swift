import BackplaneModel
import Crypto
import Foundation
import SwiftASN1
import X509

/// The bus's certificate authority, kept by the BMC: a P-256 key and a self-signed certificate.
///
/// It issues card certificates from CSRs (the card's CardID in a URI SAN,
/// `urn:backplane:card:c-0001-000000`, client auth only) and the BMC's own server certificate (DNS SAN
/// ``BusCA/bmcServerName`` plus the API's names, server and client auth). Pure: times are
/// parameters, files are read and written by ``BusCAFiles``.
public struct BusCA: Sendable {
    public let certificate: Certificate
    let key: P256.Signing.PrivateKey

    /// The name every BMC certificate carries and every card verifies (never a card's).
    public static let bmcServerName = "bmc.backplane"
    /// How long the CA is valid.
    public static let caValidity: TimeInterval = 10 * 365 * 86_400
    /// How long a card certificate is valid; a card renews after two thirds of it.
    public static let defaultCardValidity: TimeInterval = 30 * 86_400
    /// Issued certificates start this much before `now` (clocks of cards and BMC drift).
    public static let backdate: TimeInterval = 300

    /// A new CA, valid from `now` for ``caValidity``.
    public static func create(now: Date) throws -> BusCA {
        let key = P256.Signing.PrivateKey()
        let suffix = String(SHA256.hash(data: Data(key.publicKey.derRepresentation)).prefix(4).map { String(format: "%02x", $0) }.joined())
        let name = try DistinguishedName {
            OrganizationName("Backplane")
            CommonName("Backplane bus CA \(suffix)")
        }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now - backdate, notValidAfter: now + caValidity,
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: .init(key))
        return BusCA(certificate: certificate, key: key)
    }

    init(certificate: Certificate, key: P256.Signing.PrivateKey) {
        self.certificate = certificate
        self.key = key
    }

    /// A CA from its PEM files' contents. Throws ``SecurityError`` when they do not match.
    public init(certificatePEM: String, keyPEM: String) throws {
        let certificate: Certificate
        let key: P256.Signing.PrivateKey
        do {
            certificate = try Certificate(pemEncoded: certificatePEM)
            key = try P256.Signing.PrivateKey(pemRepresentation: keyPEM)
        } catch {
            throw SecurityError("the CA certificate or key does not parse: \(error)")
        }
        guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else {
            throw SecurityError("the CA key does not belong to the CA certificate")
        }
        self.init(certificate: certificate, key: key)
    }

    public var certificatePEM: String { (try? certificate.serializeAsPEM().pemString) ?? "" }
    public var keyPEM: String { key.pemRepresentation }
    /// `sha256:<64 hex digits>` of the CA certificate: what a card pins when it enrolls.
    public var fingerprint: String { Fingerprint.of(certificate) }

    /// A card certificate for `cardID` from a CSR, after checking the CSR's signature (the card
    /// holds the key). Valid from `now` (minus ``backdate``) for `validity`.
    public func issueCard(_ request: CertificateSigningRequest, cardID: CardID, now: Date, validity: TimeInterval = defaultCardValidity) throws -> Certificate {
        guard request.publicKey.isValidSignature(request.signature, for: request) else {
            throw SecurityError("the certificate request's signature is not valid")
        }
        guard validity > 0, validity <= Self.caValidity else { throw SecurityError("validity must be positive and within the CA's") }
        let subject = try DistinguishedName {
            OrganizationName("Backplane")
            CommonName("card \(cardID)")
        }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage([.clientAuth])
            SubjectAlternativeNames([.uniformResourceIdentifier(CardCertificate.uri(for: cardID))])
        }
        return try sign(publicKey: request.publicKey, subject: subject, extensions: extensions, now: now, validity: validity)
    }

    /// The BMC's certificate for DCL and the HTTPS API: ``bmcServerName``, `localhost`, 127.0.0.1
    /// and ::1, plus `names` (host names or IP addresses the API is reached at).
    public func issueServer(key: P256.Signing.PrivateKey, names: [String], now: Date, validity: TimeInterval = 365 * 86_400) throws -> Certificate {
        var general: [GeneralName] = [.dnsName(Self.bmcServerName), .dnsName("localhost"),
                                      .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
                                      .ipAddress(ASN1OctetString(contentBytes: ArraySlice(repeating: 0, count: 15) + [1]))]
        for name in names where !name.isEmpty {
            let entry: GeneralName = IPAddress.bytes(name).map { .ipAddress(ASN1OctetString(contentBytes: ArraySlice($0))) } ?? .dnsName(name)
            if !general.contains(entry) { general.append(entry) }
        }
        let subject = try DistinguishedName {
            OrganizationName("Backplane")
            CommonName(Self.bmcServerName)
        }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage([.serverAuth, .clientAuth])
            SubjectAlternativeNames(general)
        }
        return try sign(publicKey: .init(key.publicKey), subject: subject, extensions: extensions, now: now, validity: validity)
    }

    private func sign(publicKey: Certificate.PublicKey, subject: DistinguishedName, extensions: Certificate.Extensions, now: Date, validity: TimeInterval) throws -> Certificate {
        let notAfter = min(now + validity, certificate.notValidAfter)
        return try Certificate(
            version: .v3, serialNumber: .init(), publicKey: publicKey,
            notValidBefore: now - Self.backdate, notValidAfter: notAfter,
            issuer: certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: .init(key))
    }

    /// Whether `candidate` was signed by this CA and is valid at `now`.
    public func verifies(_ candidate: Certificate, now: Date) -> Bool {
        CardCertificate.isSigned(candidate, by: certificate) && candidate.notValidBefore <= now && now <= candidate.notValidAfter
    }
}

/// What card certificates carry, read back.
public enum CardCertificate {
    static let uriPrefix = "urn:backplane:card:"

    /// `urn:backplane:card:c-0001-000000` (the CardID as people see it everywhere else).
    public static func uri(for id: CardID) -> String { uriPrefix + "\(id)" }

    /// The CardID in a certificate's URI SAN, if it has exactly one.
    public static func cardID(of certificate: Certificate) -> CardID? {
        guard let names = try? certificate.extensions.subjectAlternativeNames else { return nil }
        let ids = names.compactMap { name -> CardID? in
            guard case .uniformResourceIdentifier(let uri) = name, uri.hasPrefix(uriPrefix), uri.count <= uriPrefix.count + 40 else { return nil }
            return CardID(String(uri.dropFirst(uriPrefix.count)))
        }
        guard ids.count == 1, let id = ids.first, !id.isReserved else { return nil }
        return id
    }

    /// The CardID in a DER certificate (what a TLS link's peer presented).
    public static func cardID(der: [UInt8]) -> CardID? {
        (try? Certificate(derEncoded: der)).flatMap(cardID(of:))
    }

    /// Whether `certificate` names ``BusCA/bmcServerName``: only the BMC's does.
    public static func isBMC(_ certificate: Certificate) -> Bool {
        guard let names = try? certificate.extensions.subjectAlternativeNames else { return false }
        return names.contains(.dnsName(BusCA.bmcServerName))
    }

    public static func isSigned(_ certificate: Certificate, by issuer: Certificate) -> Bool {
        certificate.issuer == issuer.subject && issuer.publicKey.isValidSignature(certificate.signature, for: certificate)
    }
}

/// SHA-256 fingerprints as `sha256:<hex>`.
public enum Fingerprint {
    public static func of(_ certificate: Certificate) -> String {
        var serializer = DER.Serializer()
        guard (try? serializer.serialize(certificate)) != nil else { return "" }
        return of(der: serializer.serializedBytes)
    }

    public static func of(der: [UInt8]) -> String {
        "sha256:" + SHA256.hash(data: der).map { String(format: "%02x", $0) }.joined()
    }

    /// A fingerprint as people paste it: `sha256:` optional, hex in either case, with or without
    /// colons. Nil unless it is 32 bytes of hex.
    public static func normalize(_ text: String) -> String? {
        var body = text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        if body.hasPrefix("sha256:") { body.removeFirst(7) }
        body.removeAll { $0 == ":" }
        guard body.count == 64, body.allSatisfy(\.isHexDigit) else { return nil }
        return "sha256:" + body
    }
}

/// Textual IP addresses to bytes (v4 and v6), for SANs.
enum IPAddress {
    static func bytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}

/// A security failure, for people.
public struct SecurityError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
