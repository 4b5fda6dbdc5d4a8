import BackplaneModel
import NIOCore

/// Decides which frame goes on a link next (sans I/O; one per connection).
///
/// - `control` is strict priority and not flow-controlled: a control message waits behind at
///   most the one fragment already being written.
/// - The other classes share the link by deficit round robin with quantum
///   `weight × fragmentSize` (realtime 8, interactive 4, bulk 2, telemetry 1).
/// - Within a class, priority is honoured in four bands (0–63, 64–127, 128–191, 192–255),
///   FIFO within a band.
/// - Payloads above `fragmentSize` go out as fragments; forwarded frames keep their own.
/// - A flow-controlled class sends only while it has credit from the peer (``creditGranted``).
/// - A class whose queue passes `highWatermark` bytes is not writable until it drains below
///   `lowWatermark`; producers should wait (backpressure).
public struct OutboundScheduler: Sendable {
    public struct Configuration: Sendable, Hashable {
        public var fragmentSize: Int
        public var highWatermark: Int
        public var lowWatermark: Int
        public init(fragmentSize: Int = 64 * 1024, highWatermark: Int = 1 << 20, lowWatermark: Int = 256 << 10) {
            precondition(fragmentSize >= 256 && lowWatermark <= highWatermark)
            self.fragmentSize = fragmentSize
            self.highWatermark = highWatermark
            self.lowWatermark = lowWatermark
        }
    }

    struct Pending: Sendable {
        var message: OutboundMessage
        var sequence: UInt32
        var fragmentCount: UInt16
        var nextFragment: UInt16 = 0
        /// Payload bytes already sent (for runs: of the frames already sent).
        var offset: Int = 0
        var length: Int
        /// Runs only: bytes of the run buffer already sent.
        var runOffset: Int = 0
    }

    struct ClassQueue: Sendable {
        var queuedBytes = 0
        var count = 0
        var credit = 0
        var deficit = 0
        var writable = true
    }

    /// Queue per (class, band) at index `class * 4 + band`; kept flat so appends are cheap.
    private var bands: [CircularBuffer<Pending>] = Array(repeating: CircularBuffer(initialCapacity: 64), count: QoSClass.allCases.count * 4)

    /// The band of class `c` that goes next: highest non-empty.
    private func headBand(_ c: Int) -> Int? {
        var b = 3
        while b >= 0 {
            if !bands[c * 4 + b].isEmpty { return c * 4 + b }
            b -= 1
        }
        return nil
    }

    public let configuration: Configuration
    private var queues: [ClassQueue]
    private var nextSequence: UInt32 = 1
    private var turn = 1  // index into the weighted classes (1...4)
    private var turnCharged = false
    /// The version stamped on frames this scheduler writes.
    public var version: UInt8 = DCLVersion.current

    public init(configuration: Configuration = Configuration(), initialCredit: Int = 0) {
        self.configuration = configuration
        self.queues = Array(repeating: ClassQueue(), count: QoSClass.allCases.count)
        for c in QoSClass.allCases where c != .control {
            queues[Int(c.rawValue)].credit = initialCredit
        }
    }

    /// Messages waiting, all classes.
    public var isEmpty: Bool { queues.allSatisfy { $0.count == 0 } }
    public func queuedBytes(_ qos: QoSClass) -> Int { queues[Int(qos.rawValue)].queuedBytes }
    public func credit(_ qos: QoSClass) -> Int { queues[Int(qos.rawValue)].credit }
    public func isWritable(_ qos: QoSClass) -> Bool { queues[Int(qos.rawValue)].writable }

    /// Queues a message. Returns false when the class has just become unwritable (the producer
    /// should wait for ``isWritable(_:)``); the message is queued either way.
    @discardableResult
    public mutating func enqueue(_ message: consuming OutboundMessage) -> Bool {
        var length = message.payloadLength
        let fragmentCount: Int
        let forwarded: Bool
        var isRun = false
        if case .forwarded = message.body { forwarded = true } else { forwarded = false }
        if case .run = message.body { isRun = true }
        if forwarded || isRun {
            fragmentCount = 1
        } else if length <= configuration.fragmentSize {
            fragmentCount = 1
        } else {
            // Large: encode once so fragments can be cut from one buffer.
            switch message.body {
            case .message(let m):
                var encoded = ByteBuffer()
                encoded.reserveCapacity(length)
                m.encodePayload(into: &encoded)
                message.body = .encoded(encoded)
            case .data(let endpoint, let body):
                var encoded = ByteBuffer()
                encoded.reserveCapacity(length)
                Message.data(DataMessage(endpoint: endpoint, body: body)).encodePayload(into: &encoded)
                message.body = .encoded(encoded)
            case .encoded, .forwarded, .run:
                break
            }
            length = message.payloadLength
            fragmentCount = (length + configuration.fragmentSize - 1) / configuration.fragmentSize
        }
        precondition(fragmentCount <= Int(UInt16.max), "message too large to fragment; callers check maxMessageBytes")
        let sequence: UInt32
        if forwarded, case .forwarded(let f) = message.body {
            sequence = f.header.sequence
        } else if let assigned = message.sequence {
            sequence = assigned
        } else {
            sequence = nextSequence
            nextSequence &+= 1
        }
        let c = Int(message.qos.rawValue)
        let band = Int(message.priority.rawValue >> 6)
        bands[c * 4 + band].append(Pending(message: consume message, sequence: sequence, fragmentCount: UInt16(fragmentCount), length: length))
        queues[c].count += 1
        queues[c].queuedBytes += length
        if queues[c].writable && queues[c].queuedBytes > configuration.highWatermark {
            queues[c].writable = false
            return false
        }
        return queues[c].writable
    }

    /// Classes (bit `1 << rawValue`) that have messages queued but too little credit to send
    /// the next fragment: only a credit grant moves them.
    public var creditBlockedClasses: UInt8 {
        var mask: UInt8 = 0
        for c in 1..<queues.count where queues[c].count > 0 {
            if let band = headBand(c) {
                let need = bands[band].withFirst { Self.nextUnit($0, fragmentSize: configuration.fragmentSize) }
                if queues[c].credit < need { mask |= 1 << UInt8(c) }
            }
        }
        return mask
    }

    /// The peer granted `bytes` more credit for `qos`.
    public mutating func creditGranted(_ qos: QoSClass, bytes: Int) {
        let c = Int(qos.rawValue)
        queues[c].credit = min(queues[c].credit + bytes, Int(Int32.max))
    }

    /// Writes the next frame into `buffer` and returns its header, or nil when nothing can be
    /// sent now (nothing queued, or only classes without credit).
    public mutating func dequeue(into buffer: inout ByteBuffer) -> FrameHeader? {
        guard let c = pickClass() else { return nil }
        return writeFragment(ofClass: c, into: &buffer).header
    }

    /// Like ``dequeue(into:)``, for shells that account queued bytes: returns the class and
    /// the payload bytes written (a run of pre-encoded frames may write several frames).
    public mutating func dequeueCounted(into buffer: inout ByteBuffer) -> (qos: QoSClass, payloadBytes: Int)? {
        guard let c = pickClass() else { return nil }
        let written = writeFragment(ofClass: c, into: &buffer)
        return (written.header.qos, written.payloadBytes)
    }

    private static let weighted: [QoSClass] = [.realtime, .interactive, .bulk, .telemetry]

    private mutating func nextFragmentLength(_ c: Int) -> Int? {
        guard let band = headBand(c) else { return nil }
        return bands[band].withFirst { Self.nextUnit($0, fragmentSize: configuration.fragmentSize) }
    }

    private mutating func pickClass() -> Int? {
        if queues[0].count > 0 { return 0 }
        for _ in 0..<(2 * Self.weighted.count + 1) {
            let c = Int(Self.weighted[turn - 1].rawValue)
            if let need = nextFragmentLength(c) {
                if queues[c].credit >= need || (need == 0) {
                    if queues[c].deficit >= need { return c }
                    if !turnCharged {
                        queues[c].deficit += Self.weighted[turn - 1].weight * configuration.fragmentSize
                        turnCharged = true
                        if queues[c].deficit >= need { return c }
                    }
                }
            } else {
                queues[c].deficit = 0
            }
            turn = turn % Self.weighted.count + 1
            turnCharged = false
        }
        return nil
    }

    /// Payload bytes the next frame of `p` carries: one fragment, or a run's next frame.
    static func nextUnit(_ p: borrowing Pending, fragmentSize: Int) -> Int {
        if case .run(let bytes, _) = p.message.body {
            return Int(bytes.getInteger(at: bytes.readerIndex + p.runOffset + 40, as: UInt32.self)!)
        }
        return min(fragmentSize, p.length - p.offset)
    }

    private mutating func writeFragment(ofClass c: Int, into buffer: inout ByteBuffer) -> (header: FrameHeader, payloadBytes: Int) {
        let band = headBand(c)!
        var p = bands[band].removeFirst()
        var chunk = min(configuration.fragmentSize, p.length - p.offset)
        let type = p.message.type
        var header = FrameHeader(
            // Handshake and close frames are always version 1, so any peer can read them.
            version: type == .hello || type == .welcome || type == .close ? 1 : version, type: type, flags: p.message.flags, hops: 0, qos: p.message.qos, priority: p.message.priority,
            source: p.message.source, destination: p.message.destination, correlation: p.message.correlation,
            sequence: p.sequence, fragmentIndex: p.nextFragment, fragmentCount: p.fragmentCount,
            payloadLength: UInt32(chunk)
        )
        var finished = false
        switch p.message.body {
        case .data(let endpoint, let body):
            FrameEncoder.writeData(header, endpoint: endpoint, body: body, into: &buffer)
        case .message(let message):
            FrameEncoder.write(header, into: &buffer) { message.encodePayload(into: &$0) }
        case .encoded(let bytes):
            let slice = bytes.getSlice(at: bytes.readerIndex + p.offset, length: chunk)!
            FrameEncoder.write(header, into: &buffer) { $0.writeImmutableBuffer(slice) }
        case .forwarded(let frame):
            header = frame.header
            FrameEncoder.write(frame, into: &buffer)
        case .run(let bytes, _):
            // Whole frames, up to one fragment's worth of bytes and within credit and deficit.
            let budget = c == 0 ? Int.max : min(queues[c].credit, queues[c].deficit)
            var payload = 0
            var end = p.runOffset
            let limit = bytes.readableBytes
            repeat {
                let length = Int(bytes.getInteger(at: bytes.readerIndex + end + 40, as: UInt32.self)!)
                if payload > 0 && (payload + length > budget || end - p.runOffset + FrameHeader.size + length > configuration.fragmentSize) { break }
                payload += length
                end += FrameHeader.size + length
            } while end < limit
            var run = bytes.getSlice(at: bytes.readerIndex + p.runOffset, length: end - p.runOffset)!
            header.payloadLength = UInt32(payload)
            buffer.writeBuffer(&run)
            p.runOffset = end
            chunk = payload
            finished = end >= limit
        }
        p.offset += chunk
        queues[c].queuedBytes -= chunk
        if c != 0 {
            queues[c].credit -= chunk
            queues[c].deficit -= chunk
        }
        if case .run = p.message.body {} else {
            p.nextFragment += 1
            finished = p.nextFragment >= p.fragmentCount
        }
        if !finished {
            bands[band].prepend(p)
        } else {
            queues[c].count -= 1
            if queues[c].count == 0 { queues[c].deficit = 0 }
        }
        if !queues[c].writable && queues[c].queuedBytes <= configuration.lowWatermark {
            queues[c].writable = true
        }
        return (header, chunk)
    }
}

extension CircularBuffer {
    /// Reads the first element without copying it out.
    @inlinable
    func withFirst<R>(_ body: (borrowing Element) -> R) -> R {
        body(self[self.startIndex])
    }
}
