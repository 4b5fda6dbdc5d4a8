import BackplaneModel
import DirectCardLink
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// The sending side of one established link, safe to use from any thread.
///
/// Producers append to an inbox under a short lock; the connection's event loop moves the
/// inbox into its ``OutboundScheduler`` and writes many frames per syscall. Per-class byte
/// counts give producers backpressure (``waitUntilWritable(_:)``).
final class DCLConnection: Sendable {
    struct Inbox {
        var messages = CircularBuffer<OutboundMessage>(initialCapacity: 1024)
        var spare = CircularBuffer<OutboundMessage>(initialCapacity: 1024)
        var flushPending = false
        /// Classes waiting for credit: enqueuing to them does not wake the event loop (the
        /// credit grant will).
        var creditBlocked: UInt8 = 0
        var closed = false
        var queuedBytes = Array(repeating: 0, count: QoSClass.allCases.count)
        /// Small one-way data frames encoded by producers, per (class, band) at `class * 4 + band`.
        var runs = Array(repeating: ByteBuffer(), count: QoSClass.allCases.count * 4)
        var runPayload = Array(repeating: 0, count: QoSClass.allCases.count * 4)
        var nextSequence: UInt32 = 1
        var waiters: [(QoSClass, CheckedContinuation<Void, any Error>)] = []
    }

    let peerID: CardID
    let peerRole: PeerRole
    let eventLoop: any EventLoop
    let highWatermark: Int
    let lowWatermark: Int
    private let _version = Atomic<UInt8>(DCLVersion.current)
    /// Payload bytes this link carried since it opened, each way (for the link's current use).
    let bytesReceived = Atomic<Int>(0)
    let bytesSent = Atomic<Int>(0)
    private let inbox = NIOLockedValueBox(Inbox())
    /// Set once the channel handler is attached; only touched on `eventLoop`.
    let handler: NIOLoopBound<DCLChannelHandler>

    init(peerID: CardID, peerRole: PeerRole, handler: DCLChannelHandler, eventLoop: any EventLoop, highWatermark: Int, lowWatermark: Int) {
        self.peerID = peerID
        self.peerRole = peerRole
        self.eventLoop = eventLoop
        self.highWatermark = highWatermark
        self.lowWatermark = lowWatermark
        self.handler = NIOLoopBound(handler, eventLoop: eventLoop)
    }

    /// Queues a message; never blocks. Returns false when the link is closed.
    @discardableResult
    func enqueue(_ message: consuming OutboundMessage) -> Bool {
        let length = message.payloadLength
        let c = Int(message.qos.rawValue)
        var message = Optional(message)
        let schedule: Bool? = inbox.withLockedValue { inbox in
            if inbox.closed { return nil }
            var m = message.take()!
            if m.sequence == nil && !m.isForwarded {  // forwarded frames keep their source's number
                m.sequence = inbox.nextSequence
                inbox.nextSequence &+= 1
            }
            // Keep FIFO order within a class and band: an open run of that band goes first.
            let slot = c * 4 + Int(m.priority.rawValue >> 6)
            if inbox.runs[slot].readableBytes > 0 { Self.closeRun(slot, &inbox) }
            inbox.messages.append(m)
            inbox.queuedBytes[c] += length
            return Self.needsWake(&inbox, c)
        }
        return wake(schedule)
    }

    /// Largest payload a producer encodes itself (bigger messages go through the scheduler whole).
    static let runPayloadLimit = 1024

    /// Queues a small one-way data message by encoding its frame right here, into the run of
    /// its class and band: the event loop then moves whole runs instead of single messages.
    /// Never blocks. Returns false when the link is closed.
    func enqueueData(endpoint: String, body: ByteBuffer, qos: QoS, source: CardID, destination: CardID) -> Bool {
        let c = Int(qos.class.rawValue)
        let length = 2 + endpoint.utf8.count + body.readableBytes
        guard c != 0, length <= Self.runPayloadLimit else {
            return enqueue(OutboundMessage(endpoint: endpoint, body: body, qos: qos.class, priority: qos.priority, flags: .oneWay, source: source, destination: destination))
        }
        let slot = c * 4 + Int(qos.priority.rawValue >> 6)
        let schedule: Bool? = inbox.withLockedValue { inbox in
            if inbox.closed { return nil }
            let header = FrameHeader(
                version: version, type: .data, flags: .oneWay, qos: qos.class, priority: qos.priority,
                source: source, destination: destination, sequence: inbox.nextSequence
            )
            inbox.nextSequence &+= 1
            if inbox.runs[slot].capacity == 0 { inbox.runs[slot].reserveCapacity(16 << 10) }
            FrameEncoder.writeData(header, endpoint: endpoint, body: body, into: &inbox.runs[slot])
            inbox.runPayload[slot] += length
            inbox.queuedBytes[c] += length
            if inbox.runs[slot].readableBytes >= (64 << 10) { Self.closeRun(slot, &inbox) }
            return Self.needsWake(&inbox, c)
        }
        return wake(schedule)
    }

    /// Whether a message of class `c` just queued must wake the event loop: not when a flush
    /// is already pending, nor when the class waits for credit (the grant wakes it).
    private static func needsWake(_ inbox: inout Inbox, _ c: Int) -> Bool {
        if inbox.flushPending || inbox.creditBlocked & (1 << UInt8(c)) != 0 { return false }
        inbox.flushPending = true
        return true
    }

    /// Carries out an enqueue's outcome: nil means the link is closed.
    private func wake(_ schedule: Bool?) -> Bool {
        guard let schedule else { return false }
        if schedule {
            let handler = self.handler
            eventLoop.execute { handler.value.flushOutbound() }
        }
        return true
    }

    /// Moves the open run of `slot` into the message queue.
    private static func closeRun(_ slot: Int, _ inbox: inout Inbox) {
        let run = inbox.runs[slot]
        inbox.runs[slot] = ByteBuffer()
        inbox.messages.append(OutboundMessage(run: run, payloadBytes: inbox.runPayload[slot], qos: QoSClass(rawValue: UInt8(slot / 4))!, priority: FramePriority(UInt8(slot % 4) << 6)))
        inbox.runPayload[slot] = 0
    }

    /// The protocol version frames are stamped with; set once the handshake is done.
    var version: UInt8 { _version.load(ordering: .relaxed) }
    func setVersion(_ v: UInt8) { _version.store(v, ordering: .relaxed) }

    /// Suspends while the class has more than the high watermark queued.
    func waitUntilWritable(_ qos: QoSClass) async throws {
        let c = Int(qos.rawValue)
        if inbox.withLockedValue({ $0.queuedBytes[c] <= highWatermark && !$0.closed }) { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let immediate: Result<Void, any Error>? = inbox.withLockedValue { inbox in
                if inbox.closed { return .failure(DCLError(.shuttingDown, "link to \(peerID) is closed")) }
                if inbox.queuedBytes[c] <= highWatermark { return .success(()) }
                inbox.waiters.append((qos, continuation))
                return nil
            }
            if let immediate { continuation.resume(with: immediate) }
        }
    }

    /// Event loop: takes everything queued since the last call.
    func drainInbox(into scheduler: inout OutboundScheduler) {
        var taken = inbox.withLockedValue { inbox in
            for slot in inbox.runs.indices where inbox.runs[slot].readableBytes > 0 { Self.closeRun(slot, &inbox) }
            swap(&inbox.messages, &inbox.spare)
            return inbox.spare.isEmpty ? nil : Optional(inbox.spare)
        }
        guard var messages = taken.take() else { return }
        inbox.withLockedValue { $0.spare = CircularBuffer() }  // drop the lock's reference: `messages` is now unique
        // popFirst moves each message out: no retain/release pair per message.
        while let m = messages.popFirst() { scheduler.enqueue(m) }
        inbox.withLockedValue { $0.spare = messages }
    }

    /// Event loop: `bytes` of each class were written. Clears `flushPending` when nothing is
    /// left to take, so the next producer schedules a flush. Returns true when the inbox has
    /// more messages.
    func written(_ bytesPerClass: [Int], idle: Bool, creditBlocked: UInt8) -> Bool {
        let (more, ready) = inbox.withLockedValue { inbox -> (Bool, [CheckedContinuation<Void, any Error>]) in
            for c in 0..<bytesPerClass.count { inbox.queuedBytes[c] -= bytesPerClass[c] }
            var ready: [CheckedContinuation<Void, any Error>] = []
            if !inbox.waiters.isEmpty {
                inbox.waiters.removeAll { qos, continuation in
                    if inbox.queuedBytes[Int(qos.rawValue)] <= lowWatermark {
                        ready.append(continuation)
                        return true
                    }
                    return false
                }
            }
            inbox.creditBlocked = creditBlocked
            // Messages of credit-blocked classes wait for the grant, not for another flush.
            var more = false
            for m in inbox.messages.indices where creditBlocked & (1 << inbox.messages[m].qos.rawValue) == 0 {
                more = true
                break
            }
            if !more {
                for slot in inbox.runs.indices where inbox.runs[slot].readableBytes > 0 && creditBlocked & (1 << UInt8(slot / 4)) == 0 {
                    more = true
                    break
                }
            }
            if idle && !more { inbox.flushPending = false }
            return (more, ready)
        }
        for continuation in ready { continuation.resume() }
        return more
    }

    /// The link is gone: later sends fail, waiters are released with an error.
    func markClosed() {
        let waiters = inbox.withLockedValue { inbox in
            inbox.closed = true
            inbox.messages.removeAll()
            inbox.runs = []
            defer { inbox.waiters.removeAll() }
            return inbox.waiters
        }
        for (_, continuation) in waiters {
            continuation.resume(throwing: DCLError(.shuttingDown, "link to \(peerID) closed"))
        }
    }
}
