/// One client connection's protocol logic, as a pure state machine: events in, actions out.
///
/// - Replies go out in request order, whatever order the backend finishes in.
/// - Commands run concurrently, except that a command waits for the connection's earlier
///   unfinished commands that share a key with it when either of them writes: a pipelined
///   `SET k v` then `GET k` reads `v`, as with Redis.
/// - At most `maxInFlight` commands, holding at most `maxInFlightBytes` of arguments, are
///   between decoding and their reply being written (one command may take it past the byte
///   bound: it is admitted while the bound is not reached); ``acceptsCommands`` turns false at
///   either bound and the shell stops decoding and reading.
/// - `QUIT` and a protocol error end the connection: nothing after them is read, and once every
///   earlier reply and theirs is written the action is ``Action/close``.
///
/// ```
///  bytes ─▶ RESPDecoder ─▶ commandReceived ─┬─ answered here ────────────────┐
///                                            └─ .execute(seq) ─▶ backend ─┐   │
///                                                replyProduced(seq) ◀─────┘   ▼
///                                                      in-order .write(reply) ─▶ socket
/// ```
struct RedisConnectionStateMachine {
    enum Action: Equatable {
        /// Run `command` (``RedisCommandExecutor``), then report ``replyProduced(sequence:reply:into:)``.
        case execute(sequence: UInt64, command: RedisCommand)
        /// Write this reply; it is the next in request order.
        case write(RESPValue)
        /// Close the connection: everything owed is written.
        case close
    }

    /// One unfinished key command, in the queue of one of its keys.
    private struct KeyUse {
        var sequence: UInt64
        var writes: Bool
        var started: Bool
    }

    let maxInFlight: Int
    let maxInFlightBytes: Int
    /// Argument bytes of the unanswered commands, each argument counted 16 bytes more, so a
    /// million empty arguments weigh something.
    private(set) var inFlightBytes = 0
    /// Cost of each unanswered command, oldest (``nextToWrite``) at `costs[costsHead]`.
    private var costs: [Int] = []
    private var costsHead = 0
    private(set) var session: RedisSession
    /// Sequence number the next decoded command gets.
    private var nextSequence: UInt64 = 0
    /// Sequence number of the next reply to write.
    private var nextToWrite: UInt64 = 0
    /// Replies ready but waiting for an earlier one.
    private var ready: [UInt64: RESPValue] = [:]
    /// Key commands decoded but not finished, by sequence.
    private var keyCommands: [UInt64: RedisCommand] = [:]
    /// Per key, its unfinished commands in request order.
    private var keyQueues: [[UInt8]: [KeyUse]] = [:]
    /// The reply after which the connection closes (QUIT, protocol error).
    private var closeAfter: UInt64?
    private(set) var isClosed = false
    private var isWritable = true

    static let argumentOverhead = 16

    init(session: RedisSession, maxInFlight: Int, maxInFlightBytes: Int = 256 << 20) {
        precondition(maxInFlight > 0 && maxInFlightBytes > 0)
        self.session = session
        self.maxInFlight = maxInFlight
        self.maxInFlightBytes = maxInFlightBytes
    }

    /// Commands decoded whose reply is not written yet.
    var inFlight: Int { Int(nextSequence - nextToWrite) }

    /// True while the shell may decode (and so read) another command.
    var acceptsCommands: Bool {
        !isClosed && closeAfter == nil && inFlight < maxInFlight && inFlightBytes < maxInFlightBytes
    }

    /// True while the shell should read from the socket: it accepts commands and the peer is
    /// reading its replies (a client that never reads cannot make the server buffer without end).
    var wantsRead: Bool { acceptsCommands && isWritable }

    /// A command arrived. MUST be called only while ``acceptsCommands``.
    mutating func commandReceived(_ arguments: [[UInt8]], into actions: inout [Action]) {
        precondition(acceptsCommands, "command received while not accepting commands")
        let sequence = nextSequence
        nextSequence += 1
        var cost = 0
        for argument in arguments { cost += argument.count + Self.argumentOverhead }
        inFlightBytes += cost
        costs.append(cost)
        let command: RedisCommand
        do {
            command = try RedisCommand.parse(arguments)
        } catch {
            replyReady(sequence, error.reply, into: &actions)
            return
        }
        if case .quit = command { closeAfter = sequence }
        if let reply = session.reply(to: command) {
            replyReady(sequence, reply, into: &actions)
            return
        }
        let keys = Self.distinctKeys(command.keys)
        guard !keys.isEmpty else {
            actions.append(.execute(sequence: sequence, command: command))
            return
        }
        keyCommands[sequence] = command
        let writes = command.writes
        for key in keys {
            keyQueues[key, default: []].append(KeyUse(sequence: sequence, writes: writes, started: false))
        }
        if canStart(sequence, keys: keys, writes: writes) {
            start(sequence, keys: keys, into: &actions)
        }
    }

    /// The stream broke the protocol: reply after every earlier reply, then close.
    /// MUST be called only while ``acceptsCommands``.
    mutating func protocolErrorOccurred(_ error: RESPError, into actions: inout [Action]) {
        let sequence = nextSequence
        nextSequence += 1
        costs.append(0)
        closeAfter = sequence
        replyReady(sequence, .err("Protocol error: \(error.message)"), into: &actions)
    }

    /// An ``Action/execute(sequence:command:)`` finished with `reply`.
    mutating func replyProduced(sequence: UInt64, reply: RESPValue, into actions: inout [Action]) {
        guard !isClosed else { return }
        if let command = keyCommands.removeValue(forKey: sequence) {
            var candidates: [UInt64] = []
            for key in Self.distinctKeys(command.keys) {
                guard var queue = keyQueues[key] else { continue }
                queue.removeAll { $0.sequence == sequence }
                if queue.isEmpty {
                    keyQueues[key] = nil
                    continue
                }
                keyQueues[key] = queue
                // Unstarted commands at the head that this key no longer holds back.
                var earlierWrite = false
                for (index, use) in queue.enumerated() {
                    if !use.started {
                        if use.writes ? index > 0 : earlierWrite { break }
                        candidates.append(use.sequence)
                    }
                    earlierWrite = earlierWrite || use.writes
                }
            }
            candidates.sort()
            var previous: UInt64?
            for candidate in candidates where candidate != previous {
                previous = candidate
                guard let waiting = keyCommands[candidate] else { continue }
                let keys = Self.distinctKeys(waiting.keys)
                if !isStarted(candidate, key: keys[0]) && canStart(candidate, keys: keys, writes: waiting.writes) {
                    start(candidate, keys: keys, into: &actions)
                }
            }
        }
        replyReady(sequence, reply, into: &actions)
    }

    /// The socket's writability changed (its outbound buffer crossed a watermark).
    mutating func writabilityChanged(isWritable: Bool) {
        self.isWritable = isWritable
    }

    /// The connection is gone: later replies are dropped, nothing more is started.
    mutating func connectionClosed() {
        isClosed = true
        ready = [:]
        keyCommands = [:]
        keyQueues = [:]
        costs = []
        costsHead = 0
        inFlightBytes = 0
    }

    // MARK: Pieces

    private static func distinctKeys(_ keys: [[UInt8]]) -> [[UInt8]] {
        keys.count <= 1 ? keys : RedisCommandExecutor.distinct(keys)
    }

    private mutating func replyReady(_ sequence: UInt64, _ reply: RESPValue, into actions: inout [Action]) {
        guard sequence == nextToWrite else {
            ready[sequence] = reply
            return
        }
        var next: RESPValue? = reply
        while let reply = next {
            actions.append(.write(reply))
            if closeAfter == nextToWrite {
                actions.append(.close)
                connectionClosed()
                return
            }
            nextToWrite += 1
            inFlightBytes -= costs[costsHead]
            costsHead += 1
            if costsHead >= 1024 && costsHead * 2 >= costs.count {
                costs.removeFirst(costsHead)
                costsHead = 0
            }
            next = ready.isEmpty ? nil : ready.removeValue(forKey: nextToWrite)
        }
    }

    /// True when no earlier unfinished command holds any of `keys` in a way that conflicts.
    private func canStart(_ sequence: UInt64, keys: [[UInt8]], writes: Bool) -> Bool {
        for key in keys {
            for use in keyQueues[key] ?? [] {
                if use.sequence == sequence { break }
                if writes || use.writes { return false }
            }
        }
        return true
    }

    private func isStarted(_ sequence: UInt64, key: [UInt8]) -> Bool {
        keyQueues[key]?.first(where: { $0.sequence == sequence })?.started ?? true
    }

    private mutating func start(_ sequence: UInt64, keys: [[UInt8]], into actions: inout [Action]) {
        for key in keys {
            if let index = keyQueues[key]?.firstIndex(where: { $0.sequence == sequence }) {
                keyQueues[key]![index].started = true
            }
        }
        actions.append(.execute(sequence: sequence, command: keyCommands[sequence]!))
    }
}
