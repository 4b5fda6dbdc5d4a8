import NIOSSL

/// TLS set-up for DCL links: both ends present a certificate and verify the other's against
/// the bus CA (mutual TLS). Binding CardIDs into certificates comes with BMC-issued certificates.
public enum DCLTLS {
    /// A server-side context that requires and verifies a client certificate.
    public static func serverContext(certificateChain: [NIOSSLCertificate], privateKey: NIOSSLPrivateKey, trustRoots: [NIOSSLCertificate]) throws -> NIOSSLContext {
        var config = TLSConfiguration.makeServerConfiguration(certificateChain: certificateChain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        config.minimumTLSVersion = .tlsv12
        config.trustRoots = .certificates(trustRoots)
        config.certificateVerification = .noHostnameVerification
        return try NIOSSLContext(configuration: config)
    }

    /// A client-side context that presents a certificate and verifies the server's.
    public static func clientContext(certificateChain: [NIOSSLCertificate], privateKey: NIOSSLPrivateKey, trustRoots: [NIOSSLCertificate]) throws -> NIOSSLContext {
        var config = TLSConfiguration.makeClientConfiguration()
        config.minimumTLSVersion = .tlsv12
        config.certificateChain = certificateChain.map { .certificate($0) }
        config.privateKey = .privateKey(privateKey)
        config.trustRoots = .certificates(trustRoots)
        config.certificateVerification = .noHostnameVerification
        return try NIOSSLContext(configuration: config)
    }

    /// Loads PEM files into a context for either side.
    public static func context(server: Bool, certificatePEM: String, keyPEM: String, caPEM: String) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(certificatePEM)
        let key = try NIOSSLPrivateKey(file: keyPEM, format: .pem)
        let roots = try NIOSSLCertificate.fromPEMFile(caPEM)
        return server
            ? try serverContext(certificateChain: chain, privateKey: key, trustRoots: roots)
            : try clientContext(certificateChain: chain, privateKey: key, trustRoots: roots)
    }
}
