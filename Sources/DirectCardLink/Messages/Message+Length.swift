import NIOCore

extension Message {
    /// The number of bytes ``encodePayload(into:)`` writes, computed without encoding.
    public var encodedPayloadLength: Int {
        @inline(__always) func s(_ string: String) -> Int { 2 + string.utf8.count }
        switch self {
        case .hello(let m):
            return 3 + 8 + s(m.token) + 2 + m.metadata.reduce(0) { $0 + s($1.key) + s($1.value) }
        case .welcome: return 2 + 8 + 8 + 4 + 4 + 16
        case .heartbeat: return 8
        case .command(let m): return s(m.name) + m.body.readableBytes
        case .event(let m): return s(m.name) + m.body.readableBytes
        case .close(let m): return 2 + s(m.reason)
        case .credit: return 5
        case .data(let m): return s(m.endpoint) + m.body.readableBytes
        case .reply(let m): return m.body.readableBytes
        case .errorReply(let m): return 2 + s(m.message)
        case .regionRegister: return 4 + 8 + 8 + 1
        case .regionWrite(let m): return 4 + 8 + 8 + m.data.readableBytes
        case .regionRead: return 4 + 8 + 8 + 4
        case .regionReadResponse(let m): return m.data.readableBytes
        case .regionCompletion(let m): return 2 + s(m.message)
        case .routedRequest(let m): return s(m.workload) + 8 + 2 + m.shardKey.readableBytes + s(m.endpoint) + m.body.readableBytes
        }
    }
}
