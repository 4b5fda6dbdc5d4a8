import BackplaneModel

/// Flow-control windows, in payload bytes, for the four flow-controlled classes.
///
/// A window bounds how much of a class can be in flight (sent, not yet consumed) on a link.
/// Because bytes in flight sit in kernel buffers ahead of any later frame, the bulk and
/// telemetry windows are what bound the latency a control frame sees behind a bulk stream:
/// roughly `window / link rate`. Defaults: realtime and interactive 1 MiB, bulk and
/// telemetry 192 KiB (three 64 KiB fragments).
public struct ClassWindows: Hashable, Sendable {
    public var realtime: Int
    public var interactive: Int
    public var bulk: Int
    public var telemetry: Int

    public init(realtime: Int = 1 << 20, interactive: Int = 1 << 20, bulk: Int = 192 << 10, telemetry: Int = 192 << 10) {
        self.realtime = realtime
        self.interactive = interactive
        self.bulk = bulk
        self.telemetry = telemetry
    }

    /// The same window for every class.
    public static func uniform(_ bytes: Int) -> ClassWindows {
        ClassWindows(realtime: bytes, interactive: bytes, bulk: bytes, telemetry: bytes)
    }

    /// The window of a class; `control` is not flow-controlled and has none (0).
    public subscript(_ qos: QoSClass) -> Int {
        get {
            switch qos {
            case .control: return 0
            case .realtime: return realtime
            case .interactive: return interactive
            case .bulk: return bulk
            case .telemetry: return telemetry
            }
        }
        set {
            switch qos {
            case .control: break
            case .realtime: realtime = newValue
            case .interactive: interactive = newValue
            case .bulk: bulk = newValue
            case .telemetry: telemetry = newValue
            }
        }
    }
}
