import BackplaneModel
import Crypto
import Foundation
import X509

/// A card's key, its certificate and the bus CA, kept in a 0700 directory (key 0600).
public struct CardCredentials: Sendable {
    public var key: P256.Signing.PrivateKey
    public var certificate: Certificate
    public var ca: Certificate

    public init(key: P256.Signing.PrivateKey, certificate: Certificate, ca: Certificate) throws {
        guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else { throw SecurityError("the certificate is not for this key") }
        guard CardCertificate.isSigned(certificate, by: ca) else { throw SecurityError("the certificate is not signed by the bus CA") }
        guard CardCertificate.cardID(of: certificate) != nil else { throw SecurityError("the certificate names no CardID") }
        self.key = key
        self.certificate = certificate
        self.ca = ca
    }

    /// The CardID the certificate carries.
    public var cardID: CardID { CardCertificate.cardID(of: certificate)! }

    /// After two thirds of the certificate's lifetime: time to renew.
    public func renewalDue(now: Date) -> Bool {
        let start = certificate.notValidBefore, end = certificate.notValidAfter
        return now >= start + (end.timeIntervalSince(start) * 2 / 3)
    }

    public func expired(now: Date) -> Bool { now > certificate.notValidAfter }

    /// A new key and a CSR for it.
    public static func request(name: String) throws -> (key: P256.Signing.PrivateKey, csr: CertificateSigningRequest) {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            OrganizationName("Backplane")
            CommonName(String(name.prefix(64)).isEmpty ? "card" : String(name.prefix(64)))
        }
        let csr = try CertificateSigningRequest(version: .v1, subject: subject, privateKey: .init(key), attributes: .init(), signatureAlgorithm: .ecdsaWithSHA256)
        return (key, csr)
    }

    static let files = (key: "card.key", certificate: "card.pem", ca: "ca.pem")

    /// The credentials in `directory`, or nil when it has none yet.
    public static func load(directory: String) throws -> CardCredentials? {
        let path = { (name: String) in directory + "/" + name }
        guard FileManager.default.fileExists(atPath: path(files.certificate)) else { return nil }
        do {
            let key = try P256.Signing.PrivateKey(pemRepresentation: try String(contentsOfFile: path(files.key), encoding: .utf8))
            let certificate = try Certificate(pemEncoded: try String(contentsOfFile: path(files.certificate), encoding: .utf8))
            let ca = try Certificate(pemEncoded: try String(contentsOfFile: path(files.ca), encoding: .utf8))
            return try CardCredentials(key: key, certificate: certificate, ca: ca)
        } catch {
            throw SecurityError("the card's credentials in \(directory) are unusable (\(error)); delete that directory to enroll again")
        }
    }

    /// Writes key (0600), certificate and CA into `directory` (0700), each atomically.
    public func save(directory: String) throws {
        try SecureFiles.directory(directory)
        try SecureFiles.write(key.pemRepresentation, to: directory + "/" + Self.files.key)
        try SecureFiles.write(try ca.serializeAsPEM().pemString, to: directory + "/" + Self.files.ca)
        // The certificate last: its presence means the set is complete.
        try SecureFiles.write(try certificate.serializeAsPEM().pemString, to: directory + "/" + Self.files.certificate)
    }
}

/// The BMC's CA on disk: `ca.pem` and `ca.key` (0600) in its state directory.
public enum BusCAFiles {
    /// The CA in `directory`, created on first use.
    public static func loadOrCreate(directory: String, now: Date) throws -> (ca: BusCA, created: Bool) {
        let certificatePath = directory + "/ca.pem", keyPath = directory + "/ca.key"
        if FileManager.default.fileExists(atPath: certificatePath) || FileManager.default.fileExists(atPath: keyPath) {
            let certificate = try String(contentsOfFile: certificatePath, encoding: .utf8)
            let key = try String(contentsOfFile: keyPath, encoding: .utf8)
            chmod(keyPath, 0o600)
            return (try BusCA(certificatePEM: certificate, keyPEM: key), false)
        }
        let ca = try BusCA.create(now: now)
        try SecureFiles.directory(directory)
        try SecureFiles.write(ca.keyPEM, to: keyPath)
        try SecureFiles.write(ca.certificatePEM, to: certificatePath, mode: 0o644)
        return (ca, true)
    }
}

/// Files only their owner reads.
public enum SecureFiles {
    public static func directory(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        chmod(path, 0o700)
    }

    /// Writes `text` to `path` with `mode` from the first byte (see ``write(_:to:mode:)-data``).
    public static func write(_ text: String, to path: String, mode: mode_t = 0o600) throws {
        try write(Data(text.utf8), to: path, mode: mode)
    }

    /// Writes `data` to a temporary file with a random name made by `mkstemp` in the same
    /// directory (never a name another user could create first and so own what is written),
    /// sets `mode`, syncs, and renames it over `path`.
    public static func write(_ data: Data, to path: String, mode: mode_t = 0o600) throws {
        var template = Array((path + ".tmp-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw SecurityError("cannot write \(path): \(String(cString: strerror(errno)))") }
        let temporary = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        func fail(_ reason: String) -> SecurityError {
            close(fd)
            unlink(temporary)
            return SecurityError("cannot write \(path): \(reason)")
        }
        let bytes = [UInt8](data)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw fail(String(cString: strerror(errno))) }
            written += n
        }
        guard fchmod(fd, mode) == 0, fsync(fd) == 0 else { throw fail(String(cString: strerror(errno))) }
        guard close(fd) == 0, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw SecurityError("cannot write \(path): \(reason)")
        }
    }
}
