import BackplaneModel
import DirectCardLink
import NIOCore

/// A message or request that arrived for an endpoint of this node.
public struct Delivery: Sendable {
    public var source: CardID
    public var endpoint: String
    public var body: ByteBuffer
    public var qos: QoS
    public var correlation: UInt64
    /// True when the sender waits for a reply (the handler's return value).
    public var isRequest: Bool
    /// For shard-routed requests: the workload and key they were addressed by.
    public var shard: (workload: String, key: ByteBuffer, epoch: UInt64)?
}

/// Runs on an event loop for each one-way message: MUST NOT block.
public typealias MessageHandler = @Sendable (Delivery) -> Void
/// Runs on an event loop for each request and returns the reply body: MUST NOT block.
public typealias RequestHandler = @Sendable (Delivery) throws -> ByteBuffer
/// Runs in ``DCLNode/run()``'s task group for each request.
public typealias AsyncRequestHandler = @Sendable (Delivery) async throws -> ByteBuffer

enum RequestHandlerKind: Sendable {
    case sync(RequestHandler)
    case async(AsyncRequestHandler)
}

/// A channel handler's copy of the node's handler tables, refreshed when the node's
/// generation counter moves, so delivering a message takes no lock.
struct HandlerCache {
    var generation = -1
    var messageHandlers: [String: MessageHandler] = [:]
    var requestHandlers: [String: RequestHandlerKind] = [:]
    /// The last one-way endpoint looked up: streams hit the same one again and again.
    var lastMessageEndpoint = ""
    var lastMessageHandler: MessageHandler?

    mutating func messageHandler(_ endpoint: String) -> MessageHandler? {
        if let handler = lastMessageHandler, endpoint == lastMessageEndpoint { return handler }
        let handler = messageHandlers[endpoint]
        lastMessageEndpoint = endpoint
        lastMessageHandler = handler
        return handler
    }
}
