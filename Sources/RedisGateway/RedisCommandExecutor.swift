/// Runs the commands ``RedisSession`` does not answer: key commands on the backend, and INFO.
///
/// A multi-key command (`MGET`, `DEL`, `EXISTS`, `MSET`) calls the backend for its distinct
/// keys concurrently (at most ``maxConcurrentKeys`` at a time), so keys on different shards
/// cost about one round trip, not one each, and a million-key MGET is not a million tasks. Any backend
/// error makes the whole reply `-ERR <message>`; the keys already done stay done (MSET and DEL
/// are not atomic).
struct RedisCommandExecutor: Sendable {
    /// Backend calls one command has running at once.
    static let maxConcurrentKeys = 64

    let backend: any KeyValueBackend
    /// INFO's numbers, read when an INFO runs.
    let stats: @Sendable () -> RedisGatewayStats
    /// Called once per command whose backend call threw.
    let backendFailed: @Sendable () -> Void

    func execute(_ command: RedisCommand) async -> RESPValue {
        do {
            switch command {
            case .get(let key):
                return .bulkString(try await backend.get(key))
            case .set(let key, let value):
                try await backend.set(key, value)
                return .ok
            case .del(let keys):
                let deleted = try await forEach(Self.distinct(keys)) { [backend] in try await backend.delete($0) }
                return .integer(Int64(deleted.values.count(where: { $0 })))
            case .exists(let keys):
                let found = try await forEach(Self.distinct(keys)) { [backend] in try await backend.get($0) != nil }
                return .integer(Int64(keys.count(where: { found[$0] == true })))
            case .mget(let keys):
                let values = try await forEach(Self.distinct(keys)) { [backend] in try await backend.get($0) }
                return .array(keys.map { .bulkString(values[$0] ?? nil) })
            case .mset(let pairs):
                var last: [[UInt8]: [UInt8]] = [:]
                for pair in pairs { last[pair.key] = pair.value }
                let values = last
                _ = try await forEach(Self.distinct(pairs.map(\.key))) { [backend] key in
                    try await backend.set(key, values[key]!)
                }
                return .ok
            case .info(let sections):
                return .bulk(stats().infoText(sections: sections))
            case .ping, .echo, .configGet, .command, .select, .client, .hello, .quit:
                // RedisSession answers these; reaching here is a bug in the caller.
                return .err("internal error: \(command) has no backend operation")
            }
        } catch {
            backendFailed()
            return .err(Self.message(for: error))
        }
    }

    /// What the client reads after `-ERR ` for a backend error.
    static func message(for error: any Error) -> String {
        if let error = error as? KeyValueBackendError { return error.message }
        if error is CancellationError { return "the gateway is shutting down" }
        return String(describing: error)
    }

    /// The keys in first-seen order, each once.
    static func distinct(_ keys: [[UInt8]]) -> [[UInt8]] {
        var seen = Set<[UInt8]>()
        return keys.filter { seen.insert($0).inserted }
    }

    /// Runs `operation` for every key, ``maxConcurrentKeys`` at a time (inline for one key).
    private func forEach<T: Sendable>(
        _ keys: [[UInt8]], _ operation: @escaping @Sendable ([UInt8]) async throws -> T
    ) async throws -> [[UInt8]: T] {
        if keys.count == 1 { return [keys[0]: try await operation(keys[0])] }
        return try await withThrowingTaskGroup(of: ([UInt8], T).self) { group in
            var pending = keys[...]
            for key in pending.prefix(Self.maxConcurrentKeys) { group.addTask { (key, try await operation(key)) } }
            pending = pending.dropFirst(Self.maxConcurrentKeys)
            var results: [[UInt8]: T] = [:]
            results.reserveCapacity(keys.count)
            while let (key, value) = try await group.next() {
                results[key] = value
                if let next = pending.popFirst() { group.addTask { (next, try await operation(next)) } }
            }
            return results
        }
    }
}
