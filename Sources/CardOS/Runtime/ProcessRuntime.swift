import BackplaneModel
import Foundation
import Synchronization

/// Plain child processes, for machines without runc or root. No namespaces and no cgroup
/// limits: memory is bounded with `ulimit -v` only, CPU not at all, and the image is ignored
/// (commands run from the host's filesystem). CardOS says so loudly when this driver is used.
public final class ProcessRuntime: ContainerRuntime {
    public var kind: String { "process" }
    public let stateDirectory: String
    private let running = Mutex<[String: (pid: pid_t, watcher: Task<Void, Never>)]>([:])

    public static let warning = "WARNING: process driver: workloads run as plain host processes without namespaces or cgroup limits (memory via ulimit only, no CPU limit, image ignored)"

    public init(stateDirectory: String) throws {
        self.stateDirectory = stateDirectory
        for dir in ["logs", "pids", "scratch"] {
            try FileManager.default.createDirectory(atPath: (stateDirectory as NSString).appendingPathComponent(dir), withIntermediateDirectories: true)
        }
    }

    private func path(_ dir: String, _ name: String) -> String { (stateDirectory as NSString).appendingPathComponent("\(dir)/\(name)") }

    public func start(_ spec: ContainerSpec, onExit: @escaping @Sendable (ContainerExit) -> Void) async throws -> ContainerHandle {
        let fm = FileManager.default
        let scratch = path("scratch", spec.id)
        try fm.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let stdoutPath = path("logs", "\(spec.id).out")
        let stderrPath = path("logs", "\(spec.id).err")
        fm.createFile(atPath: stdoutPath, contents: nil)
        fm.createFile(atPath: stderrPath, contents: nil)
        let limitKB = spec.resources.memoryBytes > 0 ? "ulimit -v \(max(65536, spec.resources.memoryBytes / 1024 * 4)); " : ""
        var env = ProcessInfo.processInfo.environment.filter { $0.key == "PATH" }
        for (k, v) in spec.env { env[k] = v }
        env["HOSTNAME"] = spec.id
        let child = try await Supervisor.spawn(
            executable: "/bin/sh", arguments: ["-c", limitKB + "exec \"$@\"", "sh"] + spec.command,
            environment: env, workingDirectory: scratch, stdoutPath: stdoutPath, stderrPath: stderrPath
        )
        let pidFile = path("pids", spec.id)
        try "\(child.pid)".write(toFile: pidFile, atomically: true, encoding: .utf8)
        let watcher = Task { [weak self] in
            let code = await child.exit.value
            try? FileManager.default.removeItem(atPath: pidFile)
            try? FileManager.default.removeItem(atPath: scratch)
            onExit(ContainerExit(id: spec.id, code: code, oomKilled: false))
            _ = self?.running.withLock { $0.removeValue(forKey: spec.id) }
        }
        running.withLock { $0[spec.id] = (child.pid, watcher) }
        return ContainerHandle(id: spec.id, pid: child.pid, cgroupPath: "", stdoutPath: stdoutPath, stderrPath: stderrPath)
    }

    public func stop(_ id: String, grace: Duration) async throws {
        guard let (pid, watcher) = running.withLock({ $0[id] }) else { return }
        kill(pid, SIGTERM)
        let killer = Task {
            try await Task.sleep(for: grace)
            kill(pid, SIGKILL)
        }
        await watcher.value
        killer.cancel()
        running.withLock { _ = $0.removeValue(forKey: id) }
    }

    public func shutdown() async {
        for id in (try? await list()) ?? [] { try? await stop(id, grace: .seconds(2)) }
    }

    public func list() async throws -> [String] {
        running.withLock { Array($0.keys).sorted() }
    }


    /// Kills processes recorded by an earlier run of this card.
    public func cleanUpLeftovers() async throws -> [String] {
        let known = running.withLock { Set($0.keys) }
        var removed: [String] = []
        for id in (try? FileManager.default.contentsOfDirectory(atPath: (stateDirectory as NSString).appendingPathComponent("pids"))) ?? [] where !known.contains(id) {
            if let text = try? String(contentsOfFile: path("pids", id), encoding: .utf8), let pid = Int32(text) {
                kill(pid, SIGKILL)
            }
            try? FileManager.default.removeItem(atPath: path("pids", id))
            try? FileManager.default.removeItem(atPath: path("scratch", id))
            removed.append(id)
        }
        return removed
    }
}
