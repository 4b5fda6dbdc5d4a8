import Dispatch
import Foundation

/// Runs `body` until it finishes or the process gets SIGINT or SIGTERM, which cancel it.
/// Returns the signal that ended it, if any.
@discardableResult
func runUntilSignalled(_ body: @escaping @Sendable () async throws -> Void) async throws -> Int32? {
    let (signals, sink) = AsyncStream.makeStream(of: Int32.self)
    var sources: [any DispatchSourceSignal] = []
    for sig in [SIGINT, SIGTERM] {
        signal(sig, SIG_IGN)  // handled by the dispatch source instead
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler { sink.yield(sig) }
        source.resume()
        sources.append(source)
    }
    defer { for s in sources { s.cancel() } }
    return try await withThrowingTaskGroup(of: Int32?.self) { group in
        group.addTask {
            try await body()
            return nil
        }
        group.addTask {
            for await sig in signals { return sig }
            return nil
        }
        let first = try await group.next() ?? nil
        group.cancelAll()
        return first
    }
}
