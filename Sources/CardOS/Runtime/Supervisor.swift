import Foundation
import Subprocess
import Synchronization
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Starts and watches the one child process behind a container (`runc run`, or the workload
/// itself for the process driver). Children start through swift-subprocess, which resets the
/// signal mask and dispositions: a child spawned with Foundation's `Process` from a Dispatch
/// thread inherits almost every signal blocked, and its workload would never see SIGTERM.
enum Supervisor {
    struct Child: Sendable {
        var pid: pid_t
        /// For signals: a pidfd that names this child even after it is reaped and its PID reused.
        var process: ProcessReference
    }

    /// Starts the child as job `key` of `jobs`, which waits for it and calls `onExit` with its
    /// exit status (128 + signal when signalled). Cancelling the job kills the child.
    static func spawn(executable: String, arguments: [String], environment: [String: String]? = nil, workingDirectory: String? = nil, stdoutPath: String, stderrPath: String,
                      jobs: Jobs, key: String, onExit: @escaping @Sendable (Int32) -> Void) async throws -> Child {
        let permissions: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead]
        let out = try FileDescriptor.open(FilePath(stdoutPath), .writeOnly, options: [.create, .truncate], permissions: permissions)
        let err = try FileDescriptor.open(FilePath(stderrPath), .writeOnly, options: [.create, .truncate], permissions: permissions)
        let env: Subprocess.Environment = environment.map { .custom(Dictionary(uniqueKeysWithValues: $0.map { (Subprocess.Environment.Key(rawValue: $0.key)!, $0.value) })) } ?? .inherit
        let (started, startedSink) = AsyncStream.makeStream(of: Result<ProcessReference, any Error>.self)
        let didStart = Mutex(false)
        let queued = jobs.add(key) {
            var options = PlatformOptions()
            options.teardownSequence = [.send(signal: .kill, allowedDurationToNextStep: .seconds(1))]
            do {
                let result = try await Subprocess.run(
                    .path(FilePath(executable)), arguments: Arguments(arguments), environment: env,
                    workingDirectory: workingDirectory.map { FilePath($0) },
                    platformOptions: options,
                    input: .none,
                    output: .fileDescriptor(out, closeAfterSpawningProcess: true),
                    error: .fileDescriptor(err, closeAfterSpawningProcess: true)
                ) { execution in
                    let id = execution.processIdentifier
                    // Taken while swift-subprocess holds its pidfd (or, without one, while the child is unreaped).
                    if let reference = ProcessReference(duplicating: id.processDescriptor, pid: id.value) ?? ProcessReference(pid: id.value) {
                        didStart.withLock { $0 = true }
                        startedSink.yield(.success(reference))
                    } else {
                        _ = try? execution.send(signal: .kill)
                        startedSink.yield(.failure(RuntimeError("cannot hold process \(id.value) by a pidfd; Linux 5.3 or later is needed")))
                    }
                    startedSink.finish()
                }
                switch result.terminationStatus {
                case .exited(let code): onExit(code)
                case .signaled(let signal): onExit(128 + signal)
                }
            } catch {
                startedSink.yield(.failure(error))
                startedSink.finish()
                if didStart.withLock({ $0 }) { onExit(-1) }  // it ran, but its end could not be read
            }
        }
        guard queued else {
            try? out.close()
            try? err.close()
            throw RuntimeError("this runtime was shut down; it starts nothing")
        }
        var it = started.makeAsyncIterator()
        guard let first = await it.next() else { throw RuntimeError("\(executable) did not start") }
        do {
            let process = try first.get()
            return Child(pid: process.pid, process: process)
        } catch {
            throw RuntimeError("cannot start \(executable): \(error)")
        }
    }
}
