import Testing
@testable import RedisGateway

private typealias Machine = RedisConnectionStateMachine

extension RedisConnectionStateMachine {
    /// Feeds one command; returns the actions.
    fileprivate mutating func receive(_ words: String...) -> [Action] {
        var actions: [Action] = []
        commandReceived(words.map(b), into: &actions)
        return actions
    }

    fileprivate mutating func finish(_ sequence: UInt64, _ reply: RESPValue) -> [Action] {
        var actions: [Action] = []
        replyProduced(sequence: sequence, reply: reply, into: &actions)
        return actions
    }
}

private func executes(_ actions: [Machine.Action]) -> [UInt64] {
    actions.compactMap { if case .execute(let s, _) = $0 { s } else { nil } }
}

private func writes(_ actions: [Machine.Action]) -> [RESPValue] {
    actions.compactMap { if case .write(let v) = $0 { v } else { nil } }
}

@Suite("Connection state machine")
struct RedisConnectionStateMachineTests {
    @Test("replies are written in request order whatever order the backend finishes in")
    func replyOrder() {
        var m = Machine(session: RedisSession(id: 1), maxInFlight: 16)
        #expect(executes(m.receive("GET", "a")) == [0])
        #expect(executes(m.receive("GET", "b")) == [1])
        #expect(writes(m.receive("PING")) == [], "PING's reply waits for the two GETs before it")
        #expect(executes(m.receive("GET", "c")) == [3])
        #expect(writes(m.finish(1, .bulk("B"))) == [])
        #expect(writes(m.finish(3, .bulk("C"))) == [])
        #expect(writes(m.finish(0, .bulk("A"))) == [.bulk("A"), .bulk("B"), .simpleString("PONG"), .bulk("C")])
        #expect(m.inFlight == 0)
    }

    @Test("a local reply with nothing before it is written at once")
    func immediateReply() {
        var m = Machine(session: RedisSession(id: 1), maxInFlight: 16)
        #expect(m.receive("PING") == [.write(.simpleString("PONG"))])
        #expect(m.receive("NOPE") == [.write(.error("ERR unknown command 'NOPE', with args beginning with: "))])
    }

    @Test("a read waits for an earlier write of the same key; reads of a key run together")
    func keyConflicts() {
        var m = Machine(session: RedisSession(id: 1), maxInFlight: 16)
        #expect(executes(m.receive("GET", "k")) == [0])
        #expect(executes(m.receive("GET", "k")) == [1], "two reads of k run concurrently")
        #expect(executes(m.receive("SET", "k", "v")) == [], "the write waits for both reads")
        #expect(executes(m.receive("GET", "k")) == [], "the read after the write waits for it")
        #expect(executes(m.receive("GET", "other")) == [4], "another key is not held back")
        #expect(executes(m.finish(1, .null)) == [])
        #expect(executes(m.finish(0, .null)) == [2], "the write starts once both reads finished")
        #expect(executes(m.finish(2, .ok)) == [3])
        #expect(executes(m.receive("DEL", "other", "k")) == [], "a multi-key write waits for every key")
        #expect(executes(m.finish(4, .null)) == [])
        #expect(executes(m.finish(3, .bulk("v"))) == [5])
    }

    @Test("two writes of one key run one after the other, in order")
    func writesSerialised() {
        var m = Machine(session: RedisSession(id: 1), maxInFlight: 16)
        #expect(executes(m.receive("SET", "k", "1")) == [0])
        #expect(executes(m.receive("SET", "k", "2")) == [])
        #expect(executes(m.receive("MSET", "k", "3", "j", "3")) == [])
        #expect(executes(m.finish(0, .ok)) == [1])
        #expect(executes(m.finish(1, .ok)) == [2])
    }

    @Test("at maxInFlight unanswered commands the machine stops accepting, and resumes when a reply is written")
    func inFlightBound() {
        var m = Machine(session: RedisSession(id: 1), maxInFlight: 3)
        _ = m.receive("GET", "a")
        _ = m.receive("GET", "b")
        #expect(m.acceptsCommands)
        _ = m.receive("GET", "c")
        #expect(!m.acceptsCommands)
        #expect(!m.wantsRead)
        _ = m.finish(1, .null)
        #expect(!m.acceptsCommands, "a finished reply still waiting for an earlier one counts")
        _ = m.finish(0, .null)
        #expect(m.acceptsCommands)
        #expect(m.inFlight == 1)
    }

    @Test("argument bytes in flight are bounded too: one big command is admitted, the next waits")
    func inFlightBytesBound() {
        var m = Machine(session: RedisSession(id: 1), maxInFlight: 100, maxInFlightBytes: 100)
        _ = m.receive("SET", "a", String(repeating: "x", count: 40))
        #expect(m.inFlightBytes == 3 + 1 + 40 + 3 * Machine.argumentOverhead)
        #expect(m.acceptsCommands, "92 bytes: under the bound")
        _ = m.receive("SET", "b", "y")
        #expect(!m.acceptsCommands)
        _ = m.finish(0, .ok)
        #expect(m.acceptsCommands)
        _ = m.finish(1, .ok)
        #expect(m.inFlightBytes == 0)
        #expect(m.receive("PING") == [.write(.simpleString("PONG"))])
        #expect(m.inFlightBytes == 0, "a command answered at once holds nothing")
    }

    @Test("a peer that does not read its replies stops reading, not decoding")
    func writability() {
        var m = Machine(session: RedisSession(id: 1), maxInFlight: 3)
        m.writabilityChanged(isWritable: false)
        #expect(m.acceptsCommands)
        #expect(!m.wantsRead)
        m.writabilityChanged(isWritable: true)
        #expect(m.wantsRead)
    }

    @Test("QUIT replies +OK after every earlier reply, then closes; nothing more is accepted")
    func quit() {
        var m = Machine(session: RedisSession(id: 1), maxInFlight: 16)
        _ = m.receive("GET", "a")
        #expect(m.receive("QUIT") == [])
        #expect(!m.acceptsCommands)
        #expect(m.finish(0, .bulk("A")) == [.write(.bulk("A")), .write(.ok), .close])
        #expect(m.isClosed)
    }

    @Test("a protocol error is answered after earlier replies, then the connection closes")
    func protocolError() {
        var m = Machine(session: RedisSession(id: 1), maxInFlight: 16)
        _ = m.receive("GET", "a")
        var actions: [Machine.Action] = []
        m.protocolErrorOccurred(RESPError(.invalidBulkLength, "bulk length -5 at byte 12 is negative", offset: 12), into: &actions)
        #expect(actions == [])
        #expect(!m.acceptsCommands)
        #expect(m.finish(0, .null) == [
            .write(.null), .write(.error("ERR Protocol error: bulk length -5 at byte 12 is negative")), .close,
        ])
    }

    @Test("replies after the connection closed are dropped")
    func closedDropsReplies() {
        var m = Machine(session: RedisSession(id: 1), maxInFlight: 16)
        _ = m.receive("GET", "a")
        m.connectionClosed()
        #expect(m.finish(0, .null) == [])
        #expect(!m.acceptsCommands)
    }

    @Test("random completion orders: replies always in order, no write ever runs beside a conflicting command")
    func randomSchedules() {
        for seed: UInt64 in 1...200 {
            var rng = SplitMix64(seed: seed)
            var m = Machine(session: RedisSession(id: 1), maxInFlight: 8)
            var running: [UInt64: RedisCommand] = [:]
            var written: [RESPValue] = []
            var sent: UInt64 = 0
            let total: UInt64 = 60
            func apply(_ actions: [Machine.Action]) {
                for a in actions {
                    switch a {
                    case .execute(let s, let c):
                        for (_, other) in running {
                            let shared = Set(other.keys).intersection(c.keys)
                            #expect(shared.isEmpty || (!other.writes && !c.writes), "seed \(seed): \(c) beside \(other)")
                        }
                        running[s] = c
                    case .write(let v): written.append(v)
                    case .close: Issue.record("seed \(seed): unexpected close")
                    }
                }
            }
            while written.count < Int(total) {
                if sent < total && m.acceptsCommands && (running.isEmpty || Bool.random(using: &rng)) {
                    let key = ["a", "b", "c"][Int.random(in: 0...2, using: &rng)]
                    var actions: [Machine.Action] = []
                    let words = Bool.random(using: &rng) ? ["GET", key] : ["SET", key, "\(sent)"]
                    m.commandReceived(words.map(b), into: &actions)
                    sent += 1
                    apply(actions)
                } else if let s = running.keys.randomElement(using: &rng) {
                    running[s] = nil
                    apply(m.finish(s, .integer(Int64(s))))
                } else {
                    Issue.record("seed \(seed): stuck with nothing running and \(written.count) written")
                    break
                }
            }
            #expect(written == (0..<Int64(total)).map { .integer($0) }, "seed \(seed)")
        }
    }
}
