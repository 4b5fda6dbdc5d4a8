import Synchronization

/// Work that outlives the call that starts it — a container's exit watcher, an instance's probes,
/// a restart a probe asked for — run as child tasks of its owner's ``run()``, so every job has an
/// owner and an end (no stray `Task {}`).
///
/// - ``add(_:_:)`` queues a job; one with a key replaces (cancels) the running job of that key.
/// - ``cancel(_:)`` ends one job, ``cancelAll()`` every one.
/// - ``finish()`` takes no more jobs; ``run()`` returns once the running ones have ended.
///
/// ``run()`` does not end when its caller is cancelled, on purpose: a card's last act, stopping
/// its containers, needs the exit watchers while the card's task is already cancelled. It ends
/// through ``finish()`` (and ``cancelAll()`` to end the jobs at once).
public final class Jobs: Sendable {
    public typealias Job = @Sendable () async -> Void

    private struct Entry: Sendable {
        var key: String?
        var stop: StopSignal
        var body: Job
    }

    private struct State {
        var running: [String: StopSignal] = [:]
        var all: [ObjectIdentifier: StopSignal] = [:]
        var finished = false
    }

    private let stream: AsyncStream<Entry>
    private let continuation: AsyncStream<Entry>.Continuation
    private let state = Mutex(State())

    public init() {
        (stream, continuation) = AsyncStream.makeStream()
    }

    /// Queues `body` to run in ``run()``. False (and nothing runs) after ``finish()``.
    @discardableResult
    public func add(_ key: String? = nil, _ body: @escaping Job) -> Bool {
        let stop = StopSignal()
        // Queued under the lock, so a concurrent finish() cannot end the stream between the
        // check and the yield (a job accepted but never run).
        let replaced: StopSignal?? = state.withLock { state in
            guard !state.finished else { return .none }
            state.all[ObjectIdentifier(stop)] = stop
            var previous: StopSignal?
            if let key {
                previous = state.running[key]
                state.running[key] = stop
            }
            continuation.yield(Entry(key: key, stop: stop, body: body))
            return .some(previous)
        }
        guard case .some(let previous) = replaced else { return false }
        previous?.stop()
        return true
    }

    /// Ends the job of `key`, if one runs (it sees cancellation).
    public func cancel(_ key: String) {
        state.withLock { $0.running.removeValue(forKey: key) }?.stop()
    }

    /// Ends every job now running or queued.
    public func cancelAll() {
        for stop in state.withLock({ state in defer { state.running.removeAll() }; return Array(state.all.values) }) { stop.stop() }
    }

    /// Whether ``finish()`` was called.
    public var isFinished: Bool { state.withLock { $0.finished } }

    /// Takes no more jobs; ``run()`` returns when the ones it has have ended.
    public func finish() {
        state.withLock { state in
            state.finished = true
            continuation.finish()
        }
    }

    /// Runs the jobs until ``finish()`` and the last job has ended. Not ended by its caller's
    /// cancellation (see the type's documentation).
    public func run() async {
        await uncancelled {
            await withDiscardingTaskGroup { group in
                for await entry in self.stream {
                    group.addTask {
                        await withTaskGroup(of: Void.self) { race in
                            race.addTask { await entry.body() }
                            race.addTask { await entry.stop.wait() }
                            await race.next()
                            race.cancelAll()
                        }
                        self.state.withLock { state in
                            state.all.removeValue(forKey: ObjectIdentifier(entry.stop))
                            if let key = entry.key, state.running[key] === entry.stop { state.running.removeValue(forKey: key) }
                        }
                    }
                }
            }
        }
    }
}

/// Runs `body` to its end even when the calling task is cancelled: for last acts (stopping
/// containers at shutdown) that must wait and run commands. It is awaited, so it ends before its
/// caller does.
public func uncancelled<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T {
    await Task { await body() }.value
}

/// A one-shot signal that a waiter can await; stopping it before the wait is not lost.
final class StopSignal: Sendable {
    private let state = Mutex<(stopped: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    func stop() {
        let waiter = state.withLock { state in
            state.stopped = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Returns once stopped, or when the waiting task is cancelled.
    func wait() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state in
                    if state.stopped { return true }
                    state.waiter = waiter
                    return false
                }
                if now { waiter.resume() }
            }
        } onCancel: {
            stop()
        }
    }
}
