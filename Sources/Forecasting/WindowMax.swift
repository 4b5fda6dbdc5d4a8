/// Max of the last `steps` observations (monotonic deque: O(1) amortised).
public struct WindowMax: LimitModel {
    public var name: String { "window-max" }
    public let steps: Int
    private var deque: [(index: Int, value: Double)] = []
    private var head = 0
    private var count = 0

    public init(steps: Int) { self.steps = max(1, steps) }

    public mutating func observe(_ value: Double, at time: Double) {
        let v = sanitized(value)
        while deque.count > head && deque[deque.count - 1].value <= v { deque.removeLast() }
        deque.append((count, v))
        count += 1
        while deque[head].index <= count - 1 - steps { head += 1 }
        if head > 1024 && head * 2 > deque.count {
            deque.removeFirst(head)
            head = 0
        }
    }

    public func limit(horizon: Int, quantile: Double) -> Double {
        deque.count > head ? deque[head].value : 0
    }

    public var stateBytes: Int { 48 + deque.capacity * 16 }
}

/// Max over the last `seconds` of time (monotonic deque by timestamp).
public struct TimeWindowMax: LimitModel {
    public let name: String
    public let seconds: Double
    private var deque: [(time: Double, value: Double)] = []
    private var head = 0

    public init(name: String = "peak", seconds: Double) {
        self.name = name
        self.seconds = seconds
    }

    public mutating func observe(_ value: Double, at time: Double) {
        let v = sanitized(value)
        while deque.count > head && deque[deque.count - 1].value <= v { deque.removeLast() }
        deque.append((time, v))
        while deque[head].time < time - seconds { head += 1 }
        if head > 1024 && head * 2 > deque.count {
            deque.removeFirst(head)
            head = 0
        }
    }

    public func limit(horizon: Int, quantile: Double) -> Double {
        deque.count > head ? deque[head].value : 0
    }

    public var stateBytes: Int { 48 + deque.capacity * 16 }
}
