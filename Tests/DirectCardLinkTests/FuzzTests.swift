import BackplaneModel
import NIOCore
import Testing
@testable import DirectCardLink

@Suite("DCL decoder under hostile input")
struct FuzzTests {
    static let seed: UInt64 = 0x5EED_DC1C

    @Test("100,000 random and mutated frames: no crash, typed errors, bounded buffering")
    func fuzz() throws {
        var rng = SplitMix64(seed: Self.seed)
        let maxPayload = 4096
        var accepted = 0
        var rejected: [FrameDecodingError.Code: Int] = [:]
        var payloadErrors = 0
        for i in 0..<100_000 {
            var bytes: [UInt8]
            if i % 4 == 0 {
                // Pure noise, sometimes with a valid magic so the header checks are reached.
                bytes = (0..<Int.random(in: 0...200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if bytes.count >= 2 && rng.next() % 2 == 0 { bytes[0] = 0xDC; bytes[1] = 0x1C; if bytes.count > 2 { bytes[2] = 1 } }
            } else {
                let m = Samples.message(kind: Int.random(in: 0..<Samples.kinds, using: &rng), using: &rng)
                bytes = Array(Samples.frame(m, header: Samples.header(for: m, using: &rng)).readableBytesView)
                switch i % 4 {
                case 1:  // flip random bits
                    for _ in 0..<Int.random(in: 1...4, using: &rng) {
                        let at = Int.random(in: 0..<bytes.count, using: &rng)
                        bytes[at] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
                    }
                case 2:  // truncate or extend
                    if rng.next() % 2 == 0 { bytes.removeLast(Int.random(in: 0...bytes.count, using: &rng)) }
                    else { bytes += (0..<Int.random(in: 1...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) } }
                default:  // intact
                    break
                }
            }
            var decoder = FrameDecoder(maxPayloadLength: maxPayload)
            var input = ByteBuffer(bytes: bytes)
            do {
                while input.readableBytes > 0 {
                    decoder.append(input.readSlice(length: min(input.readableBytes, Int.random(in: 1...64, using: &rng)))!)
                    #expect(decoder.bufferedBytes <= FrameHeader.size + maxPayload + 64, "seed \(Self.seed), case \(i)")
                    while let frame = try decoder.nextFrame() {
                        accepted += 1
                        do { _ = try Message.decode(type: frame.header.type, payload: frame.payload) } catch { payloadErrors += 1 }
                    }
                }
                try decoder.finish()
            } catch {
                rejected[error.code, default: 0] += 1
            }
        }
        // Intact frames must decode; mutated ones must be caught (CRC catches flips).
        #expect(accepted >= 25_000, "seed \(Self.seed)")
        #expect(rejected[.checksumMismatch, default: 0] > 10_000, "seed \(Self.seed)")
        #expect(rejected[.badMagic, default: 0] > 0 && rejected[.truncated, default: 0] > 0, "seed \(Self.seed)")
        print("fuzz seed \(Self.seed): accepted \(accepted), payload errors \(payloadErrors), rejected \(rejected)")
    }
}
