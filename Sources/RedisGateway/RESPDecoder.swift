import NIOCore

/// Turns a client's byte stream into commands, each an array of binary-safe arguments.
///
/// Incremental and pure: feed it the connection's bytes as they arrive (all appended to one
/// buffer) and call ``next(_:)`` until it returns `nil`. It consumes a command's bytes from the
/// buffer as it parses them, keeping its own state between calls, so a command split across
/// reads is parsed once, not re-parsed from its start on every read.
///
/// Accepts both forms Redis accepts:
/// - multibulk, `*2\r\n$3\r\nGET\r\n$1\r\nk\r\n` (what client libraries send), where `*0` and
///   `*-1` are empty commands that are skipped, as Redis skips them;
/// - inline, `GET k\r\n` (what telnet and `redis-benchmark`'s PING_INLINE send), split on spaces
///   with Redis's quoting rules (`"a b"`, `'c'`, `"\x41\n"`); an empty line is skipped.
///
/// Hostile input gives a ``RESPError`` that names the value and the byte offset, never a crash
/// and never an allocation sized by a declared length: a bulk string's bytes are only taken once
/// they have all arrived, and every declared count or length is checked against ``Limits`` first.
/// After an error the stream has no known command boundary: every later call throws it again.
public struct RESPDecoder: Sendable {
    /// Redis's limit on arguments in one command.
    public static let maxArguments = 1_048_576
    /// Longest bulk string argument: 64 MiB.
    public static let maxBulkLength = 64 << 20
    /// Longest inline command or length line (`*N`, `$N`), without its CR LF: 64 KiB.
    public static let maxLineLength = 64 << 10
    /// Most argument bytes in one command: 1 GiB (Redis's `client-query-buffer-limit`).
    public static let maxCommandBytes = 1 << 30

    public struct Limits: Hashable, Sendable {
        public var maxArguments: Int
        public var maxBulkLength: Int
        public var maxLineLength: Int
        public var maxCommandBytes: Int

        public init(
            maxArguments: Int = RESPDecoder.maxArguments,
            maxBulkLength: Int = RESPDecoder.maxBulkLength,
            maxLineLength: Int = RESPDecoder.maxLineLength,
            maxCommandBytes: Int = RESPDecoder.maxCommandBytes
        ) {
            self.maxArguments = maxArguments
            self.maxBulkLength = maxBulkLength
            self.maxLineLength = maxLineLength
            self.maxCommandBytes = maxCommandBytes
        }
    }

    public let limits: Limits
    /// Stream offset of the buffer's reader index: bytes consumed since the first.
    public private(set) var streamOffset = 0
    /// Arguments the multibulk command in progress declares; 0 between commands.
    private var expectedArguments = 0
    private var arguments: [[UInt8]] = []
    /// Declared length of the bulk string in progress, once its `$N` line is consumed.
    private var bulkLength: Int?
    private var commandBytes = 0
    /// Bytes of the line in progress already searched for its end, so a line that arrives a
    /// byte at a time is searched once, not once per byte.
    private var scanned = 0
    private var failure: RESPError?

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// True between commands: no partial command is held.
    public var isAtCommandBoundary: Bool { expectedArguments == 0 && failure == nil }

    /// The next complete command's arguments, consuming its bytes from `buffer`; `nil` when
    /// `buffer` holds no complete command (what it holds of one is consumed and kept).
    ///
    /// `buffer` MUST be the same stream on every call: the bytes after the ones consumed so far.
    /// A command is never empty: `*0`, `*-1` and blank inline lines are skipped.
    /// - Throws: ``RESPError`` on malformed input or a broken limit; then on every later call.
    public mutating func next(_ buffer: inout ByteBuffer) throws(RESPError) -> [[UInt8]]? {
        if let failure { throw failure }
        do {
            return try decode(&buffer)
        } catch {
            failure = error
            throw error
        }
    }

    private mutating func decode(_ buffer: inout ByteBuffer) throws(RESPError) -> [[UInt8]]? {
        while true {
            if expectedArguments == 0 {
                guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
                if first == UInt8(ascii: "*") {
                    guard let count = try lengthLine(&buffer, what: "multibulk count", code: .invalidMultibulkCount,
                                                     limit: limits.maxArguments, allowsMinusOne: true)
                    else { return nil }
                    if count <= 0 { continue }  // *0 and *-1: an empty command, skipped like Redis
                    expectedArguments = count
                    commandBytes = 0
                    // Grows with the arguments that arrive, never sized by the declared count alone.
                    arguments.reserveCapacity(min(count, 1024))
                } else {
                    guard let line = try inlineLine(&buffer) else { return nil }
                    let args = try Self.splitInline(line.bytes, offset: line.offset)
                    if args.isEmpty { continue }
                    return args
                }
            } else {
                if bulkLength == nil {
                    guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
                    guard first == UInt8(ascii: "$") else {
                        throw RESPError(.expectedBulkString,
                                        "expected '$' at byte \(streamOffset), got \(Self.show(byte: first))",
                                        offset: streamOffset)
                    }
                    let lineOffset = streamOffset
                    guard let length = try lengthLine(&buffer, what: "bulk length", code: .invalidBulkLength,
                                                      limit: limits.maxBulkLength, allowsMinusOne: false)
                    else { return nil }
                    if length > limits.maxCommandBytes - commandBytes {
                        throw RESPError(.commandTooLarge,
                                        "bulk length \(length) at byte \(lineOffset) takes the command past \(limits.maxCommandBytes) bytes",
                                        offset: lineOffset)
                    }
                    commandBytes += length
                    bulkLength = length
                }
                let length = bulkLength!
                guard buffer.readableBytes >= length + 2 else { return nil }
                let end = buffer.readerIndex + length
                guard buffer.getInteger(at: end, as: UInt16.self) == 0x0D0A else {
                    let b0 = buffer.getInteger(at: end, as: UInt8.self)!
                    let b1 = buffer.getInteger(at: end + 1, as: UInt8.self)!
                    let (at, got) = b0 == 13 ? (streamOffset + length + 1, b1) : (streamOffset + length, b0)
                    throw RESPError(.missingCRLF,
                                    "bulk string of \(length) bytes not followed by CRLF at byte \(at), got \(Self.show(byte: got))",
                                    offset: at)
                }
                arguments.append(buffer.readBytes(length: length)!)
                buffer.moveReaderIndex(forwardBy: 2)
                streamOffset += length + 2
                bulkLength = nil
                if arguments.count == expectedArguments {
                    expectedArguments = 0
                    var command: [[UInt8]] = []
                    swap(&command, &arguments)
                    return command
                }
            }
        }
    }

    /// Reads `*N\r\n` or `$N\r\n` (the prefix byte is known); `nil` until the CR LF has arrived.
    private mutating func lengthLine(
        _ buffer: inout ByteBuffer, what: String, code: RESPError.Code, limit: Int, allowsMinusOne: Bool
    ) throws(RESPError) -> Int? {
        let offset = streamOffset
        // Prefix, at most maxLineLength bytes, then CR.
        let window = min(buffer.readableBytes, limits.maxLineLength + 2)
        let cr: Int? = buffer.withUnsafeReadableBytes { raw in
            raw[scanned..<window].firstIndex(of: 13)
        }
        guard let cr else {
            if window == limits.maxLineLength + 2 {
                throw RESPError(.lineTooLong, "\(what) line at byte \(offset) is longer than \(limits.maxLineLength) bytes", offset: offset)
            }
            scanned = window
            return nil
        }
        guard let lf = buffer.getInteger(at: buffer.readerIndex + cr + 1, as: UInt8.self) else {
            scanned = cr
            return nil
        }
        guard lf == 10 else {
            throw RESPError(.missingCRLF, "\(what) line at byte \(offset) has CR without LF, got \(Self.show(byte: lf))",
                            offset: offset + cr + 1)
        }
        let text = buffer.getBytes(at: buffer.readerIndex + 1, length: cr - 1)!
        let value: Int
        switch Self.parseDecimal(text) {
        case .notANumber:
            throw RESPError(code, "\(what) \(Self.show(text)) at byte \(offset) is not a number", offset: offset)
        case .negative(let n):
            guard allowsMinusOne && n == -1 else {
                throw RESPError(code, "\(what) \(Self.show(text)) at byte \(offset) is negative", offset: offset)
            }
            value = -1
        case .tooLarge:
            throw RESPError(code, "\(what) \(Self.show(text)) at byte \(offset) exceeds \(limit)", offset: offset)
        case .value(let n):
            guard n <= limit else {
                throw RESPError(code, "\(what) \(n) at byte \(offset) exceeds \(limit)", offset: offset)
            }
            value = n
        }
        buffer.moveReaderIndex(forwardBy: cr + 2)
        streamOffset += cr + 2
        scanned = 0
        return value
    }

    /// Reads an inline command up to LF (a CR before it is dropped); `nil` until the LF arrives.
    private mutating func inlineLine(_ buffer: inout ByteBuffer) throws(RESPError) -> (bytes: [UInt8], offset: Int)? {
        let offset = streamOffset
        let window = min(buffer.readableBytes, limits.maxLineLength + 2)
        let lf: Int? = buffer.withUnsafeReadableBytes { raw in
            raw[scanned..<window].firstIndex(of: 10)
        }
        guard let lf else {
            if window == limits.maxLineLength + 2 {
                throw RESPError(.lineTooLong, "inline command at byte \(offset) is longer than \(limits.maxLineLength) bytes", offset: offset)
            }
            scanned = window
            return nil
        }
        var bytes = buffer.readBytes(length: lf + 1)!
        bytes.removeLast()
        if bytes.last == 13 { bytes.removeLast() }
        streamOffset += lf + 1
        scanned = 0
        guard bytes.count <= limits.maxLineLength else {
            throw RESPError(.lineTooLong, "inline command at byte \(offset) is longer than \(limits.maxLineLength) bytes", offset: offset)
        }
        return (bytes, offset)
    }

    // MARK: Pieces

    enum Decimal: Equatable {
        case value(Int)
        case negative(Int)
        /// Well-formed but more digits than any limit allows (and than Int64 may hold).
        case tooLarge
        case notANumber
    }

    /// Redis's `string2ll` rules: optional `-`, then `0` alone or digits without a leading zero.
    /// Never overflows: more than 18 digits is ``Decimal/tooLarge`` (or a large negative).
    static func parseDecimal(_ text: [UInt8]) -> Decimal {
        var digits = text[...]
        let negative = digits.first == UInt8(ascii: "-")
        if negative { digits = digits.dropFirst() }
        guard let first = digits.first, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return .notANumber }
        if first == 48 && (digits.count > 1 || negative) { return .notANumber }
        if digits.count > 18 { return negative ? .negative(Int.min) : .tooLarge }
        var n = 0
        for d in digits { n = n * 10 + Int(d - 48) }
        return negative ? .negative(-n) : .value(n)
    }

    /// Redis's `sdssplitargs`: whitespace-separated words; `"..."` with `\n \r \t \b \a \\ \" \xHH`
    /// escapes; `'...'` with `\'`; a closing quote must be followed by whitespace or the end.
    static func splitInline(_ line: [UInt8], offset: Int) throws(RESPError) -> [[UInt8]] {
        func isSpace(_ c: UInt8) -> Bool { c == 32 || (c >= 9 && c <= 13) || c == 0 }
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            case 65...70: c - 55
            default: nil
            }
        }
        let unbalanced = RESPError(.unbalancedQuotes, "unbalanced quotes in inline command at byte \(offset)", offset: offset)
        var args: [[UInt8]] = []
        var i = 0
        let n = line.count
        while true {
            while i < n && isSpace(line[i]) { i += 1 }
            if i == n { return args }
            var current: [UInt8] = []
            var inDouble = false, inSingle = false, done = false
            while !done {
                if inDouble {
                    guard i < n else { throw unbalanced }
                    let c = line[i]
                    if c == UInt8(ascii: "\\"), i + 3 < n, line[i + 1] == UInt8(ascii: "x"),
                       let hi = hex(line[i + 2]), let lo = hex(line[i + 3]) {
                        current.append(hi << 4 | lo)
                        i += 3
                    } else if c == UInt8(ascii: "\\"), i + 1 < n {
                        i += 1
                        switch line[i] {
                        case UInt8(ascii: "n"): current.append(10)
                        case UInt8(ascii: "r"): current.append(13)
                        case UInt8(ascii: "t"): current.append(9)
                        case UInt8(ascii: "b"): current.append(8)
                        case UInt8(ascii: "a"): current.append(7)
                        default: current.append(line[i])
                        }
                    } else if c == UInt8(ascii: "\"") {
                        if i + 1 < n && !isSpace(line[i + 1]) { throw unbalanced }
                        done = true
                    } else {
                        current.append(c)
                    }
                } else if inSingle {
                    guard i < n else { throw unbalanced }
                    let c = line[i]
                    if c == UInt8(ascii: "\\"), i + 1 < n, line[i + 1] == UInt8(ascii: "'") {
                        i += 1
                        current.append(UInt8(ascii: "'"))
                    } else if c == UInt8(ascii: "'") {
                        if i + 1 < n && !isSpace(line[i + 1]) { throw unbalanced }
                        done = true
                    } else {
                        current.append(c)
                    }
                } else if i == n {
                    done = true
                } else {
                    let c = line[i]
                    if isSpace(c) {
                        done = true
                    } else if c == UInt8(ascii: "\"") {
                        inDouble = true
                    } else if c == UInt8(ascii: "'") {
                        inSingle = true
                    } else {
                        current.append(c)
                    }
                }
                if i < n { i += 1 }
            }
            args.append(current)
        }
    }

    /// A length's text for an error message: printable ASCII as is, quoted when not a number,
    /// cut at 32 bytes.
    static func show(_ text: [UInt8]) -> String {
        let shown = String(decoding: text.prefix(32).map { $0 >= 32 && $0 < 127 ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
        let suffix = text.count > 32 ? "...(\(text.count) bytes)" : ""
        if case .notANumber = parseDecimal(text) { return "'\(shown)\(suffix)'" }
        return shown + suffix
    }

    static func show(byte: UInt8) -> String {
        byte >= 32 && byte < 127 ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
    }
}
