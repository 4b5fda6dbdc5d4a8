/// Max of the last `steps` observations (monotonic deque: O(1) amortised).
public struct WindowMax: LimitModel, Codable {
    public var name: String { "window-max" }
    public let steps: Int
    private var deque: [Entry] = []
    private var head = 0
    private var count = 0

    public init(steps: Int) { self.steps = max(1, steps) }

    public mutating func observe(_ value: Double, at time: Double) {
        let v = sanitized(value)
        while deque.count > head && deque[deque.count - 1].value <= v { deque.removeLast() }
        deque.append(Entry(key: Double(count), value: v))
        count += 1
        while deque[head].key <= Double(count - 1 - steps) { head += 1 }
        if head > 1024 && head * 2 > deque.count {
            deque.removeFirst(head)
            head = 0
        }
    }

    /// The max of the last `steps` observations (0 before the first).
    public var current: Double { deque.count > head ? deque[head].value : 0 }

    public func limit(horizon: Int, quantile: Double) -> Double { current }

    public var stateBytes: Int { 48 + deque.capacity * 16 }
}

/// Max over the last `seconds` of time (monotonic deque by timestamp).
public struct TimeWindowMax: LimitModel, Codable {
    public let name: String
    public let seconds: Double
    private var deque: [Entry] = []
    private var head = 0

    public init(name: String = "peak", seconds: Double) {
        self.name = name
        self.seconds = seconds
    }

    public mutating func observe(_ value: Double, at time: Double) {
        let v = sanitized(value)
        while deque.count > head && deque[deque.count - 1].value <= v { deque.removeLast() }
        deque.append(Entry(key: time, value: v))
        while deque[head].key < time - seconds { head += 1 }
        if head > 1024 && head * 2 > deque.count {
            deque.removeFirst(head)
            head = 0
        }
    }

    /// The max over the last `seconds` (0 before the first observation).
    public var current: Double { deque.count > head ? deque[head].value : 0 }

    public func limit(horizon: Int, quantile: Double) -> Double { current }

    public var stateBytes: Int { 48 + deque.capacity * 16 }
}

/// One deque entry: a row index or a timestamp, and the value seen there.
struct Entry: Codable, Sendable {
    var key: Double
    var value: Double
}
