import BackplaneModel
import Foundation
import Synchronization

/// Plain child processes, for machines without runc or root. No namespaces and no cgroup
/// limits: memory is bounded with `ulimit -v` only, CPU not at all, and the image is ignored
/// (commands run from the host's filesystem). CardOS says so loudly when this driver is used.
/// It has no shim: its processes are not fenced when the card's lease lapses, and a restarted
/// card kills what an earlier run left instead of adopting it.
public final class ProcessRuntime: ContainerRuntime {
    public var kind: String { "process" }
    public var lease: LeaseFile? { nil }
    public let stateDirectory: String
    private let live = Mutex<[String: (handle: ContainerHandle, watcher: Task<Void, Never>)]>([:])

    public static let warning = "WARNING: process driver: workloads run as plain host processes without namespaces or cgroup limits (memory via ulimit only, no CPU limit, image ignored)"

    public init(stateDirectory: String) throws {
        self.stateDirectory = stateDirectory
        for dir in ["logs", "pids", "scratch"] {
            try FileManager.default.createDirectory(atPath: (stateDirectory as NSString).appendingPathComponent(dir), withIntermediateDirectories: true)
        }
    }

    private func path(_ dir: String, _ name: String) -> String { (stateDirectory as NSString).appendingPathComponent("\(dir)/\(name)") }

    public func start(_ spec: ContainerSpec, onExit: @escaping @Sendable (ContainerExit) -> Void) async throws -> ContainerHandle {
        if let existing = live.withLock({ $0[spec.id] }) {
            if existing.handle.incarnation == spec.incarnation { return existing.handle }
            try await stop(spec.id, incarnation: existing.handle.incarnation, grace: .zero)
        }
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
            onExit(ContainerExit(id: spec.id, incarnation: spec.incarnation, code: code, oomKilled: false))
            _ = self?.live.withLock { $0.removeValue(forKey: spec.id) }
        }
        var handle = ContainerHandle(id: spec.id, incarnation: spec.incarnation, containerID: "\(child.pid)", workload: spec.workload, pid: child.pid, cgroupPath: "", stdoutPath: stdoutPath, stderrPath: stderrPath)
        handle.liveness = spec.liveness
        handle.readiness = spec.readiness
        live.withLock { $0[spec.id] = (handle, watcher) }
        return handle
    }

    public func stop(_ id: String, incarnation: UInt64?, grace: Duration) async throws {
        guard let (handle, watcher) = live.withLock({ $0[id] }), incarnation == nil || handle.incarnation == incarnation else { return }
        let pid = handle.pid
        kill(pid, SIGTERM)
        let killer = Task {
            try await Task.sleep(for: grace)
            kill(pid, SIGKILL)
        }
        await watcher.value
        killer.cancel()
        live.withLock { _ = $0.removeValue(forKey: id) }
    }

    public func shutdown() async {
        for id in (try? await list()) ?? [] { try? await stop(id, grace: .seconds(2)) }
    }

    /// Runs the probe command on the host (this driver has no container to enter).
    public func exec(_ handle: ContainerHandle, command: [String], timeout: Duration) async -> Bool {
        guard let first = command.first else { return false }
        let path = first.hasPrefix("/") ? first : "/usr/bin/env"
        return await ProbeCommand.run(path, first.hasPrefix("/") ? Array(command.dropFirst()) : command, timeout: timeout)
    }

    public func list() async throws -> [String] {
        live.withLock { Array($0.keys).sorted() }
    }

    public func running() -> [ContainerHandle] {
        live.withLock { $0.values.map(\.handle) }.sorted { $0.id < $1.id }
    }

    /// Kills processes recorded by an earlier run of this card (the process driver cannot adopt).
    public func adopt(onExit: @escaping @Sendable (ContainerExit) -> Void) async throws -> AdoptionReport {
        var report = AdoptionReport()
        report.removed = try await cleanUpLeftovers()
        return report
    }

    func cleanUpLeftovers() async throws -> [String] {
        let known = live.withLock { Set($0.keys) }
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
