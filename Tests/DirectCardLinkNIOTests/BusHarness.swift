import BackplaneModel
import DirectCardLinkNIO
import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// Three nodes on loopback: `bmc` listens and assigns CardIDs; cards `a` and `c` connect to it
/// and have no link to each other, so everything between them takes a routed hop through `bmc`.
struct Bus {
    let group: MultiThreadedEventLoopGroup
    let bmc: DCLNode
    let a: DCLNode
    let c: DCLNode
    let address: DCLAddress

    /// `aLinkEvents`: card `a`'s link events (its link to `bmc` coming and going).
    static func start(address: DCLAddress = .tcp(host: "127.0.0.1", port: 0), serverTLS: NIOSSLContext? = nil, clientTLS: NIOSSLContext? = nil,
                      aLinkEvents: (@Sendable (LinkEvent) -> Void)? = nil) async throws -> Bus {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var bmcConfig = DCLNode.Configuration(cardID: .bmc, role: .controller)
        bmcConfig.admission = .assigning(token: "join-me")
        // Liveness guard only: CPU-bound tests running alongside can hold both cooperative threads
        // for seconds (2 cores), and admission resumes there; these tests are not about handshake speed.
        bmcConfig.handshakeTimeout = .seconds(60)
        let bmc = DCLNode(configuration: bmcConfig, group: group)
        let bound = try await bmc.listen(on: address, tls: serverTLS)
        var cardConfig = DCLNode.Configuration(cardID: .unassigned, role: .card)
        cardConfig.token = "join-me"
        cardConfig.handshakeTimeout = .seconds(60)
        var aConfig = cardConfig
        aConfig.linkEvents = aLinkEvents
        let a = DCLNode(configuration: aConfig, group: group)
        let c = DCLNode(configuration: cardConfig, group: group)
        for card in [a, c] {
            let peer = try await card.connect(to: bound, tls: clientTLS, serverHostname: clientTLS == nil ? nil : "localhost")
            precondition(peer == .bmc)
            card.setDefaultRoute(.bmc)
        }
        return Bus(group: group, bmc: bmc, a: a, c: c, address: bound)
    }

    func stop() async throws {
        for node in [a, c, bmc] { await node.shutdown() }
        try await group.shutdownGracefully()
    }
}

enum Fixtures {
    static func path(_ name: String) -> String {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent(name).path
    }

    static func context(server: Bool, name: String, ca: String = "ca.pem") throws -> NIOSSLContext {
        try DCLTLS.context(server: server, certificatePEM: path("\(name).pem"), keyPEM: path("\(name).key.pem"), caPEM: path(ca))
    }
}

extension ByteBuffer {
    var text: String { String(buffer: self) }
}
