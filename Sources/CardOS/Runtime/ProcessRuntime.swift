import BackplaneModel
import Foundation
import Logging
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
    private struct Live: Sendable {
        var handle: ContainerHandle
        var process: ProcessReference
    }
    /// By instance id; an entry goes when its process's exit has been handled.
    private let live = Mutex<[String: Live]>([:])
    /// One job per process: it waits for the exit (see ``run()``).
    private let jobs = Jobs()
    /// Instance ids whose start is under way.
    private let starting = Mutex<Set<String>>([])

    public static let warning = "WARNING: process driver: workloads run as plain host processes without namespaces or cgroup limits (memory via ulimit only, no CPU limit, image ignored). Anyone who may deploy runs code as this card's user: as root, that reads the bus's keys and tokens. For development only."

    public init(stateDirectory: String) throws {
        self.stateDirectory = stateDirectory
        for dir in ["logs", "pids", "scratch"] {
            // Logs and scratch hold what instances print and write (secrets too): root only.
            let path = (stateDirectory as NSString).appendingPathComponent(dir)
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            chmod(path, 0o700)
        }
    }

    private func path(_ dir: String, _ name: String) -> String { (stateDirectory as NSString).appendingPathComponent("\(dir)/\(name)") }

    public func start(_ spec: ContainerSpec, onExit: @escaping @Sendable (ContainerExit) -> Void) async throws -> ContainerHandle {
        guard !jobs.isFinished else { throw RuntimeError("this runtime was shut down; it starts nothing") }
        // One start per instance at a time; a second waits for the first (a start sent again).
        while !starting.withLock({ $0.insert(spec.id).inserted }) {
            try await Task.sleep(for: .milliseconds(20))  // the first start ends in its own time
        }
        defer { starting.withLock { _ = $0.remove(spec.id) } }
        if let existing = live.withLock({ $0[spec.id] }) {
            if existing.handle.incarnation == spec.incarnation { return existing.handle }
            try await stop(spec.id, incarnation: existing.handle.incarnation, grace: .zero)
        }
        let fm = FileManager.default
        let scratch = path("scratch", spec.id)
        try fm.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let stdoutPath = path("logs", "\(spec.id).out")
        let stderrPath = path("logs", "\(spec.id).err")
        fm.createFile(atPath: stdoutPath, contents: nil, attributes: [.posixPermissions: 0o600])
        fm.createFile(atPath: stderrPath, contents: nil, attributes: [.posixPermissions: 0o600])
        let limitKB = spec.resources.memoryBytes > 0 ? "ulimit -v \(max(65536, spec.resources.memoryBytes / 1024 * 4)); " : ""
        var env = ProcessInfo.processInfo.environment.filter { $0.key == "PATH" }
        for (k, v) in spec.env { env[k] = v }
        env["HOSTNAME"] = spec.id
        let pidFile = path("pids", spec.id)
        let key = ContainerID.make(instance: spec.id, incarnation: spec.incarnation)
        // The exit may be handled before start returns (a command that ends at once): the entry
        // is made under the same lock, so whichever comes second sees the other.
        let exited = Mutex(false)
        let child = try await Supervisor.spawn(
            executable: "/bin/sh", arguments: ["-c", limitKB + "exec \"$@\"", "sh"] + spec.command,
            environment: env, workingDirectory: scratch, stdoutPath: stdoutPath, stderrPath: stderrPath,
            jobs: jobs, key: key
        ) { [weak self] code in
            try? FileManager.default.removeItem(atPath: pidFile)
            try? FileManager.default.removeItem(atPath: scratch)
            self?.live.withLock { live in
                exited.withLock { $0 = true }
                if live[spec.id]?.handle.incarnation == spec.incarnation { live.removeValue(forKey: spec.id) }
            }
            onExit(ContainerExit(id: spec.id, incarnation: spec.incarnation, code: code, oomKilled: false))
        }
        // The PID with its start time: a later run kills it only if both still match.
        try "\(child.pid) \(child.process.startTime ?? 0)".write(toFile: pidFile, atomically: true, encoding: .utf8)
        var handle = ContainerHandle(id: spec.id, incarnation: spec.incarnation, containerID: "\(child.pid)", workload: spec.workload, pid: child.pid, cgroupPath: "", stdoutPath: stdoutPath, stderrPath: stderrPath)
        handle.liveness = spec.liveness
        handle.readiness = spec.readiness
        live.withLock { live in
            if !exited.withLock({ $0 }) { live[spec.id] = Live(handle: handle, process: child.process) }
        }
        return handle
    }

    public func stop(_ id: String, incarnation: UInt64?, grace: Duration) async throws {
        guard let entry = live.withLock({ $0[id] }), incarnation == nil || entry.handle.incarnation == incarnation else { return }
        entry.process.signal(SIGTERM)
        if await gone(id, entry.handle.incarnation, within: grace) { return }
        entry.process.signal(SIGKILL)
        if await !gone(id, entry.handle.incarnation, within: .seconds(10)) {
            throw RuntimeError("process \(entry.handle.pid) of \(id) did not end after SIGKILL (is the runtime's run() running?)")
        }
    }

    /// Whether the exit of the instance's incarnation has been handled within `limit`.
    private func gone(_ id: String, _ incarnation: UInt64, within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while live.withLock({ $0[id]?.handle.incarnation == incarnation }) {
            if ContinuousClock.now >= deadline || Task.isCancelled { return false }
            try? await Task.sleep(for: .milliseconds(10))  // the process ends in its own time
        }
        return true
    }

    /// Waits for the processes' exits (one job each) until ``shutdown()`` or ``abandon()``.
    public func run() async {
        await jobs.run()
    }

    /// The process driver has no supervisor that outlives the agent: abandoning kills the
    /// processes (their jobs are cancelled), as the agent's death would with no shim.
    public func abandon() {
        jobs.cancelAll()
        jobs.finish()
    }

    public func shutdown() async {
        for id in live.withLock({ Array($0.keys) }) {
            do {
                try await stop(id, grace: .seconds(2))
            } catch {
                Logger(label: "backplane.card.process").error("cannot stop a process at shutdown", metadata: ["instance": "\(id)", "error": "\(error)"])
            }
        }
        jobs.finish()
    }

    /// Runs the probe command on the host (this driver has no container to enter).
    public func resize(_ id: String, incarnation: UInt64?, to resources: Resources) async throws {
        throw RuntimeError("the process runtime cannot change a running instance's limits (rlimits are set at start); resizing in place needs runc")
    }

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
            // Only the process that run started: its PID and start time both match.
            if let text = try? String(contentsOfFile: path("pids", id), encoding: .utf8) {
                let fields = text.split(separator: " ")
                if fields.count == 2, let pid = Int32(fields[0]), let started = UInt64(fields[1]),
                   let process = ProcessReference(pid: pid), process.startTime == started {
                    process.signal(SIGKILL)
                }
            }
            try? FileManager.default.removeItem(atPath: path("pids", id))
            try? FileManager.default.removeItem(atPath: path("scratch", id))
            removed.append(id)
        }
        return removed
    }
}
