import BackplaneModel
import BusSecurity
import DirectCardLink
import DirectCardLinkNIO
import Foundation
import KeyValueApp
import NIOCore
import NIOPosix
import Synchronization
import X509

/// A data client of the bus: a DCL link to the BMC (mutual TLS's server half: it checks the
/// BMC's certificate against the bus CA, and shows an API token) over which it sends
/// shard-routed requests. `backplane load` and `backplane gateway` use it. When the link
/// closes (the BMC restarted), the next request links again (one attempt at a time, shared by
/// every request waiting); a request that finds no link fails with `noRoute`, which callers
/// that retry (`backplane load --retry`) retry.
final class ShardClient: Sendable {
    /// The current link's node, and the attempt to link again under way, if any.
    private let link: Mutex<(node: DCLNode, relinking: Task<Void, Never>?)>
    /// Makes a new linked node (the same address, TLS and token as the first).
    private let dial: @Sendable () async throws -> DCLNode
    /// `<tenant>/<name>`.
    let workload: String
    let timeout: Duration

    var node: DCLNode { link.withLock { $0.node } }

    private init(node: DCLNode, dial: @escaping @Sendable () async throws -> DCLNode, workload: String, timeout: Duration) {
        self.link = Mutex((node, nil))
        self.dial = dial
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
        var ca: Certificate?
        if !url.hasPrefix("http://") {
            guard let found = try BMCOptions.resolveCA(ca: options.ca, environment: environment, loadConfig: ClientConfig.load) else {
                throw CLIError("no bus CA to check the BMC against: give --ca, $BACKPLANE_CA or \"ca\" in the client config", exitCode: 2)
            }
            ca = found
        }
        let dial: @Sendable () async throws -> DCLNode = { [config, ca] in
            let node = DCLNode(configuration: config, group: group)
            do {
                if let ca {
                    try await node.connect(to: address, tls: try BusTLS.client(trusting: ca), serverHostname: BusCA.bmcServerName)
                } else {
                    try await node.connect(to: address)
                }
            } catch {
                await node.shutdown()
                throw error
            }
            return node
        }
        let node: DCLNode
        do {
            node = try await dial()
        } catch let error as DCLError {
            throw CLIError("cannot link to the bus at \(address): \(error.message)", exitCode: error.status == .unauthorized ? 3 : 1)
        }
        let key = workload.contains("/") ? workload : WorkloadSpec.key(tenant: tenant ?? WorkloadSpec.defaultTenant, name: workload)
        return ShardClient(node: node, dial: dial, workload: key, timeout: timeout)
    }

    /// The node to send on: the current one while it is linked; else the result of one attempt to
    /// link again (shared by every caller that finds the link gone meanwhile).
    private func linkedNode() async -> DCLNode {
        let (node, attempt) = link.withLock { l -> (DCLNode, Task<Void, Never>?) in
            if !l.node.connectedPeers.isEmpty { return (l.node, nil) }
            if let running = l.relinking { return (l.node, running) }
            let old = l.node
            let task = Task { [self] in
                guard let fresh = try? await dial() else { return }
                link.withLock { $0.node = fresh }
                await old.shutdown()
            }
            l.relinking = task
            return (l.node, task)
        }
        guard let attempt else { return node }
        await attempt.value
        return link.withLock { l in
            l.relinking = nil
            return l.node
        }
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
        try await linkedNode().request(workload: workload, shardKey: key, endpoint: ShardProtocol.request, body: body, via: .bmc, timeout: timeout)
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

    func close() async {
        let (node, attempt) = link.withLock { ($0.node, $0.relinking) }
        attempt?.cancel()
        await attempt?.value
        await node.shutdown()
        await self.node.shutdown()
    }
}
