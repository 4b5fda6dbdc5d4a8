import Testing
@testable import RedisGateway

private func parse(_ words: [String]) -> Result<RedisCommand, RedisCommandError> {
    Result { () throws(RedisCommandError) in try RedisCommand.parse(words.map(b)) }
}

@Suite("Command parsing")
struct RedisCommandTests {
    @Test("commands the gateway runs", arguments: [
        (["PING"], RedisCommand.ping(nil)),
        (["ping", "hi"], .ping(b("hi"))),
        (["EcHo", "x"], .echo(b("x"))),
        (["GET", "k"], .get(key: b("k"))),
        (["SET", "k", "v"], .set(key: b("k"), value: b("v"))),
        (["DEL", "a", "b"], .del(keys: [b("a"), b("b")])),
        (["EXISTS", "a", "a"], .exists(keys: [b("a"), b("a")])),
        (["MGET", "a", "b"], .mget(keys: [b("a"), b("b")])),
        (["MSET", "a", "1", "b", "2"], .mset([.init(key: b("a"), value: b("1")), .init(key: b("b"), value: b("2"))])),
        (["INFO"], .info(sections: [])),
        (["INFO", "Server", "STATS"], .info(sections: ["server", "stats"])),
        (["CONFIG", "GET", "save"], .configGet(patterns: [b("save")])),
        (["config", "get", "save", "appendonly"], .configGet(patterns: [b("save"), b("appendonly")])),
        (["COMMAND"], .command(.list)),
        (["COMMAND", "DOCS"], .command(.docs)),
        (["COMMAND", "DOCS", "get"], .command(.docs)),
        (["COMMAND", "COUNT"], .command(.count)),
        (["COMMAND", "INFO", "get"], .command(.info(names: [b("get")]))),
        (["SELECT", "0"], .select),
        (["CLIENT", "SETNAME", "worker-1"], .client(.setName(b("worker-1")))),
        (["CLIENT", "GETNAME"], .client(.getName)),
        (["CLIENT", "SETINFO", "LIB-NAME", "redis-py"], .client(.setInfo)),
        (["CLIENT", "ID"], .client(.id)),
        (["HELLO"], .hello(clientName: nil)),
        (["HELLO", "2", "AUTH", "default", "pw", "SETNAME", "app"], .hello(clientName: b("app"))),
        (["QUIT"], .quit),
    ])
    func accepted(words: [String], command: RedisCommand) {
        #expect(parse(words) == .success(command))
    }

    @Test("commands refused with Redis's wording", arguments: [
        (["GET"], "ERR wrong number of arguments for 'get' command"),
        (["GET", "a", "b"], "ERR wrong number of arguments for 'get' command"),
        (["SET", "k"], "ERR wrong number of arguments for 'set' command"),
        (["PING", "a", "b"], "ERR wrong number of arguments for 'ping' command"),
        (["DEL"], "ERR wrong number of arguments for 'del' command"),
        (["MSET", "a"], "ERR wrong number of arguments for 'mset' command"),
        (["MSET", "a", "1", "b"], "ERR wrong number of arguments for 'mset' command"),
        (["FOO"], "ERR unknown command 'FOO', with args beginning with: "),
        (["FOO", "a", "b c"], "ERR unknown command 'FOO', with args beginning with: 'a' 'b c' "),
        (["foo\r\nbar"], "ERR unknown command 'foo  bar', with args beginning with: "),
        (["SET", "k", "v", "EX", "10"], "ERR SET option EX is not supported by the Backplane gateway"),
        (["SET", "k", "v", "nx"], "ERR SET option NX is not supported by the Backplane gateway"),
        (["SET", "k", "v", "KEEPTTL"], "ERR SET option KEEPTTL is not supported by the Backplane gateway"),
        (["SET", "k", "v", "GET"], "ERR SET option GET is not supported by the Backplane gateway"),
        (["SET", "k", "v", "BOGUS"], "ERR syntax error"),
        (["SELECT", "1"], "ERR DB index is out of range"),
        (["SELECT", "-1"], "ERR DB index is out of range"),
        (["SELECT", "x"], "ERR value is not an integer or out of range"),
        (["CONFIG"], "ERR wrong number of arguments for 'config' command"),
        (["CONFIG", "GET"], "ERR wrong number of arguments for 'config|get' command"),
        (["CONFIG", "SET", "save", ""], "ERR CONFIG SET is not supported by the Backplane gateway"),
        (["CONFIG", "FOO"], "ERR unknown subcommand 'FOO'. Try CONFIG HELP."),
        (["CLIENT", "KILL"], "ERR unknown subcommand 'KILL'. Try CLIENT HELP."),
        (["CLIENT", "SETNAME", "a b"], "ERR Client names cannot contain spaces, newlines or special characters."),
        (["COMMAND", "BOGUS"], "ERR unknown subcommand 'BOGUS'. Try COMMAND HELP."),
        (["HELLO", "3"], "NOPROTO unsupported protocol version"),
        (["HELLO", "x"], "ERR Protocol version is not an integer or out of range"),
        (["DBSIZE"], "ERR DBSIZE is not supported by the Backplane gateway (keys are sharded; there is no whole-keyspace view)"),
        (["keys", "*"], "ERR KEYS is not supported by the Backplane gateway (keys are sharded; there is no whole-keyspace view)"),
        (["AUTH", "pw"], "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"),
    ])
    func refused(words: [String], message: String) {
        guard case .failure(let error) = parse(words) else {
            Issue.record("\(words) parsed")
            return
        }
        #expect(error.message == message)
        #expect(error.reply == .error(message))
    }

    @Test("the unknown-command message quotes at most about 128 bytes of arguments")
    func unknownCommandArgumentsCut() {
        let long = String(repeating: "x", count: 300)
        guard case .failure(let error) = parse(["NOPE", long, "more"]) else { return }
        #expect(error.message.utf8.count < 200)
        #expect(!error.message.contains("more"))
    }

    @Test("keys and writes tell the connection which commands may conflict")
    func keyAccess() throws {
        #expect(try RedisCommand.parse([b("GET"), b("k")]).keys == [b("k")])
        #expect(try !RedisCommand.parse([b("GET"), b("k")]).writes)
        #expect(try RedisCommand.parse([b("MSET"), b("a"), b("1"), b("b"), b("2")]).keys == [b("a"), b("b")])
        #expect(try RedisCommand.parse([b("DEL"), b("a")]).writes)
        #expect(try RedisCommand.parse([b("PING")]).keys == [])
    }
}

@Suite("Session replies")
struct RedisSessionTests {
    private func reply(_ words: String..., session: inout RedisSession) throws -> RESPValue? {
        session.reply(to: try RedisCommand.parse(words.map(b)))
    }

    @Test("answers without the backend")
    func localReplies() throws {
        var s = RedisSession(id: 7)
        #expect(try reply("PING", session: &s) == .simpleString("PONG"))
        #expect(try reply("PING", "hi", session: &s) == .bulk("hi"))
        #expect(try reply("ECHO", "x", session: &s) == .bulk("x"))
        #expect(try reply("SELECT", "0", session: &s) == .ok)
        #expect(try reply("COMMAND", "DOCS", session: &s) == .array([]))
        #expect(try reply("COMMAND", "COUNT", session: &s) == .integer(Int64(RedisCommand.names.count)))
        #expect(try reply("CLIENT", "ID", session: &s) == .integer(7))
        #expect(try reply("CLIENT", "GETNAME", session: &s) == .null)
        #expect(try reply("CLIENT", "SETNAME", "app", session: &s) == .ok)
        #expect(try reply("CLIENT", "GETNAME", session: &s) == .bulk("app"))
        #expect(try reply("GET", "k", session: &s) == nil)
        #expect(try reply("INFO", session: &s) == nil)
        guard case .array(let hello?) = try reply("HELLO", "2", session: &s) else {
            Issue.record("HELLO 2 is not an array")
            return
        }
        #expect(hello.prefix(6) == [.bulk("server"), .bulk("redis"), .bulk("version"), .bulk("7.0.0"), .bulk("proto"), .integer(2)])
    }

    @Test("CONFIG GET answers the pairs redis-benchmark asks for", arguments: [
        (["save"], ["save", ""]),
        (["appendonly"], ["appendonly", "no"]),
        (["save", "appendonly"], ["appendonly", "no", "save", ""]),
        (["SAVE"], ["save", ""]),
        (["*only"], ["appendonly", "no"]),
        (["nothing-like-it"], []),
    ])
    func configGet(patterns: [String], pairs: [String]) throws {
        var s = RedisSession(id: 1)
        let command = try RedisCommand.parse([b("CONFIG"), b("GET")] + patterns.map(b))
        #expect(s.reply(to: command) == .array(pairs.map { .bulk($0) }))
    }

    @Test("glob patterns match as Redis's stringmatch does", arguments: [
        ("*", "save", true), ("s?ve", "save", true), ("s[a-c]ve", "save", true), ("s[^a]ve", "save", false),
        ("s\\*ve", "s*ve", true), ("s\\*ve", "save", false), ("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false),
        ("a*", "", false), ("", "", true), ("**", "x", true), ("[abc]", "b", true), ("SAVE", "save", true),
    ])
    func glob(pattern: String, text: String, matches: Bool) {
        #expect(RedisSession.globMatches(b(pattern), b(text)) == matches)
    }
}
