import BackplaneModel

/// The receiving side of credit-based flow control, per class.
///
/// The sender starts with a window of credit per flow-controlled class. Each received payload
/// byte uses credit; a sender that goes below zero has broken the protocol. When the
/// application has consumed a quarter of a window, a grant goes back (early enough that the
/// grant's round trip does not stall a sender).
public struct ReceiveWindow: Sendable, Hashable {
    public let windows: ClassWindows
    private var outstanding: [Int]  // credit the sender still holds, per class
    private var consumed: [Int]  // consumed since the last grant, per class

    public init(windows: ClassWindows) {
        self.windows = windows
        self.outstanding = QoSClass.allCases.map { windows[$0] }
        self.consumed = Array(repeating: 0, count: QoSClass.allCases.count)
    }

    /// A frame of `bytes` payload arrived. Returns false when the sender had no credit for it.
    public mutating func received(_ qos: QoSClass, bytes: Int) -> Bool {
        guard qos != .control else { return true }
        let c = Int(qos.rawValue)
        outstanding[c] -= bytes
        return outstanding[c] >= 0
    }

    /// The application finished with `bytes` of class `qos`. Returns a grant to send, if due.
    public mutating func consumed(_ qos: QoSClass, bytes: Int) -> Credit? {
        guard qos != .control, bytes > 0 else { return nil }
        let c = Int(qos.rawValue)
        consumed[c] += bytes
        guard consumed[c] >= max(1, windows[qos] / 4) else { return nil }
        let grant = consumed[c]
        consumed[c] = 0
        outstanding[c] += grant
        return Credit(qos: qos, bytes: UInt32(clamping: grant))
    }
}
