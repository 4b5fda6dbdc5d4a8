/// A parsed client command: what the gateway understands of the Redis command set.
///
/// Pure: ``parse(_:)`` turns the decoder's argument array into a command or a
/// ``RedisCommandError`` whose message follows Redis's own wording, so client libraries that
/// match on it behave as with Redis. Names are case-insensitive; keys and values are bytes.
public enum RedisCommand: Hashable, Sendable {
    /// `PING [message]`: `+PONG`, or the message as a bulk string.
    case ping([UInt8]?)
    case echo([UInt8])
    case get(key: [UInt8])
    /// `SET key value` without options.
    case set(key: [UInt8], value: [UInt8])
    /// `DEL key [key ...]`: the number of keys that existed.
    case del(keys: [[UInt8]])
    /// `EXISTS key [key ...]`: how many of the keys exist, a repeated key counted each time.
    case exists(keys: [[UInt8]])
    case mget(keys: [[UInt8]])
    /// `MSET key value [key value ...]`: each pair set, not atomically; a repeated key takes its
    /// last value.
    case mset([KeyValue])
    /// `INFO [section ...]`, sections lowercased; empty means the default sections.
    case info(sections: [String])
    /// `CONFIG GET pattern [pattern ...]`, glob patterns over the few settings the gateway shows.
    case configGet(patterns: [[UInt8]])
    case command(CommandSubcommand)
    /// `SELECT 0`: the only database.
    case select
    case client(ClientSubcommand)
    /// `HELLO` or `HELLO 2 [AUTH user pass] [SETNAME name]`. (`HELLO 3` is refused with `NOPROTO`.)
    case hello(clientName: [UInt8]?)
    /// `QUIT`: `+OK`, then the connection is closed.
    case quit

    public struct KeyValue: Hashable, Sendable {
        public var key: [UInt8]
        public var value: [UInt8]
        public init(key: [UInt8], value: [UInt8]) {
            self.key = key
            self.value = value
        }
    }

    public enum CommandSubcommand: Hashable, Sendable {
        /// `COMMAND`, `COMMAND LIST`
        case list
        case count
        /// `COMMAND DOCS [name ...]`: an empty reply (redis-cli asks at start for its hints).
        case docs
        case info(names: [[UInt8]])
    }

    public enum ClientSubcommand: Hashable, Sendable {
        case setName([UInt8])
        case getName
        /// `CLIENT SETINFO LIB-NAME|LIB-VER value`: accepted and ignored.
        case setInfo
        case id
    }

    /// The keys the command reads or writes; empty when it does not touch the backend.
    public var keys: [[UInt8]] {
        switch self {
        case .get(let key): [key]
        case .set(let key, _): [key]
        case .del(let keys), .exists(let keys), .mget(let keys): keys
        case .mset(let pairs): pairs.map(\.key)
        default: []
        }
    }

    /// True when the command changes a key.
    public var writes: Bool {
        switch self {
        case .set, .del, .mset: true
        default: false
        }
    }

    /// Lowercase names of the commands ``parse(_:)`` accepts (`COMMAND LIST`, `COMMAND COUNT`).
    public static let names = [
        "client", "command", "config", "del", "echo", "exists", "get", "hello", "info", "mget",
        "mset", "ping", "quit", "select", "set",
    ]

    /// Commands over the whole keyspace that a sharded backend cannot answer from one key.
    static let keyspaceCommands: Set<String> = [
        "dbsize", "keys", "scan", "randomkey", "flushdb", "flushall", "swapdb", "move",
    ]

    static let setOptions: Set<String> = ["NX", "XX", "GET", "EX", "PX", "EXAT", "PXAT", "KEEPTTL"]

    /// Parses one command as the decoder produced it (never empty).
    /// - Throws: ``RedisCommandError`` carrying the reply to send instead.
    public static func parse(_ arguments: [[UInt8]]) throws(RedisCommandError) -> RedisCommand {
        guard let first = arguments.first else { throw .syntax }
        let name = lowercased(first)
        let args = arguments.dropFirst()
        func arity(_ n: Int) throws(RedisCommandError) {
            // Redis's convention: n > 0 is exact, n < 0 is a minimum of -n (name included).
            if n > 0 ? arguments.count != n : arguments.count < -n { throw .wrongNumberOfArguments(name) }
        }
        switch name {
        case "ping":
            guard arguments.count <= 2 else { throw .wrongNumberOfArguments(name) }
            return .ping(args.first)
        case "echo":
            try arity(2)
            return .echo(arguments[1])
        case "get":
            try arity(2)
            return .get(key: arguments[1])
        case "set":
            try arity(-3)
            for option in arguments.dropFirst(3) {
                let upper = String(decoding: option.prefix(16), as: UTF8.self).uppercased()
                guard setOptions.contains(upper) else { throw .syntax }
                throw RedisCommandError(.notSupported, "ERR SET option \(upper) is not supported by the Backplane gateway")
            }
            return .set(key: arguments[1], value: arguments[2])
        case "del":
            try arity(-2)
            return .del(keys: Array(args))
        case "exists":
            try arity(-2)
            return .exists(keys: Array(args))
        case "mget":
            try arity(-2)
            return .mget(keys: Array(args))
        case "mset":
            guard arguments.count >= 3, arguments.count % 2 == 1 else { throw .wrongNumberOfArguments(name) }
            return .mset(stride(from: 1, to: arguments.count, by: 2).map {
                KeyValue(key: arguments[$0], value: arguments[$0 + 1])
            })
        case "info":
            return .info(sections: args.map(lowercased))
        case "config":
            return try parseConfig(arguments)
        case "command":
            return try parseCommand(arguments)
        case "select":
            try arity(2)
            guard case .value(let index) = RESPDecoder.parseDecimal(arguments[1]) else {
                if case .negative = RESPDecoder.parseDecimal(arguments[1]) {
                    throw RedisCommandError(.outOfRange, "ERR DB index is out of range")
                }
                throw RedisCommandError(.notAnInteger, "ERR value is not an integer or out of range")
            }
            guard index == 0 else { throw RedisCommandError(.outOfRange, "ERR DB index is out of range") }
            return .select
        case "client":
            return try parseClient(arguments)
        case "hello":
            return try parseHello(arguments)
        case "quit":
            return .quit
        case "auth":
            try arity(-2)
            throw RedisCommandError(.noPassword, "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
        default:
            if keyspaceCommands.contains(name) {
                throw RedisCommandError(.notSupported, "ERR \(name.uppercased()) is not supported by the Backplane gateway (keys are sharded; there is no whole-keyspace view)")
            }
            throw unknownCommand(arguments)
        }
    }

    private static func parseConfig(_ arguments: [[UInt8]]) throws(RedisCommandError) -> RedisCommand {
        guard arguments.count >= 2 else { throw .wrongNumberOfArguments("config") }
        let sub = lowercased(arguments[1])
        switch sub {
        case "get":
            guard arguments.count >= 3 else { throw .wrongNumberOfArguments("config|get") }
            return .configGet(patterns: Array(arguments.dropFirst(2)))
        case "set", "resetstat", "rewrite":
            throw RedisCommandError(.notSupported, "ERR CONFIG \(sub.uppercased()) is not supported by the Backplane gateway")
        default:
            throw unknownSubcommand(arguments)
        }
    }

    private static func parseCommand(_ arguments: [[UInt8]]) throws(RedisCommandError) -> RedisCommand {
        guard arguments.count >= 2 else { return .command(.list) }
        switch lowercased(arguments[1]) {
        case "list": return .command(.list)
        case "count":
            guard arguments.count == 2 else { throw .wrongNumberOfArguments("command|count") }
            return .command(.count)
        case "docs": return .command(.docs)
        case "info": return .command(.info(names: Array(arguments.dropFirst(2))))
        default: throw unknownSubcommand(arguments)
        }
    }

    private static func parseClient(_ arguments: [[UInt8]]) throws(RedisCommandError) -> RedisCommand {
        guard arguments.count >= 2 else { throw .wrongNumberOfArguments("client") }
        let sub = lowercased(arguments[1])
        switch sub {
        case "setname":
            guard arguments.count == 3 else { throw .wrongNumberOfArguments("client|setname") }
            try validateClientName(arguments[2])
            return .client(.setName(arguments[2]))
        case "getname":
            guard arguments.count == 2 else { throw .wrongNumberOfArguments("client|getname") }
            return .client(.getName)
        case "setinfo":
            guard arguments.count == 4 else { throw .wrongNumberOfArguments("client|setinfo") }
            let attribute = lowercased(arguments[2])
            guard attribute == "lib-name" || attribute == "lib-ver" else {
                throw RedisCommandError(.syntaxError, "ERR Unrecognized option '\(printable(arguments[2]))'")
            }
            return .client(.setInfo)
        case "id":
            guard arguments.count == 2 else { throw .wrongNumberOfArguments("client|id") }
            return .client(.id)
        default:
            throw unknownSubcommand(arguments)
        }
    }

    private static func parseHello(_ arguments: [[UInt8]]) throws(RedisCommandError) -> RedisCommand {
        guard arguments.count >= 2 else { return .hello(clientName: nil) }
        guard case .value(let version) = RESPDecoder.parseDecimal(arguments[1]) else {
            throw RedisCommandError(.notAnInteger, "ERR Protocol version is not an integer or out of range")
        }
        // Redis answers an unknown version this way; clients then fall back to RESP2 (HELLO 3 is
        // what RESP3-first clients send).
        guard version == 2 else {
            throw RedisCommandError(.unsupportedProtocol, "NOPROTO unsupported protocol version")
        }
        var name: [UInt8]?
        var i = 2
        while i < arguments.count {
            let option = lowercased(arguments[i])
            if option == "auth" && i + 2 < arguments.count {
                i += 3  // no password is configured: any credentials are the default user's
            } else if option == "setname" && i + 1 < arguments.count {
                try validateClientName(arguments[i + 1])
                name = arguments[i + 1]
                i += 2
            } else {
                throw RedisCommandError(.syntaxError, "ERR Syntax error in HELLO option '\(printable(arguments[i]))'")
            }
        }
        return .hello(clientName: name)
    }

    private static func validateClientName(_ name: [UInt8]) throws(RedisCommandError) {
        guard name.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            throw RedisCommandError(.syntaxError, "ERR Client names cannot contain spaces, newlines or special characters.")
        }
    }

    /// Redis 7's wording: `ERR unknown command 'FOO', with args beginning with: 'a' 'b' `.
    static func unknownCommand(_ arguments: [[UInt8]]) -> RedisCommandError {
        var args = ""
        for argument in arguments.dropFirst() where args.utf8.count < 128 {
            args += "'" + printable(argument, limit: 128 - args.utf8.count) + "' "
        }
        return RedisCommandError(.unknownCommand,
                                 "ERR unknown command '\(printable(arguments[0], limit: 128))', with args beginning with: \(args)")
    }

    /// Redis 7's wording: `ERR unknown subcommand 'foo'. Try CONFIG HELP.`
    static func unknownSubcommand(_ arguments: [[UInt8]]) -> RedisCommandError {
        RedisCommandError(.unknownSubcommand,
                          "ERR unknown subcommand '\(printable(arguments[1], limit: 128))'. Try \(lowercased(arguments[0]).uppercased()) HELP.")
    }

    /// ASCII-lowercased text of a name (at most 64 bytes of it: longer is no command's name).
    static func lowercased(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.prefix(64).map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
    }

    /// Bytes for an error line: cut at `limit`, CR and LF as spaces (as Redis does), other
    /// invalid UTF-8 replaced.
    static func printable(_ bytes: [UInt8], limit: Int = 64) -> String {
        String(decoding: bytes.prefix(max(0, limit)).map { $0 == 13 || $0 == 10 ? 32 : $0 }, as: UTF8.self)
    }
}
