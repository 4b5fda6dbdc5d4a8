/// One connection's own state (its id and name) and the replies that need nothing else.
///
/// Pure. ``reply(to:)`` answers every command that does not touch the backend or the server's
/// statistics; the rest (key commands, INFO) return nil and go to ``RedisCommandExecutor``.
public struct RedisSession: Hashable, Sendable {
    /// `CLIENT ID`: unique per server, from 1.
    public let id: Int64
    /// `CLIENT SETNAME`, `HELLO ... SETNAME`.
    public private(set) var name: [UInt8]?

    public init(id: Int64) {
        self.id = id
    }

    /// Settings `CONFIG GET` shows: enough for redis-benchmark (`save`, `appendonly`) and tools
    /// that read the bulk limit.
    public static let settings: [(name: String, value: String)] = [
        ("appendonly", "no"),
        ("databases", "1"),
        ("proto-max-bulk-len", String(RESPDecoder.maxBulkLength)),
        ("save", ""),
    ]

    /// The reply to a command answered here, or nil when the command needs the backend or INFO.
    public mutating func reply(to command: RedisCommand) -> RESPValue? {
        switch command {
        case .ping(nil): return .simpleString("PONG")
        case .ping(let message?): return .bulkString(message)
        case .echo(let message): return .bulkString(message)
        case .select: return .ok
        case .quit: return .ok
        case .configGet(let patterns):
            var reply: [RESPValue] = []
            for setting in Self.settings where patterns.contains(where: { Self.globMatches($0, Array(setting.name.utf8)) }) {
                reply.append(.bulk(setting.name))
                reply.append(.bulk(setting.value))
            }
            return .array(reply)
        case .command(.list): return .array(RedisCommand.names.map { .bulk($0) })
        case .command(.count): return .integer(Int64(RedisCommand.names.count))
        case .command(.docs): return .array([])
        case .command(.info(let names)):
            return .array(names.map { _ in .array(nil) })
        case .client(.setName(let name)):
            self.name = name.isEmpty ? nil : name
            return .ok
        case .client(.getName): return .bulkString(name)
        case .client(.setInfo): return .ok
        case .client(.id): return .integer(id)
        case .hello(let clientName):
            if let clientName { name = clientName.isEmpty ? nil : clientName }
            return .array([
                .bulk("server"), .bulk("redis"),
                .bulk("version"), .bulk(RedisGatewayStats.redisVersion),
                .bulk("proto"), .integer(2),
                .bulk("id"), .integer(id),
                .bulk("mode"), .bulk("standalone"),
                .bulk("role"), .bulk("master"),
                .bulk("modules"), .array([]),
            ])
        case .get, .set, .del, .exists, .mget, .mset, .info:
            return nil
        }
    }

    /// Redis's glob match (`*`, `?`, `[abc]`, `[a-z]`, `[^a]`, `\x`), case-insensitive as CONFIG
    /// GET is. Linear backtracking to the last `*` only, so no pattern costs more than
    /// pattern length × text length steps.
    static func globMatches(_ pattern: [UInt8], _ text: [UInt8]) -> Bool {
        func lower(_ c: UInt8) -> UInt8 { c >= 65 && c <= 90 ? c + 32 : c }
        /// Where the pattern goes on after the one-character element at `p`, when it matches `c`.
        func matchOne(_ p: Int, _ c: UInt8) -> Int? {
            var p = p
            switch pattern[p] {
            case UInt8(ascii: "?"):
                return p + 1
            case UInt8(ascii: "["):
                p += 1
                let negate = p < pattern.count && pattern[p] == UInt8(ascii: "^")
                if negate { p += 1 }
                var matched = false
                while p < pattern.count && pattern[p] != UInt8(ascii: "]") {
                    if pattern[p] == UInt8(ascii: "\\") && p + 1 < pattern.count {
                        p += 1
                        if lower(pattern[p]) == lower(c) { matched = true }
                    } else if p + 2 < pattern.count && pattern[p + 1] == UInt8(ascii: "-") && pattern[p + 2] != UInt8(ascii: "]") {
                        let (a, b) = (lower(pattern[p]), lower(pattern[p + 2]))
                        if min(a, b)...max(a, b) ~= lower(c) { matched = true }
                        p += 2
                    } else if lower(pattern[p]) == lower(c) {
                        matched = true
                    }
                    p += 1
                }
                return matched != negate ? min(p + 1, pattern.count) : nil
            case UInt8(ascii: "\\") where p + 1 < pattern.count:
                return lower(pattern[p + 1]) == lower(c) ? p + 2 : nil
            default:
                return lower(pattern[p]) == lower(c) ? p + 1 : nil
            }
        }
        var p = 0, t = 0
        var star: (p: Int, t: Int)?
        while t < text.count {
            if p < pattern.count && pattern[p] == UInt8(ascii: "*") {
                star = (p, t)
                p += 1
            } else if p < pattern.count, let next = matchOne(p, text[t]) {
                p = next
                t += 1
            } else if let s = star {
                star = (s.p, s.t + 1)
                p = s.p + 1
                t = s.t + 1
            } else {
                return false
            }
        }
        while p < pattern.count && pattern[p] == UInt8(ascii: "*") { p += 1 }
        return p == pattern.count
    }
}
