import NIOCore
import Testing
@testable import RedisGateway

@Suite("RESP values")
struct RESPValueTests {
    @Test("each value encodes as Redis sends it", arguments: [
        (RESPValue.ok, "+OK\r\n"),
        (.simpleString("PONG"), "+PONG\r\n"),
        (.error("ERR bad\r\nthing\n"), "-ERR bad  thing \r\n"),
        (.integer(0), ":0\r\n"),
        (.integer(7), ":7\r\n"),
        (.integer(-42), ":-42\r\n"),
        (.integer(1234567890123), ":1234567890123\r\n"),
        (.integer(.max), ":9223372036854775807\r\n"),
        (.integer(.min), ":-9223372036854775808\r\n"),
        (.bulkString(nil), "$-1\r\n"),
        (.bulkString([]), "$0\r\n\r\n"),
        (.bulk("a\r\nb"), "$4\r\na\r\nb\r\n"),
        (.array(nil), "*-1\r\n"),
        (.array([]), "*0\r\n"),
        (.array([.bulk("x"), .integer(1), .array([.null])]), "*3\r\n$1\r\nx\r\n:1\r\n*1\r\n$-1\r\n"),
    ])
    func encoding(value: RESPValue, wire: String) {
        #expect(Array(value.encoded.readableBytesView) == b(wire))
    }

    @Test("a CR or LF in a simple string cannot break the framing, wherever the buffer's reader index is")
    func simpleStringSanitised() {
        var buffer = ByteBuffer(bytes: b("xxxx"))
        buffer.moveReaderIndex(forwardBy: 3)
        RESPValue.simpleString("a\rb").write(to: &buffer)
        #expect(Array(buffer.readableBytesView) == b("x+a b\r\n"))
    }

    @Test("decode of encode is the identity for random values")
    func roundTrip() {
        for seed: UInt64 in 1...200 {
            var rng = SplitMix64(seed: seed)
            func random(depth: Int) -> RESPValue {
                switch Int.random(in: 0...(depth > 2 ? 4 : 6), using: &rng) {
                case 0: return .simpleString(String((0..<Int.random(in: 0...10, using: &rng)).map { _ in Character(Unicode.Scalar(UInt8.random(in: 97...122, using: &rng))) }))
                case 1: return .error("ERR " + String(Int.random(in: 0...1000, using: &rng)))
                case 2: return .integer(Int64.random(in: .min ... .max, using: &rng))
                case 3: return .bulkString(nil)
                case 4: return .bulkString((0..<Int.random(in: 0...30, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
                case 5: return .array(nil)
                default: return .array((0..<Int.random(in: 0...5, using: &rng)).map { _ in random(depth: depth + 1) })
                }
            }
            let value = random(depth: 0)
            let bytes = Array(value.encoded.readableBytesView)
            let parsed = ReplyParser.parse(bytes)
            #expect(parsed?.value == value, "seed \(seed)")
            #expect(parsed?.end == bytes.count, "seed \(seed)")
        }
    }
}
