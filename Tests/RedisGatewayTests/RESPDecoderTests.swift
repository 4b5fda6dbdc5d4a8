import NIOCore
import Testing
@testable import RedisGateway

/// Decodes everything in `bytes` fed at once; stops at the first error.
private func decodeAll(_ bytes: [UInt8], limits: RESPDecoder.Limits = .init()) -> (commands: [[[UInt8]]], error: RESPError?) {
    var decoder = RESPDecoder(limits: limits)
    var buffer = ByteBuffer(bytes: bytes)
    var commands: [[[UInt8]]] = []
    do {
        while let command = try decoder.next(&buffer) { commands.append(command) }
        return (commands, nil)
    } catch {
        return (commands, error)
    }
}

/// Decodes `bytes` fed in the given chunk sizes (the last chunk takes the rest).
private func decodeChunked(_ bytes: [UInt8], chunks: [Int], limits: RESPDecoder.Limits = .init()) -> (commands: [[[UInt8]]], error: RESPError?) {
    var decoder = RESPDecoder(limits: limits)
    var buffer = ByteBuffer()
    var commands: [[[UInt8]]] = []
    var at = 0
    var sizes = chunks[...]
    while at < bytes.count {
        let size = min(sizes.popFirst() ?? bytes.count, bytes.count - at)
        buffer.writeBytes(bytes[at..<(at + size)])
        at += size
        do {
            while let command = try decoder.next(&buffer) { commands.append(command) }
        } catch {
            return (commands, error)
        }
        // As the handler does: drop consumed bytes now and then.
        if buffer.readerIndex > 16 { buffer.discardReadBytes() }
    }
    return (commands, nil)
}

private let sampleStream: [UInt8] =
    multibulk("SET", "key", "value")
    + b("PING\r\n")
    + multibulk([b("GET"), [0, 13, 10, 255]])
    + b("*0\r\n*-1\r\n")
    + b("\r\n")  // blank inline line
    + b("  SET  \"a b\"   'c d' \"\\x41\\n\\\"\"\n")
    + multibulk([b("MSET"), [], b("x")])
    + b("ECHO hello\r\n")

private let sampleCommands: [[[UInt8]]] = [
    [b("SET"), b("key"), b("value")],
    [b("PING")],
    [b("GET"), [0, 13, 10, 255]],
    [b("SET"), b("a b"), b("c d"), b("A\n\"")],
    [b("MSET"), [], b("x")],
    [b("ECHO"), b("hello")],
]

@Suite("RESP decoder")
struct RESPDecoderTests {
    @Test("a stream fed all at once and one byte at a time gives the same commands")
    func allAtOnceEqualsByteAtATime() {
        let whole = decodeAll(sampleStream)
        let bytewise = decodeChunked(sampleStream, chunks: Array(repeating: 1, count: sampleStream.count))
        #expect(whole.error == nil)
        #expect(whole.commands == sampleCommands)
        #expect(bytewise.error == nil)
        #expect(bytewise.commands == sampleCommands)
    }

    @Test("any random split of a random stream gives the same commands as all at once")
    func randomSplits() {
        for seed: UInt64 in 1...300 {
            var rng = SplitMix64(seed: seed)
            var stream: [UInt8] = []
            var expected: [[[UInt8]]] = []
            for _ in 0..<Int.random(in: 1...12, using: &rng) {
                if Bool.random(using: &rng) {
                    // Multibulk with binary arguments, some empty, some holding CR LF.
                    let args = (0..<Int.random(in: 1...5, using: &rng)).map { _ in
                        (0..<Int.random(in: 0...40, using: &rng)).map { _ in
                            [UInt8(13), 10, 0, 255, 42, 36][Int.random(in: 0...5, using: &rng)] &+ UInt8.random(in: 0...1, using: &rng)
                        }
                    }
                    stream += multibulk(args)
                    expected.append(args)
                } else {
                    // Inline: plain words and quoted ones with escapes.
                    let words = (0..<Int.random(in: 1...4, using: &rng)).map { _ in
                        (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 97...122, using: &rng) }
                    }
                    var line: [UInt8] = []
                    for (i, w) in words.enumerated() {
                        if i > 0 { line += Array(repeating: 32, count: Int.random(in: 1...3, using: &rng)) }
                        line += i % 2 == 1 ? b("\"") + w + b("\\t\"") : w
                    }
                    stream += line + (Bool.random(using: &rng) ? b("\r\n") : b("\n"))
                    expected.append(words.enumerated().map { i, w in i % 2 == 1 ? w + [9] : w })
                }
            }
            let chunks = (0..<stream.count).map { _ in Int.random(in: 1...9, using: &rng) }
            let whole = decodeAll(stream)
            let split = decodeChunked(stream, chunks: chunks)
            #expect(whole.error == nil, "seed \(seed): \(String(describing: whole.error))")
            #expect(whole.commands == expected, "seed \(seed)")
            #expect(split.commands == whole.commands, "seed \(seed): chunks \(chunks.prefix(20))")
            #expect(split.error == nil, "seed \(seed)")
        }
    }

    @Test("hostile input is refused with an error naming the value and the byte", arguments: [
        ("*99999999\r\n", RESPError.Code.invalidMultibulkCount, "multibulk count 99999999 at byte 0 exceeds 1048576"),
        ("*1048577\r\n", .invalidMultibulkCount, "multibulk count 1048577 at byte 0 exceeds 1048576"),
        ("*-5\r\n", .invalidMultibulkCount, "multibulk count -5 at byte 0 is negative"),
        ("*abc\r\n", .invalidMultibulkCount, "multibulk count 'abc' at byte 0 is not a number"),
        ("*\r\n", .invalidMultibulkCount, "multibulk count '' at byte 0 is not a number"),
        ("*+1\r\n", .invalidMultibulkCount, "multibulk count '+1' at byte 0 is not a number"),
        ("*2\r\n$3\r\nGET\r\n$-5\r\n", .invalidBulkLength, "bulk length -5 at byte 13 is negative"),
        ("*1\r\n$-1\r\n", .invalidBulkLength, "bulk length -1 at byte 4 is negative"),
        ("*1\r\n$99999999999\r\n", .invalidBulkLength, "bulk length 99999999999 at byte 4 exceeds 67108864"),
        ("*1\r\n$67108865\r\n", .invalidBulkLength, "bulk length 67108865 at byte 4 exceeds 67108864"),
        ("*1\r\n$99999999999999999999999999999\r\n", .invalidBulkLength, "bulk length 99999999999999999999999999999 at byte 4 exceeds 67108864"),
        ("*1\r\n$-99999999999999999999999999999\r\n", .invalidBulkLength, "bulk length -99999999999999999999999999999 at byte 4 is negative"),
        ("*99999999999999999999999999999\r\n", .invalidMultibulkCount, "multibulk count 99999999999999999999999999999 at byte 0 exceeds 1048576"),
        ("*1\r\n$abc\r\n", .invalidBulkLength, "bulk length 'abc' at byte 4 is not a number"),
        ("*1\r\n$03\r\n", .invalidBulkLength, "bulk length '03' at byte 4 is not a number"),
        ("*1\r\n$3 \r\n", .invalidBulkLength, "bulk length '3 ' at byte 4 is not a number"),
        ("*1\r\n+OK\r\n", .expectedBulkString, "expected '$' at byte 4, got '+'"),
        ("*1\r\n$3\r\nGETXX", .missingCRLF, "bulk string of 3 bytes not followed by CRLF at byte 11, got 'X'"),
        ("*1\r\n$3\r\nGET\rX", .missingCRLF, "bulk string of 3 bytes not followed by CRLF at byte 12, got 'X'"),
        ("*1\rX", .missingCRLF, "multibulk count line at byte 0 has CR without LF, got 'X'"),
        ("SET \"a b\r\n", .unbalancedQuotes, "unbalanced quotes in inline command at byte 0"),
        ("PING\r\nSET \"a\"b c\r\n", .unbalancedQuotes, "unbalanced quotes in inline command at byte 6"),
        ("SET 'a\r\n", .unbalancedQuotes, "unbalanced quotes in inline command at byte 0"),
    ])
    func hostile(input: String, code: RESPError.Code, message: String) {
        for (how, result) in [("all at once", decodeAll(b(input))),
                              ("byte by byte", decodeChunked(b(input), chunks: Array(repeating: 1, count: input.utf8.count)))] {
            #expect(result.error?.code == code, "\(how)")
            #expect(result.error?.message == message, "\(how)")
        }
    }

    @Test("a length line or inline command over 64 KiB is refused before its end arrives")
    func longLines() {
        let digits = b("*") + Array(repeating: UInt8(ascii: "1"), count: 70_000)
        #expect(decodeAll(digits).error?.code == .lineTooLong)
        #expect(decodeAll(digits).error?.message == "multibulk count line at byte 0 is longer than 65536 bytes")
        let bulkLine = b("*1\r\n$") + Array(repeating: UInt8(ascii: "1"), count: 70_000)
        #expect(decodeAll(bulkLine).error?.message == "bulk length line at byte 4 is longer than 65536 bytes")

        let inline = Array(repeating: UInt8(ascii: "a"), count: 70_000)
        #expect(decodeAll(inline).error?.message == "inline command at byte 0 is longer than 65536 bytes")
        // Exactly at the limit is fine; one over is not, even with its newline present.
        let atLimit = Array(repeating: UInt8(ascii: "a"), count: 65_536) + b("\r\n")
        #expect(decodeAll(atLimit).commands.first?.first?.count == 65_536)
        let overLimit = Array(repeating: UInt8(ascii: "a"), count: 65_537) + b("\n")
        #expect(decodeAll(overLimit).error?.code == .lineTooLong)
    }

    @Test("the limits themselves are accepted: the decoder waits for the bytes")
    func atTheLimits() throws {
        var decoder = RESPDecoder()
        var buffer = ByteBuffer(bytes: b("*1048576\r\n$67108864\r\nabc"))
        #expect(try decoder.next(&buffer) == nil)
        // Nothing was sized by the declared lengths: the buffer holds only what was sent.
        #expect(buffer.capacity < 1024)
        #expect(buffer.readableBytes == 3)
        #expect(!decoder.isAtCommandBoundary)
    }

    @Test("a huge declared bulk length is refused at once, before any byte of it arrives")
    func hugeBulkLength() {
        var decoder = RESPDecoder()
        var buffer = ByteBuffer(bytes: b("*1\r\n$99999999999\r\n"))
        #expect(throws: RESPError.self) { try decoder.next(&buffer) }
    }

    @Test("a command whose arguments add up past the command limit is refused")
    func commandTooLarge() {
        let limits = RESPDecoder.Limits(maxCommandBytes: 10)
        let result = decodeAll(multibulk("SET", "key", "value1234"), limits: limits)
        #expect(result.error?.code == .commandTooLarge)
        #expect(result.error?.message == "bulk length 9 at byte 22 takes the command past 10 bytes")
        #expect(decodeAll(multibulk("SET", "key", "val"), limits: limits).error == nil)
    }

    @Test("too many arguments for a lowered limit are refused")
    func argumentLimit() {
        let limits = RESPDecoder.Limits(maxArguments: 2)
        #expect(decodeAll(multibulk("GET", "k"), limits: limits).commands.count == 1)
        #expect(decodeAll(multibulk("SET", "k", "v"), limits: limits).error?.message == "multibulk count 3 at byte 0 exceeds 2")
    }

    @Test("after an error every later call throws the same error")
    func errorIsSticky() {
        var decoder = RESPDecoder()
        var buffer = ByteBuffer(bytes: b("*x\r\n"))
        let first = #expect(throws: RESPError.self) { try decoder.next(&buffer) }
        buffer.writeBytes(b("PING\r\n"))
        let second = #expect(throws: RESPError.self) { try decoder.next(&buffer) }
        #expect(first == second)
    }

    @Test("empty commands are skipped as Redis skips them", arguments: [
        "*0\r\n", "*-1\r\n", "\r\n", "\n", "   \t \r\n",
    ])
    func emptyCommands(prefix: String) {
        let result = decodeAll(b(prefix + "PING\r\n"))
        #expect(result.error == nil)
        #expect(result.commands == [[b("PING")]])
    }

    @Test("inline commands split like Redis's sdssplitargs", arguments: [
        ("PING", ["PING"]),
        ("set  k\tv", ["set", "k", "v"]),
        ("SET \"a b\" 'c d'", ["SET", "a b", "c d"]),
        ("ECHO \"\\x41\\x4a\\n\\r\\t\\\\\"", ["ECHO", "AJ\n\r\t\\"]),
        ("ECHO \"\\xZZ\"", ["ECHO", "xZZ"]),
        ("ECHO 'it\\'s'", ["ECHO", "it's"]),
        ("ECHO ab\"c d\"", ["ECHO", "abc d"]),
        ("ECHO \"\"", ["ECHO", ""]),
    ])
    func inline(line: String, expected: [String]) {
        let result = decodeAll(b(line + "\r\n"))
        #expect(result.error == nil)
        #expect(result.commands == [expected.map(b)])
    }

    @Test("stream offsets count every byte consumed")
    func streamOffset() throws {
        var decoder = RESPDecoder()
        var buffer = ByteBuffer(bytes: b("PING\r\n") + multibulk("GET", "k"))
        _ = try decoder.next(&buffer)
        #expect(decoder.streamOffset == 6)
        _ = try decoder.next(&buffer)
        #expect(decoder.streamOffset == 6 + multibulk("GET", "k").count)
        #expect(decoder.isAtCommandBoundary)
    }
}
