import Foundation
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Runs a probe's command to completion, or kills it at the timeout.
enum ProbeCommand {
    static func run(_ executable: String, _ arguments: [String], timeout: Duration) async -> Bool {
        await withTaskGroup(of: Bool?.self) { group in
            group.addTask {
                var options = PlatformOptions()
                options.teardownSequence = [.send(signal: .kill, allowedDurationToNextStep: .seconds(1))]
                do {
                    let result = try await Subprocess.run(.path(FilePath(executable)), arguments: Arguments(arguments), platformOptions: options, output: .discarded, error: .discarded)
                    if case .exited(0) = result.terminationStatus { return true }
                    return false
                } catch {
                    return false
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)  // the probe's timeout
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? false
        }
    }
}
