import BackplaneModel
import DirectCardLink
import DirectCardLinkNIO
import Foundation
import NIOCore
import NIOPosix

/// The app's end of the shard SDK: links to the card's shard host over the Unix socket the
/// card gave the instance, and serves the host's calls with a ``ShardApp``.
public enum ShardAppConnection {
    public struct Settings: Sendable, Hashable {
        public var socket: String
        public var token: String
        public var instance: String

        /// From the environment a card gives a sharded instance (``ShardAppWire/socketVariable``…).
        public init(environment: [String: String]) throws(ShardAppWireError) {
            func value(_ name: String) throws(ShardAppWireError) -> String {
                guard let v = environment[name], !v.isEmpty else {
                    throw ShardAppWireError("\(name) is not set: this program runs as an instance of a sharded workload (`shards:` in its spec), which its card gives a socket and a token")
                }
                return v
            }
            socket = try value(ShardAppWire.socketVariable)
            token = try value(ShardAppWire.tokenVariable)
            instance = try value(ShardAppWire.instanceVariable)
        }

        public init(socket: String, token: String, instance: String) {
            self.socket = socket
            self.token = token
            self.instance = instance
        }
    }

    /// Serves `app` until cancelled: links to the shard host, and links again (after a short
    /// wait) whenever the link closes or cannot be made — the card may restart. Throws only
    /// when the host refuses the app's token (it is not the instance it says).
    /// `linked` is called each time a link is made.
    public static func serve(_ app: some ShardApp, settings: Settings, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, linked: @escaping @Sendable () -> Void = {}) async throws {
        var attempt = 0
        while !Task.isCancelled {
            let (events, sink) = AsyncStream.makeStream(of: LinkEvent.self)
            var config = DCLNode.Configuration(cardID: .unassigned, role: .client)
            config.token = settings.token
            config.metadata = [ShardAppWire.instanceKey: settings.instance]
            config.linkEvents = { sink.yield($0) }
            config.deadAfter = .seconds(5)
            let node = DCLNode(configuration: config, group: group)
            register(app, on: node)
            do {
                try await withThrowingDiscardingTaskGroup { tasks in
                    tasks.addTask { await node.run() }
                    defer { tasks.cancelAll() }
                    try await node.connect(to: .unix(path: settings.socket))
                    attempt = 0
                    linked()
                    for await event in events {
                        if case .closed = event { break }
                    }
                }
            } catch let error as DCLError where error.status == .unauthorized {
                await node.shutdown()
                throw error
            } catch is CancellationError {
                await node.shutdown()
                return
            } catch {
                // The host is not there yet (the card is starting) or went away: try again.
            }
            await node.shutdown()
            attempt += 1
            do {
                try await Task.sleep(for: .milliseconds(min(1000, 20 << min(attempt, 6))))  // reconnect backoff
            } catch {
                return  // cancelled
            }
        }
    }

    static func register(_ app: some ShardApp, on node: DCLNode) {
        node.onRequest(ShardAppWire.serve, async: { d in
            let (shard, key, request) = try ShardAppWire.decodeServe(d.body)
            return try await app.serve(shard, key: key, request: request)
        })
        node.onRequest(ShardAppWire.prepare, async: { d in
            var body = d.body
            try await app.prepare(try ShardAppWire.rangeField(&body))
            return ByteBuffer()
        })
        node.onRequest(ShardAppWire.snapshot, async: { d in
            var body = d.body
            let (sequence, data) = try await app.snapshot(try ShardAppWire.rangeField(&body))
            return ShardAppWire.sequenced(sequence, data)
        })
        node.onRequest(ShardAppWire.changes, async: { d in
            var body = d.body
            let shard = try ShardAppWire.rangeField(&body)
            guard let since = body.readInteger(as: UInt64.self) else { throw ShardAppWireError("since: expected 8 bytes") }
            let (sequence, data) = try await app.changes(shard, since: since)
            return ShardAppWire.sequenced(sequence, data)
        })
        node.onRequest(ShardAppWire.sequence, async: { d in
            var body = d.body
            var out = ByteBuffer()
            out.writeInteger(try await app.sequence(try ShardAppWire.rangeField(&body)))
            return out
        })
        node.onRequest(ShardAppWire.restore, async: { d in
            var body = d.body
            let shard = try ShardAppWire.rangeField(&body)
            try await app.restore(shard, snapshot: body)
            return ByteBuffer()
        })
        node.onRequest(ShardAppWire.apply, async: { d in
            var body = d.body
            let shard = try ShardAppWire.rangeField(&body)
            try await app.apply(shard, changes: body)
            return ByteBuffer()
        })
        node.onRequest(ShardAppWire.release, async: { d in
            var body = d.body
            try await app.release(try ShardAppWire.rangeField(&body))
            return ByteBuffer()
        })
        node.onRequest(ShardAppWire.drop, async: { d in
            var body = d.body
            try await app.drop(try ShardAppWire.rangeField(&body))
            return ByteBuffer()
        })
        node.onRequest(ShardAppWire.sizes, async: { d in
            let shards = try ShardAppWire.decodeSizesRequest(d.body)
            let sizes = await app.sizes(shards)
            guard sizes.count == shards.count else { throw ShardAppWireError("sizes: the app answered \(sizes.count) sizes for \(shards.count) ranges") }
            return ShardAppWire.sizesAnswer(sizes)
        })
    }
}
