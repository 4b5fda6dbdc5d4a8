import BackplaneModel
import Synchronization

/// What a node's links carried, per QoS class, since the node was made: frames and payload
/// bytes received, payload bytes sent. Channel handlers add their counts once per read or
/// flush batch (not per frame), so counting costs nothing measurable on the data path.
public final class DCLTraffic: Sendable {
    public struct Counts: Hashable, Sendable {
        public var framesReceived = 0
        public var bytesReceived = 0
        public var bytesSent = 0
        public init() {}
    }

    private let counts = Mutex(Array(repeating: Counts(), count: QoSClass.allCases.count))

    public init() {}

    /// Counts per class, indexed by `QoSClass.rawValue`.
    public var snapshot: [QoSClass: Counts] {
        let all = counts.withLock { $0 }
        return Dictionary(uniqueKeysWithValues: QoSClass.allCases.map { ($0, all[Int($0.rawValue)]) })
    }

    func received(frames: [Int], bytes: [Int]) {
        counts.withLock { c in
            for i in c.indices {
                c[i].framesReceived &+= frames[i]
                c[i].bytesReceived &+= bytes[i]
            }
        }
    }

    func sent(bytes: [Int]) {
        counts.withLock { c in
            for i in c.indices { c[i].bytesSent &+= bytes[i] }
        }
    }
}
