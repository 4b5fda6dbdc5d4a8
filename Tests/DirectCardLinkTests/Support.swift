import BackplaneModel
import NIOCore
@testable import DirectCardLink

enum Samples {
    static func bytes(_ count: Int, using rng: inout some RandomNumberGenerator) -> ByteBuffer {
        var b = ByteBuffer()
        for _ in 0..<count { b.writeInteger(UInt8.random(in: 0...255, using: &rng)) }
        return b
    }

    static func string(using rng: inout some RandomNumberGenerator) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789-_./é✓")
        return String((0..<Int.random(in: 0...24, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
    }

    static let kinds = 16

    /// A random message of kind `kind` (0..<16, one per message type).
    static func message(kind: Int, using rng: inout some RandomNumberGenerator) -> Message {
        let body = bytes(Int.random(in: 0...300, using: &rng), using: &rng)
        switch kind {
        case 0:
            var meta: [String: String] = [:]
            for _ in 0..<Int.random(in: 0...3, using: &rng) { meta[string(using: &rng)] = string(using: &rng) }
            let low = UInt8.random(in: 1...5, using: &rng)
            return .hello(Hello(versions: low...(low + UInt8.random(in: 0...3, using: &rng)), role: [.card, .controller, .client].randomElement(using: &rng)!, cardID: CardID(rng.next()), token: string(using: &rng), metadata: meta))
        case 1:
            return .welcome(Welcome(version: 1, acceptorRole: .controller, assignedID: CardID(rng.next()), acceptorID: CardID(rng.next()), heartbeatIntervalMilliseconds: UInt32.random(in: 0...UInt32.max, using: &rng), deadAfterMilliseconds: UInt32.random(in: 0...UInt32.max, using: &rng), windows: ClassWindows(realtime: Int.random(in: 0...Int(UInt32.max), using: &rng), interactive: Int.random(in: 0...Int(UInt32.max), using: &rng), bulk: Int.random(in: 0...Int(UInt32.max), using: &rng), telemetry: Int.random(in: 0...Int(UInt32.max), using: &rng))))
        case 2: return .heartbeat(Heartbeat(nonce: rng.next()))
        case 3: return .command(Command(name: string(using: &rng), body: body))
        case 4: return .event(Event(name: string(using: &rng), body: body))
        case 5: return .close(Close(status: DCLStatus(rawValue: UInt16.random(in: 0...30, using: &rng)), reason: string(using: &rng)))
        case 6: return .credit(Credit(qos: [.realtime, .interactive, .bulk, .telemetry].randomElement(using: &rng)!, bytes: UInt32.random(in: 0...UInt32.max, using: &rng)))
        case 7: return .data(DataMessage(endpoint: string(using: &rng), body: body))
        case 8: return .reply(Reply(body: body))
        case 9: return .errorReply(ErrorReply(status: DCLStatus(rawValue: UInt16.random(in: 0...30, using: &rng)), message: string(using: &rng)))
        case 10: return .regionRegister(RegionRegister(region: UInt32.random(in: 0...UInt32.max, using: &rng), length: rng.next(), key: rng.next(), access: RegionAccess(rawValue: UInt8.random(in: 0...3, using: &rng))))
        case 11: return .regionWrite(RegionWrite(region: UInt32.random(in: 0...UInt32.max, using: &rng), key: rng.next(), offset: rng.next(), data: body))
        case 12: return .regionRead(RegionRead(region: UInt32.random(in: 0...UInt32.max, using: &rng), key: rng.next(), offset: rng.next(), length: UInt32.random(in: 0...UInt32.max, using: &rng)))
        case 13: return .regionReadResponse(RegionReadResponse(data: body))
        case 14: return .regionCompletion(RegionCompletion(status: DCLStatus(rawValue: UInt16.random(in: 0...30, using: &rng)), message: string(using: &rng)))
        default: return .routedRequest(RoutedRequest(workload: string(using: &rng), epoch: rng.next(), shardKey: bytes(Int.random(in: 0...40, using: &rng), using: &rng), endpoint: string(using: &rng), body: body))
        }
    }

    static func header(for message: Message, using rng: inout some RandomNumberGenerator) -> FrameHeader {
        FrameHeader(
            type: message.type,
            flags: FrameFlags(rawValue: UInt8.random(in: 0...3, using: &rng)),
            hops: UInt8.random(in: 0...15, using: &rng),
            qos: QoSClass.allCases.randomElement(using: &rng)!,
            priority: FramePriority(UInt8.random(in: 0...255, using: &rng)),
            source: CardID(rng.next()),
            destination: CardID(rng.next()),
            correlation: rng.next(),
            sequence: UInt32.random(in: 0...UInt32.max, using: &rng)
        )
    }

    /// An encoded frame carrying `message`.
    static func frame(_ message: Message, header: FrameHeader) -> ByteBuffer {
        var buffer = ByteBuffer()
        FrameEncoder.write(header, into: &buffer) { message.encodePayload(into: &$0) }
        return buffer
    }
}

extension ByteBuffer {
    /// Splits into chunks of the given sizes (the last chunk takes the rest).
    func chunked(_ sizes: [Int]) -> [ByteBuffer] {
        var copy = self
        var out: [ByteBuffer] = []
        for size in sizes where copy.readableBytes > 0 {
            out.append(copy.readSlice(length: min(size, copy.readableBytes))!)
        }
        if copy.readableBytes > 0 { out.append(copy) }
        return out
    }
}
