import BackplaneModel
import NIOCore

/// Every DCL message, decoded from (or to be encoded into) a frame payload.
/// Payload layouts are listed in `docs/dcl.md`; fields are big-endian.
public enum Message: Hashable, Sendable {
    case hello(Hello)
    case welcome(Welcome)
    case heartbeat(Heartbeat)
    case command(Command)
    case event(Event)
    case close(Close)
    case credit(Credit)
    case data(DataMessage)
    case reply(Reply)
    case errorReply(ErrorReply)
    case regionRegister(RegionRegister)
    case regionWrite(RegionWrite)
    case regionRead(RegionRead)
    case regionReadResponse(RegionReadResponse)
    case regionCompletion(RegionCompletion)
    case routedRequest(RoutedRequest)

    public var type: MessageType {
        switch self {
        case .hello: return .hello
        case .welcome: return .welcome
        case .heartbeat: return .heartbeat
        case .command: return .command
        case .event: return .event
        case .close: return .close
        case .credit: return .credit
        case .data: return .data
        case .reply: return .reply
        case .errorReply: return .errorReply
        case .regionRegister: return .regionRegister
        case .regionWrite: return .regionWrite
        case .regionRead: return .regionRead
        case .regionReadResponse: return .regionReadResponse
        case .regionCompletion: return .regionCompletion
        case .routedRequest: return .routedRequest
        }
    }

    /// Appends this message's payload.
    @inlinable
    public func encodePayload(into buffer: inout ByteBuffer) {
        switch self {
        case .hello(let m):
            buffer.writeMultipleIntegers(m.versions.lowerBound, m.versions.upperBound, m.role.rawValue, m.cardID.rawValue)
            buffer.writeShortString(m.token)
            buffer.writeInteger(UInt16(m.metadata.count))
            for (key, value) in m.metadata {
                buffer.writeShortString(key)
                buffer.writeShortString(value)
            }
        case .welcome(let m):
            buffer.writeMultipleIntegers(
                m.version, m.acceptorRole.rawValue, m.assignedID.rawValue, m.acceptorID.rawValue,
                m.heartbeatIntervalMilliseconds, m.deadAfterMilliseconds,
                UInt32(clamping: m.windows.realtime), UInt32(clamping: m.windows.interactive),
                UInt32(clamping: m.windows.bulk), UInt32(clamping: m.windows.telemetry)
            )
        case .heartbeat(let m):
            buffer.writeInteger(m.nonce)
        case .command(let m):
            buffer.writeShortString(m.name)
            buffer.writeImmutableBuffer(m.body)
        case .event(let m):
            buffer.writeShortString(m.name)
            buffer.writeImmutableBuffer(m.body)
        case .close(let m):
            buffer.writeInteger(m.status.rawValue)
            buffer.writeShortString(m.reason)
        case .credit(let m):
            buffer.writeMultipleIntegers(m.qos.rawValue, m.bytes)
        case .data(let m):
            buffer.writeShortString(m.endpoint)
            buffer.writeImmutableBuffer(m.body)
        case .reply(let m):
            buffer.writeImmutableBuffer(m.body)
        case .errorReply(let m):
            buffer.writeInteger(m.status.rawValue)
            buffer.writeShortString(m.message)
        case .regionRegister(let m):
            buffer.writeMultipleIntegers(m.region, m.length, m.key, m.access.rawValue)
        case .regionWrite(let m):
            buffer.writeMultipleIntegers(m.region, m.key, m.offset)
            buffer.writeImmutableBuffer(m.data)
        case .regionRead(let m):
            buffer.writeMultipleIntegers(m.region, m.key, m.offset, m.length)
        case .regionReadResponse(let m):
            buffer.writeImmutableBuffer(m.data)
        case .regionCompletion(let m):
            buffer.writeInteger(m.status.rawValue)
            buffer.writeShortString(m.message)
        case .routedRequest(let m):
            buffer.writeShortString(m.workload)
            buffer.writeInteger(m.epoch)
            buffer.writeShortBytes(m.shardKey)
            buffer.writeShortString(m.endpoint)
            buffer.writeImmutableBuffer(m.body)
        }
    }

    /// Decodes a complete (reassembled) payload of the given type.
    public static func decode(type: MessageType, payload: ByteBuffer) throws(PayloadDecodingError) -> Message {
        var r = PayloadReader(payload, type: type)
        let message: Message
        switch type {
        case .hello:
            let low = try r.integer("minVersion", as: UInt8.self)
            let high = try r.integer("maxVersion", as: UInt8.self)
            guard low <= high else { throw PayloadDecodingError(type: type, field: "maxVersion", reason: "is \(high), below minVersion \(low)") }
            let roleValue = try r.integer("role", as: UInt8.self)
            guard let role = PeerRole(rawValue: roleValue) else {
                throw PayloadDecodingError(type: type, field: "role", reason: "is \(roleValue), expected 1 (card), 2 (controller) or 3 (client)")
            }
            let cardID = CardID(try r.integer("cardID", as: UInt64.self))
            let token = try r.string("token")
            let count = try r.integer("metadata.count", as: UInt16.self)
            var metadata: [String: String] = [:]
            for i in 0..<Int(count) {
                let key = try r.string("metadata[\(i)].key")
                metadata[key] = try r.string("metadata[\(i)].value")
            }
            try r.end()
            message = .hello(Hello(versions: low...high, role: role, cardID: cardID, token: token, metadata: metadata))
        case .welcome:
            let version = try r.integer("version", as: UInt8.self)
            let roleValue = try r.integer("acceptorRole", as: UInt8.self)
            guard let role = PeerRole(rawValue: roleValue) else {
                throw PayloadDecodingError(type: type, field: "acceptorRole", reason: "is \(roleValue), expected 1 (card), 2 (controller) or 3 (client)")
            }
            let assigned = CardID(try r.integer("assignedID", as: UInt64.self))
            let acceptor = CardID(try r.integer("acceptorID", as: UInt64.self))
            let interval = try r.integer("heartbeatIntervalMilliseconds", as: UInt32.self)
            let dead = try r.integer("deadAfterMilliseconds", as: UInt32.self)
            var windows = ClassWindows()
            windows.realtime = Int(try r.integer("windows.realtime", as: UInt32.self))
            windows.interactive = Int(try r.integer("windows.interactive", as: UInt32.self))
            windows.bulk = Int(try r.integer("windows.bulk", as: UInt32.self))
            windows.telemetry = Int(try r.integer("windows.telemetry", as: UInt32.self))
            try r.end()
            message = .welcome(Welcome(version: version, acceptorRole: role, assignedID: assigned, acceptorID: acceptor, heartbeatIntervalMilliseconds: interval, deadAfterMilliseconds: dead, windows: windows))
        case .heartbeat:
            let nonce = try r.integer("nonce", as: UInt64.self)
            try r.end()
            message = .heartbeat(Heartbeat(nonce: nonce))
        case .command:
            message = .command(Command(name: try r.string("name"), body: r.rest()))
        case .event:
            message = .event(Event(name: try r.string("name"), body: r.rest()))
        case .close:
            let status = DCLStatus(rawValue: try r.integer("status", as: UInt16.self))
            let reason = try r.string("reason")
            try r.end()
            message = .close(Close(status: status, reason: reason))
        case .credit:
            let qosValue = try r.integer("qos", as: UInt8.self)
            guard let qos = QoSClass(rawValue: qosValue), qos != .control else {
                throw PayloadDecodingError(type: type, field: "qos", reason: "is \(qosValue), expected a flow-controlled class 1...\(QoSClass.allCases.count - 1)")
            }
            let bytes = try r.integer("bytes", as: UInt32.self)
            try r.end()
            message = .credit(Credit(qos: qos, bytes: bytes))
        case .data:
            message = .data(try DataMessage(decoding: payload))
        case .reply:
            message = .reply(Reply(body: r.rest()))
        case .errorReply:
            let status = DCLStatus(rawValue: try r.integer("status", as: UInt16.self))
            let text = try r.string("message")
            try r.end()
            message = .errorReply(ErrorReply(status: status, message: text))
        case .regionRegister:
            let region = try r.integer("region", as: UInt32.self)
            let length = try r.integer("length", as: UInt64.self)
            let key = try r.integer("key", as: UInt64.self)
            let access = RegionAccess(rawValue: try r.integer("access", as: UInt8.self))
            try r.end()
            message = .regionRegister(RegionRegister(region: region, length: length, key: key, access: access))
        case .regionWrite:
            let region = try r.integer("region", as: UInt32.self)
            let key = try r.integer("key", as: UInt64.self)
            let offset = try r.integer("offset", as: UInt64.self)
            message = .regionWrite(RegionWrite(region: region, key: key, offset: offset, data: r.rest()))
        case .regionRead:
            let region = try r.integer("region", as: UInt32.self)
            let key = try r.integer("key", as: UInt64.self)
            let offset = try r.integer("offset", as: UInt64.self)
            let length = try r.integer("length", as: UInt32.self)
            try r.end()
            message = .regionRead(RegionRead(region: region, key: key, offset: offset, length: length))
        case .regionReadResponse:
            message = .regionReadResponse(RegionReadResponse(data: r.rest()))
        case .regionCompletion:
            let status = DCLStatus(rawValue: try r.integer("status", as: UInt16.self))
            let text = try r.string("message")
            try r.end()
            message = .regionCompletion(RegionCompletion(status: status, message: text))
        case .routedRequest:
            let workload = try r.string("workload")
            let epoch = try r.integer("epoch", as: UInt64.self)
            let key = try r.shortBytes("shardKey")
            let endpoint = try r.string("endpoint")
            message = .routedRequest(RoutedRequest(workload: workload, epoch: epoch, shardKey: key, endpoint: endpoint, body: r.rest()))
        default:
            throw PayloadDecodingError(type: type, field: "type", reason: "is not a message type of this version")
        }
        return message
    }
}

/// What kind of peer opens a connection.
public enum PeerRole: UInt8, Hashable, Sendable, CustomStringConvertible {
    case card = 1
    case controller = 2
    case client = 3
    public var description: String {
        switch self {
        case .card: return "card"
        case .controller: return "controller"
        case .client: return "client"
        }
    }
}

/// The first message on a connection, from the side that opened it.
public struct Hello: Hashable, Sendable {
    /// The protocol versions the sender speaks; the acceptor picks the highest it shares.
    public var versions: ClosedRange<UInt8>
    public var role: PeerRole
    /// The sender's CardID, or ``CardID/unassigned`` when it asks to be given one.
    public var cardID: CardID
    /// Join token or bearer credential; empty when the transport (mTLS) authenticates.
    public var token: String
    /// Small facts about the sender (hostname, build), not inventory.
    public var metadata: [String: String]
    public init(versions: ClosedRange<UInt8> = DCLVersion.supported, role: PeerRole, cardID: CardID, token: String = "", metadata: [String: String] = [:]) {
        self.versions = versions
        self.role = role
        self.cardID = cardID
        self.token = token
        self.metadata = metadata
    }
}

/// The acceptor's answer to a hello: the chosen version and both identities.
public struct Welcome: Hashable, Sendable {
    public var version: UInt8
    public var acceptorRole: PeerRole
    /// The CardID the opener has on this bus (assigned now, or the one it claimed, confirmed).
    public var assignedID: CardID
    /// The acceptor's own CardID.
    public var acceptorID: CardID
    public var heartbeatIntervalMilliseconds: UInt32
    /// Silence after which either side declares the other dead.
    public var deadAfterMilliseconds: UInt32
    /// Bytes each flow-controlled class may have in flight, both ways (see ``ClassWindows``).
    public var windows: ClassWindows
    public init(version: UInt8, acceptorRole: PeerRole, assignedID: CardID, acceptorID: CardID, heartbeatIntervalMilliseconds: UInt32, deadAfterMilliseconds: UInt32, windows: ClassWindows) {
        self.version = version
        self.acceptorRole = acceptorRole
        self.assignedID = assignedID
        self.acceptorID = acceptorID
        self.heartbeatIntervalMilliseconds = heartbeatIntervalMilliseconds
        self.deadAfterMilliseconds = deadAfterMilliseconds
        self.windows = windows
    }
}

public struct Heartbeat: Hashable, Sendable {
    public var nonce: UInt64
    public init(nonce: UInt64) { self.nonce = nonce }
}

/// A control command (the BMC telling a card to act). The body's format belongs to the command.
public struct Command: Hashable, Sendable {
    public var name: String
    public var body: ByteBuffer
    public init(name: String, body: ByteBuffer = ByteBuffer()) {
        self.name = name
        self.body = body
    }
}

/// A control event (a card reporting something happened).
public struct Event: Hashable, Sendable {
    public var name: String
    public var body: ByteBuffer
    public init(name: String, body: ByteBuffer = ByteBuffer()) {
        self.name = name
        self.body = body
    }
}

/// The last message on a connection, with the reason it is being closed.
public struct Close: Hashable, Sendable {
    public var status: DCLStatus
    public var reason: String
    public init(status: DCLStatus, reason: String) {
        self.status = status
        self.reason = reason
    }
}

/// A flow-control grant: the receiver may be sent `bytes` more payload bytes of class `qos`.
public struct Credit: Hashable, Sendable {
    public var qos: QoSClass
    public var bytes: UInt32
    public init(qos: QoSClass, bytes: UInt32) {
        self.qos = qos
        self.bytes = bytes
    }
}

/// Data for a named endpoint on the destination card.
public struct DataMessage: Hashable, Sendable {
    public var endpoint: String
    public var body: ByteBuffer
    public init(endpoint: String, body: ByteBuffer) {
        self.endpoint = endpoint
        self.body = body
    }
}

/// A successful answer to a data or routed request.
public struct Reply: Hashable, Sendable {
    public var body: ByteBuffer
    public init(body: ByteBuffer) { self.body = body }
}

/// A failed answer to any request.
public struct ErrorReply: Hashable, Sendable {
    public var status: DCLStatus
    public var message: String
    public init(status: DCLStatus, message: String) {
        self.status = status
        self.message = message
    }
}

/// Rights a registered memory region grants to remote peers.
public struct RegionAccess: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let remoteRead = RegionAccess(rawValue: 1)
    public static let remoteWrite = RegionAccess(rawValue: 2)
    public static let readWrite: RegionAccess = [.remoteRead, .remoteWrite]
}

/// Announces a registered memory region to a peer (what RDMA shares out of band).
public struct RegionRegister: Hashable, Sendable {
    public var region: UInt32
    public var length: UInt64
    public var key: UInt64
    public var access: RegionAccess
    public init(region: UInt32, length: UInt64, key: UInt64, access: RegionAccess) {
        self.region = region
        self.length = length
        self.key = key
        self.access = access
    }
}

/// One-sided write of `data` at `offset` into a remote region.
public struct RegionWrite: Hashable, Sendable {
    public var region: UInt32
    public var key: UInt64
    public var offset: UInt64
    public var data: ByteBuffer
    public init(region: UInt32, key: UInt64, offset: UInt64, data: ByteBuffer) {
        self.region = region
        self.key = key
        self.offset = offset
        self.data = data
    }
}

/// One-sided read of `length` bytes at `offset` from a remote region.
public struct RegionRead: Hashable, Sendable {
    public var region: UInt32
    public var key: UInt64
    public var offset: UInt64
    public var length: UInt32
    public init(region: UInt32, key: UInt64, offset: UInt64, length: UInt32) {
        self.region = region
        self.key = key
        self.offset = offset
        self.length = length
    }
}

public struct RegionReadResponse: Hashable, Sendable {
    public var data: ByteBuffer
    public init(data: ByteBuffer) { self.data = data }
}

/// The outcome of a one-sided write, or a failed read.
public struct RegionCompletion: Hashable, Sendable {
    public var status: DCLStatus
    public var message: String
    public init(status: DCLStatus, message: String = "") {
        self.status = status
        self.message = message
    }
}

/// A request addressed by workload and shard key, not by card: a router resolves the owner
/// from its shard map and forwards it.
public struct RoutedRequest: Hashable, Sendable {
    public var workload: String
    /// The shard map epoch the sender routed with; routers with a newer map re-route.
    public var epoch: UInt64
    public var shardKey: ByteBuffer
    public var endpoint: String
    public var body: ByteBuffer
    public init(workload: String, epoch: UInt64, shardKey: ByteBuffer, endpoint: String, body: ByteBuffer) {
        self.workload = workload
        self.epoch = epoch
        self.shardKey = shardKey
        self.endpoint = endpoint
        self.body = body
    }
}
