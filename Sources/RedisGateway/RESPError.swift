/// A byte stream that is not valid RESP2 (or breaks a limit of ``RESPDecoder/Limits``).
///
/// The connection that sent it MUST be closed after replying `-ERR Protocol error: <message>`,
/// as Redis does: the decoder cannot know where the next command starts.
public struct RESPError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        /// `*N` with N not a number, below -1 or above the argument limit.
        case invalidMultibulkCount
        /// `$N` with N not a number, negative or above the bulk limit.
        case invalidBulkLength
        /// Inside a multibulk command, an argument that does not start with `$`.
        case expectedBulkString
        /// A length line or an inline command longer than the line limit.
        case lineTooLong
        /// A line or a bulk string not ended by CR LF.
        case missingCRLF
        /// An inline command with an unclosed quote (or a quote followed by a non-space).
        case unbalancedQuotes
        /// One command whose arguments add up to more than the command limit.
        case commandTooLarge
    }

    public var code: Code
    /// Says what is wrong, with the value seen and the byte offset in the stream (from 0, the
    /// connection's first byte), e.g. "bulk length -5 at byte 12 is negative".
    public var message: String
    /// Offset in the stream, counted from the connection's first byte, of the first byte in error.
    public var offset: Int

    public init(_ code: Code, _ message: String, offset: Int) {
        self.code = code
        self.message = message
        self.offset = offset
    }

    public var description: String { message }
}
