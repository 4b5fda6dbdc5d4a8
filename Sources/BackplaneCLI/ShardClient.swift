import BackplaneModel
import BusSecurity
import DirectCardLink
import DirectCardLinkNIO
import Foundation
import KeyValueApp
import NIOCore
import NIOPosix
import X509

/// A data client of the bus: a DCL link to the BMC (mutual TLS's server half: it checks the
/// BMC's certificate against the bus CA, and shows an API token) over which it sends
/// shard-routed requests. `backplane load` and `backplane gateway` use it.
final class ShardClient: Sendable {
    let node: DCLNode
    /// `<tenant>/<name>`.
    let workload: String
    let timeout: Duration

    private init(node: DCLNode, workload: String, timeout: Duration) {
        self.node = node
        self.workload = workload
        self.timeout = timeout
    }

    /// Links to the BMC's DCL port. `bus`: host:port; nil: the API URL's host and its port + 1
    /// (what `backplane up` and `backplane bmc` use).
    static func connect(options: BMCOptions, bus: String?, workload: String, tenant: String?, timeout: Duration = .seconds(10), group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> ShardClient {
        let environment = ProcessInfo.processInfo.environment
        let (url, credential) = try BMCOptions.resolve(bmc: options.bmc, token: options.token, environment: environment, loadConfig: ClientConfig.load)
        guard let credential else { throw CLIError("no API token: give --token, $BACKPLANE_TOKEN or \"token\" in the client config (`backplane up` writes one)", exitCode: 2) }
        let address = try Self.busAddress(bus, apiURL: url)
        var config = DCLNode.Configuration(cardID: .unassigned, role: .client)
        config.token = credential.token
        config.metadata = [CardProtocol.purposeKey: CardProtocol.dataPurpose]
        config.defaultRequestTimeout = timeout
        let node = DCLNode(configuration: config, group: group)
        do {
            if url.hasPrefix("http://") {
                try await node.connect(to: address)
            } else {
                guard let ca = try BMCOptions.resolveCA(ca: options.ca, environment: environment, loadConfig: ClientConfig.load) else {
                    throw CLIError("no bus CA to check the BMC against: give --ca, $BACKPLANE_CA or \"ca\" in the client config", exitCode: 2)
                }
                try await node.connect(to: address, tls: try BusTLS.client(trusting: ca), serverHostname: BusCA.bmcServerName)
            }
        } catch let error as DCLError {
            await node.shutdown()
            throw CLIError("cannot link to the bus at \(address): \(error.message)", exitCode: error.status == .unauthorized ? 3 : 1)
        }
        let key = workload.contains("/") ? workload : WorkloadSpec.key(tenant: tenant ?? WorkloadSpec.defaultTenant, name: workload)
        return ShardClient(node: node, workload: key, timeout: timeout)
    }

    static func busAddress(_ bus: String?, apiURL: String) throws -> DCLAddress {
        if let bus {
            let parts = bus.split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1]), (1...65535).contains(port), !parts[0].isEmpty else {
                throw CLIError("--bus: '\(Quantity.excerpt(bus))' is not host:port", exitCode: 2)
            }
            return .tcp(host: String(parts[0]), port: port)
        }
        guard let url = URL(string: apiURL), let host = url.host, let port = url.port ?? (url.scheme == "https" ? 443 : 80) as Int?, port < 65535 else {
            throw CLIError("the API URL '\(Quantity.excerpt(apiURL))' names no host: give --bus host:port", exitCode: 2)
        }
        return .tcp(host: host, port: port + 1)
    }

    /// One request to the key's shard owner (the app's own bytes in and out).
    func request(key: ByteBuffer, body: ByteBuffer) async throws -> ByteBuffer {
        try await node.request(workload: workload, shardKey: key, endpoint: ShardProtocol.request, body: body, via: .bmc, timeout: timeout)
    }

    func get(_ key: ByteBuffer) async throws -> ByteBuffer? {
        switch try KeyValueWire.decodeAnswer(try await request(key: key, body: KeyValueWire.request(.get))) {
        case .value(let v): return v
        case .notFound: return nil
        case let other: throw KeyValueError("GET answered \(other)")
        }
    }

    func set(_ key: ByteBuffer, _ value: ByteBuffer) async throws {
        let answer = try KeyValueWire.decodeAnswer(try await request(key: key, body: KeyValueWire.request(.set, value: value)))
        guard answer == .stored else { throw KeyValueError("SET answered \(answer)") }
    }

    func delete(_ key: ByteBuffer) async throws -> Bool {
        guard case .deleted(let existed) = try KeyValueWire.decodeAnswer(try await request(key: key, body: KeyValueWire.request(.delete))) else {
            throw KeyValueError("DEL answered something else")
        }
        return existed
    }

    func close() async { await node.shutdown() }
}
