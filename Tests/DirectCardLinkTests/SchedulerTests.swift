import BackplaneModel
import NIOCore
import Testing
@testable import DirectCardLink

@Suite("DCL QoS scheduler, fragmentation and flow control")
struct SchedulerTests {
    static let a = CardID(0x1_000001)
    static let b = CardID(0x1_000002)

    func data(_ qos: QoSClass, bytes: Int, tag: UInt8, priority: UInt8 = 128) -> OutboundMessage {
        OutboundMessage(.data(DataMessage(endpoint: "e", body: ByteBuffer(repeating: tag, count: bytes))), qos: qos, priority: FramePriority(priority), source: Self.a, destination: Self.b)
    }

    /// Drains the scheduler frame by frame, returning the headers in send order and the bytes.
    func drain(_ s: inout OutboundScheduler, limit: Int = .max) -> ([FrameHeader], ByteBuffer) {
        var buffer = ByteBuffer()
        var headers: [FrameHeader] = []
        while headers.count < limit, let h = s.dequeue(into: &buffer) { headers.append(h) }
        return (headers, buffer)
    }

    @Test("a control frame queued behind megabytes of bulk goes out within one fragment")
    func controlPreemptsBulk() {
        var s = OutboundScheduler(initialCredit: 64 << 20)
        for i in 0..<4 { s.enqueue(data(.bulk, bytes: 1 << 20, tag: UInt8(i))) }  // 4 MiB of bulk
        var buffer = ByteBuffer()
        let first = s.dequeue(into: &buffer)!
        #expect(first.qos == .bulk && first.fragmentCount == 17)
        s.enqueue(OutboundMessage(.heartbeat(Heartbeat(nonce: 1)), qos: .control, source: Self.a, destination: Self.b))
        let next = s.dequeue(into: &buffer)!
        #expect(next.type == .heartbeat, "control waits behind at most the fragment already written")
        #expect(buffer.readableBytes <= 2 * FrameHeader.size + 64 * 1024 + 64)
    }

    @Test("weighted classes share the link by their weights")
    func weightedShare() {
        var s = OutboundScheduler(initialCredit: 1 << 30)
        for _ in 0..<400 {
            s.enqueue(data(.realtime, bytes: 16_000, tag: 1))
            s.enqueue(data(.bulk, bytes: 16_000, tag: 3))
            s.enqueue(data(.telemetry, bytes: 16_000, tag: 4))
        }
        let (headers, _) = drain(&s, limit: 330)
        let counts = Dictionary(grouping: headers, by: \.qos).mapValues(\.count)
        let rt = Double(counts[.realtime] ?? 0), bulk = Double(counts[.bulk] ?? 0), tel = Double(counts[.telemetry] ?? 0)
        #expect(abs(rt / bulk - 4) < 0.6, "realtime:bulk is 8:2, got \(counts)")
        #expect(abs(bulk / tel - 2) < 0.4, "bulk:telemetry is 2:1, got \(counts)")
    }

    @Test("higher priority bands go first within a class, FIFO within a band")
    func priorityBands() {
        var s = OutboundScheduler(initialCredit: 1 << 20)
        s.enqueue(data(.interactive, bytes: 10, tag: 1, priority: 10))
        s.enqueue(data(.interactive, bytes: 10, tag: 2, priority: 250))
        s.enqueue(data(.interactive, bytes: 10, tag: 3, priority: 20))
        s.enqueue(data(.interactive, bytes: 10, tag: 4, priority: 200))
        let (headers, _) = drain(&s)
        #expect(headers.map(\.priority.rawValue) == [250, 200, 10, 20])
    }

    @Test("fragments of interleaved classes reassemble into the original messages")
    func fragmentationAndReassembly() throws {
        var s = OutboundScheduler(configuration: .init(fragmentSize: 1024), initialCredit: 1 << 30)
        var rng = SplitMix64(seed: 99)
        var sent: [UInt32: Message] = [:]
        var seq: UInt32 = 1
        for i in 0..<60 {
            let qos = [QoSClass.realtime, .interactive, .bulk, .telemetry, .control][i % 5]
            let message = Message.data(DataMessage(endpoint: "e\(i)", body: Samples.bytes(Int.random(in: 0...10_000, using: &rng), using: &rng)))
            s.enqueue(OutboundMessage(message, qos: qos, source: Self.a, destination: Self.b))
            sent[seq] = message
            seq += 1
        }
        let (headers, buffer) = drain(&s)
        #expect(headers.contains { $0.isFragment })
        // Classes interleave: the fragment stream switches class while a message is unfinished.
        #expect(zip(headers, headers.dropFirst()).contains { $0.qos != $1.qos && $0.fragmentIndex + 1 < $0.fragmentCount })
        var decoder = FrameDecoder()
        decoder.append(buffer)
        var reassembler = Reassembler()
        var received: [UInt32: Message] = [:]
        while let frame = try decoder.nextFrame() {
            if let whole = try reassembler.frameReceived(frame) {
                received[whole.header.sequence] = try Message.decode(type: whole.header.type, payload: whole.payload)
            }
        }
        #expect(received == sent)
        #expect(reassembler.partialCount == 0)
    }

    @Test("reassembly rejects out-of-order fragments and too many partial messages")
    func reassemblyLimits() throws {
        func fragment(_ seq: UInt32, _ index: UInt16, of count: UInt16) -> Frame {
            Frame(header: FrameHeader(type: .data, qos: .bulk, source: Self.a, destination: Self.b, sequence: seq, fragmentIndex: index, fragmentCount: count), payload: ByteBuffer(repeating: 1, count: 8))
        }
        var r = Reassembler(maxMessageBytes: 20, maxPartialMessages: 2)
        #expect(try r.frameReceived(fragment(1, 0, of: 3)) == nil)
        #expect(throws: FrameDecodingError.self) { try r.frameReceived(fragment(1, 2, of: 3)) }
        r = Reassembler(maxMessageBytes: 20, maxPartialMessages: 2)
        _ = try r.frameReceived(fragment(1, 0, of: 3))
        _ = try r.frameReceived(fragment(2, 0, of: 3))
        #expect(throws: FrameDecodingError.self) { try r.frameReceived(fragment(3, 0, of: 3)) }
        r = Reassembler(maxMessageBytes: 20, maxPartialMessages: 2)
        _ = try r.frameReceived(fragment(1, 0, of: 3))
        _ = try r.frameReceived(fragment(1, 1, of: 3))
        #expect(throws: FrameDecodingError.self) { try r.frameReceived(fragment(1, 2, of: 3)) }  // 24 > 20 bytes
    }

    @Test("without credit a class stops; a grant resumes it; the queue signals backpressure")
    func flowControl() {
        let config = OutboundScheduler.Configuration(fragmentSize: 1024, highWatermark: 8 * 1024, lowWatermark: 2 * 1024)
        var s = OutboundScheduler(configuration: config, initialCredit: 4096)
        var becameUnwritable = false
        for _ in 0..<10 {
            if !s.enqueue(data(.bulk, bytes: 1000, tag: 1)) { becameUnwritable = true }
        }
        #expect(becameUnwritable && !s.isWritable(.bulk), "10 kB queued is above the 8 kB high watermark")
        let (first, _) = drain(&s)
        #expect(first.reduce(0) { $0 + Int($1.payloadLength) } <= 4096, "never beyond the credit")
        #expect(s.credit(.bulk) >= 0)
        s.enqueue(OutboundMessage(.heartbeat(Heartbeat(nonce: 1)), qos: .control, source: Self.a, destination: Self.b))
        #expect(drain(&s).0.map(\.type) == [.heartbeat], "control is not flow-controlled")
        s.creditGranted(.bulk, bytes: 1 << 20)
        let (rest, _) = drain(&s)
        #expect(first.count + rest.count == 10)
        #expect(s.isWritable(.bulk))
    }

    @Test("the receive window grants credit after a quarter window and flags senders that overrun it")
    func receiveWindow() {
        var w = ReceiveWindow(windows: .uniform(2400))
        let firstArrival = w.received(.bulk, bytes: 600)
        let early = w.consumed(.bulk, bytes: 400)
        let grant = w.consumed(.bulk, bytes: 200)
        let fullWindow = w.received(.bulk, bytes: 2400)
        let overrun = w.received(.bulk, bytes: 1)
        let control = w.received(.control, bytes: 1 << 30)
        #expect(firstArrival)
        #expect(early == nil)
        #expect(grant == Credit(qos: .bulk, bytes: 600))
        #expect(fullWindow)
        #expect(!overrun, "1 byte beyond the window")
        #expect(control, "control is never counted")
    }
}

@Suite("DCL runs of pre-encoded frames")
struct RunTests {
    static let a = CardID(0x1_000001)
    static let b = CardID(0x1_000002)

    /// `count` encoded one-way data frames carrying their index, as a producer builds a run.
    func run(_ range: Range<Int>, qos: QoSClass) -> (ByteBuffer, Int) {
        var buffer = ByteBuffer()
        var payload = 0
        for i in range {
            let body = ByteBuffer(integer: UInt32(i))
            FrameEncoder.writeData(FrameHeader(type: .data, flags: .oneWay, qos: qos, source: Self.a, destination: Self.b, sequence: UInt32(i)), endpoint: "s", body: body, into: &buffer)
            payload += 2 + 1 + 4
        }
        return (buffer, payload)
    }

    func indices(_ buffer: ByteBuffer) throws -> [Int] {
        var decoder = FrameDecoder()
        decoder.append(buffer)
        var out: [Int] = []
        while let frame = try decoder.nextFrame() {
            let m = try DataMessage(decoding: frame.payload)
            out.append(Int(m.body.getInteger(at: m.body.readerIndex, as: UInt32.self)!))
        }
        return out
    }

    @Test("runs are cut on frame boundaries within credit, in order, and control still goes first")
    func runsRespectCreditAndOrder() throws {
        var s = OutboundScheduler(configuration: .init(fragmentSize: 1024), initialCredit: 70)  // 10 frames' payload
        let (first, firstPayload) = run(0..<100, qos: .bulk)
        s.enqueue(OutboundMessage(run: first, payloadBytes: firstPayload, qos: .bulk, priority: .normal))
        s.enqueue(OutboundMessage(endpoint: "s", body: ByteBuffer(integer: UInt32(100)), qos: .bulk, flags: .oneWay, source: Self.a, destination: Self.b))
        var out = ByteBuffer()
        var sent = 0
        while let (qos, bytes) = s.dequeueCounted(into: &out) {
            #expect(qos == .bulk)
            sent += bytes
        }
        #expect(sent == 70, "exactly the credit, in whole frames")
        #expect(try indices(out) == Array(0..<10))
        s.enqueue(OutboundMessage(.heartbeat(Heartbeat(nonce: 1)), qos: .control, source: Self.a, destination: Self.b))
        s.creditGranted(.bulk, bytes: 1 << 20)
        var next = ByteBuffer()
        let firstAfterGrant = s.dequeue(into: &next)
        #expect(firstAfterGrant?.type == .heartbeat, "control before the rest of the run")
        var rest = ByteBuffer()
        var chunkSizes: [Int] = []
        while true {
            let before = rest.readableBytes
            guard s.dequeueCounted(into: &rest) != nil else { break }
            chunkSizes.append(rest.readableBytes - before)
        }
        #expect(chunkSizes.allSatisfy { $0 <= 1024 }, "a run goes out at most one fragment's worth at a time")
        #expect(try indices(rest) == Array(10...100), "the run, then the message queued after it")
        #expect(s.isEmpty)
    }
}
