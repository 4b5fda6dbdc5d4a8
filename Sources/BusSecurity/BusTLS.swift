import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// TLS contexts for the bus's links and API (swift-nio-ssl), from ``BusCA`` material.
public enum BusTLS {
    /// The BMC's side of DCL: presents its certificate, verifies a card's against the CA when one
    /// is presented. A link without one may only enroll (the BMC's admission decides).
    public static func bmcServer(certificate: Certificate, key: P256.Signing.PrivateKey, ca: Certificate) throws -> NIOSSLContext {
        var config = TLSConfiguration.makeServerConfiguration(certificateChain: try chain(certificate, ca).map { .certificate($0) }, privateKey: .privateKey(try nioKey(key)))
        config.minimumTLSVersion = .tlsv12
        config.trustRoots = .certificates([try nio(ca)])
        config.certificateVerification = .optionalVerification
        return try NIOSSLContext(configuration: config)
    }

    /// The HTTPS API's configuration: the BMC's certificate, no client certificates.
    public static func apiServer(certificate: Certificate, key: P256.Signing.PrivateKey, ca: Certificate) throws -> TLSConfiguration {
        var config = TLSConfiguration.makeServerConfiguration(certificateChain: try chain(certificate, ca).map { .certificate($0) }, privateKey: .privateKey(try nioKey(key)))
        config.minimumTLSVersion = .tlsv12
        return config
    }

    /// A card's side of DCL: presents its certificate and accepts only a server certificate
    /// from the bus CA that names ``BusCA/bmcServerName`` (no card can pose as the BMC).
    /// Connect with `serverHostname:` ``BusCA/bmcServerName``.
    public static func cardClient(_ credentials: CardCredentials) throws -> NIOSSLContext {
        var config = TLSConfiguration.makeClientConfiguration()
        config.minimumTLSVersion = .tlsv12
        config.certificateChain = [.certificate(try nio(credentials.certificate))]
        config.privateKey = .privateKey(try nioKey(credentials.key))
        config.trustRoots = .certificates([try nio(credentials.ca)])
        config.certificateVerification = .fullVerification
        return try NIOSSLContext(configuration: config)
    }

    /// A client without a certificate that trusts the CA: for the CLI and for enrolling once the
    /// CA is known.
    public static func client(trusting ca: Certificate) throws -> NIOSSLContext {
        var config = TLSConfiguration.makeClientConfiguration()
        config.minimumTLSVersion = .tlsv12
        config.trustRoots = .certificates([try nio(ca)])
        config.certificateVerification = .fullVerification
        return try NIOSSLContext(configuration: config)
    }

    /// A client for enrolling, before the card has the CA. Connect with a custom verification
    /// callback running ``verifyPinned(_:fingerprint:now:)``: it replaces the chain check, and
    /// runs only because verification is on here (with `.none` BoringSSL never calls it, and
    /// the join token went to whoever answered).
    public static func enrollmentClient() throws -> NIOSSLContext {
        var config = TLSConfiguration.makeClientConfiguration()
        config.minimumTLSVersion = .tlsv12
        config.certificateVerification = .noHostnameVerification
        return try NIOSSLContext(configuration: config)
    }

    /// Accepts a server chain only when it holds the CA with `fingerprint` and a leaf that this
    /// CA signed, that is valid at `now` and names ``BusCA/bmcServerName``. Returns the CA.
    public static func verifyPinned(_ chain: [NIOSSLCertificate], fingerprint: String, now: Date) -> Certificate? {
        let parsed = chain.compactMap { try? Certificate(derEncoded: $0.toDERBytes()) }
        guard parsed.count == chain.count, let leaf = parsed.first,
              let ca = parsed.first(where: { Fingerprint.of($0) == fingerprint }) else { return nil }
        guard CardCertificate.isSigned(leaf, by: ca), CardCertificate.isBMC(leaf),
              leaf.notValidBefore <= now, now <= leaf.notValidAfter else { return nil }
        return ca
    }

    static func chain(_ leaf: Certificate, _ ca: Certificate) throws -> [NIOSSLCertificate] { [try nio(leaf), try nio(ca)] }

    public static func nio(_ certificate: Certificate) throws -> NIOSSLCertificate {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return try NIOSSLCertificate(bytes: serializer.serializedBytes, format: .der)
    }

    static func nioKey(_ key: P256.Signing.PrivateKey) throws -> NIOSSLPrivateKey {
        try NIOSSLPrivateKey(bytes: Array(key.pemRepresentation.utf8), format: .pem)
    }
}
