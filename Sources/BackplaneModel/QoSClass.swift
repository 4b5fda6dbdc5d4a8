/// The service class of a DCL frame. Lower raw values are served first.
///
/// `control` is strictly first and never flow-controlled; the other classes share what is left
/// of a link by weighted deficit round robin (see ``weight``). Raw values are wire values:
/// append-only, never renumbered.
public enum QoSClass: UInt8, CaseIterable, Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    case control = 0
    case realtime = 1
    case interactive = 2
    case bulk = 3
    case telemetry = 4

    /// Share of the link among the weighted classes: realtime 8, interactive 4, bulk 2, telemetry 1.
    public var weight: Int {
        switch self {
        case .control: return 0
        case .realtime: return 8
        case .interactive: return 4
        case .bulk: return 2
        case .telemetry: return 1
        }
    }

    public var description: String {
        switch self {
        case .control: return "control"
        case .realtime: return "realtime"
        case .interactive: return "interactive"
        case .bulk: return "bulk"
        case .telemetry: return "telemetry"
        }
    }

    public static func < (lhs: QoSClass, rhs: QoSClass) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The priority of a frame within its QoS class, 0 (lowest) to 255 (highest).
public struct FramePriority: RawRepresentable, Hashable, Comparable, Sendable, Codable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public init(_ rawValue: UInt8) { self.rawValue = rawValue }
    public static let normal = FramePriority(128)
    public static let lowest = FramePriority(0)
    public static let highest = FramePriority(255)
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Quality of service carried on every frame: a class and a priority within it.
public struct QoS: Hashable, Sendable, Codable {
    public var `class`: QoSClass
    public var priority: FramePriority
    public init(_ class: QoSClass, priority: FramePriority = .normal) {
        self.class = `class`
        self.priority = priority
    }
    public static let control = QoS(.control)
    public static let realtime = QoS(.realtime)
    public static let interactive = QoS(.interactive)
    public static let bulk = QoS(.bulk)
    public static let telemetry = QoS(.telemetry)
}
