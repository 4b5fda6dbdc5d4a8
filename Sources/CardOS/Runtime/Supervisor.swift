import Foundation
import Subprocess
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
        /// Finishes with the exit status (128 + signal when signalled) once the child has ended.
        var exit: Task<Int32, Never>
    }

    static func spawn(executable: String, arguments: [String], environment: [String: String]? = nil, workingDirectory: String? = nil, stdoutPath: String, stderrPath: String) async throws -> Child {
        let permissions: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead]
        let out = try FileDescriptor.open(FilePath(stdoutPath), .writeOnly, options: [.create, .truncate], permissions: permissions)
        let err = try FileDescriptor.open(FilePath(stderrPath), .writeOnly, options: [.create, .truncate], permissions: permissions)
        let env: Subprocess.Environment = environment.map { .custom(Dictionary(uniqueKeysWithValues: $0.map { (Subprocess.Environment.Key(rawValue: $0.key)!, $0.value) })) } ?? .inherit
        let (started, startedSink) = AsyncStream.makeStream(of: Result<pid_t, any Error>.self)
        let exit = Task<Int32, Never> {
            do {
                let result = try await Subprocess.run(
                    .path(FilePath(executable)), arguments: Arguments(arguments), environment: env,
                    workingDirectory: workingDirectory.map { FilePath($0) },
                    input: .none,
                    output: .fileDescriptor(out, closeAfterSpawningProcess: true),
                    error: .fileDescriptor(err, closeAfterSpawningProcess: true)
                ) { execution in
                    startedSink.yield(.success(execution.processIdentifier.value))
                    startedSink.finish()
                }
                switch result.terminationStatus {
                case .exited(let code): return code
                case .signaled(let signal): return 128 + signal
                }
            } catch {
                startedSink.yield(.failure(error))
                startedSink.finish()
                return -1
            }
        }
        var it = started.makeAsyncIterator()
        guard let first = await it.next() else { throw RuntimeError("\(executable) did not start") }
        do {
            return Child(pid: try first.get(), exit: exit)
        } catch {
            throw RuntimeError("cannot start \(executable): \(error)")
        }
    }
}
