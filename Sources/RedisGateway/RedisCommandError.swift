/// A command the gateway will not run: unknown, wrong arguments or unsupported. An expected
/// outcome, not a failure of the connection: the client gets ``reply`` and may go on.
public struct RedisCommandError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        case unknownCommand
        case unknownSubcommand
        case wrongNumberOfArguments
        case syntaxError
        /// Valid Redis the gateway does not offer (an option, a command over the whole keyspace).
        case notSupported
        case notAnInteger
        case outOfRange
        /// HELLO asked for a protocol version other than 2 (RESP3 is not spoken).
        case unsupportedProtocol
        case noPassword
    }

    public var code: Code
    /// The whole error line the client reads, starting with Redis's error prefix
    /// (`ERR ...`, `NOPROTO ...`), without the leading `-`.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The reply the client gets.
    public var reply: RESPValue { .error(message) }

    public var description: String { message }

    static func wrongNumberOfArguments(_ name: String) -> Self {
        Self(.wrongNumberOfArguments, "ERR wrong number of arguments for '\(name)' command")
    }

    static let syntax = Self(.syntaxError, "ERR syntax error")
}
