import BackplaneModel

/// The fixed 48-byte header in front of every DCL frame. Layout (big-endian), see `docs/dcl.md`:
///
/// | offset | size | field |
/// | --- | --- | --- |
/// | 0 | 2 | magic `0xDC1C` |
/// | 2 | 1 | protocol version |
/// | 3 | 1 | flags (low 4 bits) and hop count (high 4 bits) |
/// | 4 | 2 | message type |
/// | 6 | 1 | QoS class |
/// | 7 | 1 | priority |
/// | 8 | 8 | source CardID |
/// | 16 | 8 | destination CardID |
/// | 24 | 8 | correlation id |
/// | 32 | 4 | sequence (per-sender message number) |
/// | 36 | 2 | fragment index |
/// | 38 | 2 | fragment count |
/// | 40 | 4 | payload length |
/// | 44 | 4 | CRC32C of bytes 0–43 and the payload |
public struct FrameHeader: Hashable, Sendable {
    public static let size = 48
    public static let magic: UInt16 = 0xDC1C
    /// Frames stop being forwarded when their hop count reaches this value.
    public static let maxHops: UInt8 = 15

    public var version: UInt8
    public var flags: FrameFlags
    public var hops: UInt8
    public var type: MessageType
    public var qos: QoSClass
    public var priority: FramePriority
    public var source: CardID
    public var destination: CardID
    public var correlation: UInt64
    public var sequence: UInt32
    public var fragmentIndex: UInt16
    public var fragmentCount: UInt16
    public var payloadLength: UInt32

    public init(
        version: UInt8 = DCLVersion.current,
        type: MessageType,
        flags: FrameFlags = [],
        hops: UInt8 = 0,
        qos: QoSClass,
        priority: FramePriority = .normal,
        source: CardID,
        destination: CardID,
        correlation: UInt64 = 0,
        sequence: UInt32 = 0,
        fragmentIndex: UInt16 = 0,
        fragmentCount: UInt16 = 1,
        payloadLength: UInt32 = 0
    ) {
        self.version = version
        self.flags = flags
        self.hops = hops
        self.type = type
        self.qos = qos
        self.priority = priority
        self.source = source
        self.destination = destination
        self.correlation = correlation
        self.sequence = sequence
        self.fragmentIndex = fragmentIndex
        self.fragmentCount = fragmentCount
        self.payloadLength = payloadLength
    }

    /// True when this frame is one piece of a larger message.
    public var isFragment: Bool { fragmentCount > 1 }
}

/// Header flag bits (the low four bits of byte 3).
public struct FrameFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue & 0x0F }
    /// The frame answers the request with the same correlation id.
    public static let response = FrameFlags(rawValue: 0x01)
    /// The sender expects no answer; the receiver must not send one.
    public static let oneWay = FrameFlags(rawValue: 0x02)
    /// A shard-routed request that a router has resolved: the destination owns the shard.
    public static let shardResolved = FrameFlags(rawValue: 0x04)
}

/// Protocol versions this library speaks.
public enum DCLVersion {
    public static let current: UInt8 = 1
    public static let supported: ClosedRange<UInt8> = 1...1
}
