import BackplaneModel
import Foundation
import Synchronization

/// Real OCI containers through `runc run --keep`: one supervised `runc` child per container, so
/// its exit status is the container's; when it ends CardOS reads the memory cgroup's OOM-kill
/// count, then deletes the container, its cgroup and its bundle. CardOS owns a private
/// runc root, its bundles and a cgroup parent per card, so nothing of other users is touched.
///
/// Layout under `stateDirectory`: `runc/` (runc's state), `bundles/<id>/config.json`,
/// `bundles/<id>/scratch` (the container's writable /tmp), `logs/<id>.out|.err`.
public final class RuncRuntime: ContainerRuntime {
    public var kind: String { "runc" }
    public let runcPath: String
    public let stateDirectory: String
    public let cacheDirectory: String
    /// cgroup parent for this card's containers, e.g. `backplane/c-0001-000000`.
    public let cgroupParent: String
    /// Per running container: the task that ends after its exit has been handled.
    private let running = Mutex<[String: Task<Void, Never>]>([:])

    public init(stateDirectory: String, cacheDirectory: String, cgroupParent: String, runcPath: String? = nil) throws {
        guard let path = runcPath ?? Self.findRunc() else {
            throw RuntimeError("runc is not installed (Debian: apt-get install runc); use the process driver on machines without runc")
        }
        self.runcPath = path
        self.stateDirectory = stateDirectory
        self.cacheDirectory = cacheDirectory
        self.cgroupParent = cgroupParent
        for dir in ["runc", "bundles", "logs", "pids"] {
            try FileManager.default.createDirectory(atPath: (stateDirectory as NSString).appendingPathComponent(dir), withIntermediateDirectories: true)
        }
    }

    public static func findRunc() -> String? {
        ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Why runc cannot be used here, or nil when it can (runc installed, running as root, cgroups writable).
    public static func unavailableReason() -> String? {
        if findRunc() == nil { return "runc is not installed" }
        if getuid() != 0 { return "runc needs root (running as uid \(getuid()))" }
        if !FileManager.default.isWritableFile(atPath: "/sys/fs/cgroup/memory") && !FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers") {
            return "no writable cgroup hierarchy at /sys/fs/cgroup"
        }
        return nil
    }

    private var runcRoot: String { (stateDirectory as NSString).appendingPathComponent("runc") }
    private func bundle(_ id: String) -> String { (stateDirectory as NSString).appendingPathComponent("bundles/\(id)") }
    private func pidPath(_ id: String) -> String { (stateDirectory as NSString).appendingPathComponent("pids/\(id)") }
    private func log(_ id: String, _ stream: String) -> String { (stateDirectory as NSString).appendingPathComponent("logs/\(id).\(stream)") }

    public func start(_ spec: ContainerSpec, onExit: @escaping @Sendable (ContainerExit) -> Void) async throws -> ContainerHandle {
        guard spec.id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }), !spec.id.isEmpty else {
            throw RuntimeError("container id '\(spec.id)' may use only letters, digits, '-', '_' and '.'")
        }
        let fm = FileManager.default
        let rootfs: String
        if spec.image == "busybox" {
            rootfs = try BusyboxImage.rootfs(cacheDirectory: cacheDirectory)
        } else {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: spec.image, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw RuntimeError("image '\(spec.image)' is not a directory on this card")
            }
            rootfs = spec.image
        }
        let bundle = bundle(spec.id)
        let scratch = (bundle as NSString).appendingPathComponent("scratch")
        try fm.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let cgroupsPath = "/\(cgroupParent)/\(spec.id)"
        let config = OCIConfig.make(spec: spec, rootfs: rootfs, scratch: scratch, cgroupsPath: cgroupsPath)
        try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: (bundle as NSString).appendingPathComponent("config.json")))

        let stdoutPath = log(spec.id, "out")
        let stderrPath = log(spec.id, "err")
        // Outside the bundle: it must outlive a container that ends at once (see below).
        let pidFile = pidPath(spec.id)
        try? fm.removeItem(atPath: pidFile)

        let child = try await Supervisor.spawn(
            executable: runcPath,
            arguments: ["--root", runcRoot, "run", "--keep", "--bundle", bundle, "--pid-file", pidFile, spec.id],
            stdoutPath: stdoutPath, stderrPath: stderrPath
        )
        let watcher = Task { [weak self] in
            let code = await child.exit.value
            let oom = (CgroupPaths.oomKills(of: cgroupsPath) ?? 0) > 0
            self?.finished(spec.id)
            onExit(ContainerExit(id: spec.id, code: code, oomKilled: oom))
            _ = self?.running.withLock { $0.removeValue(forKey: spec.id) }
        }
        running.withLock { $0[spec.id] = watcher }
        // runc writes the pid file once the container's init process exists.
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                return ContainerHandle(id: spec.id, pid: pid, cgroupPath: cgroupsPath, stdoutPath: stdoutPath, stderrPath: stderrPath)
            }
            if kill(child.pid, 0) != 0 || running.withLock({ $0[spec.id] == nil }) {
                await watcher.value
                // Started and already ended (its exit has been reported), or never started.
                if let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                    return ContainerHandle(id: spec.id, pid: pid, cgroupPath: cgroupsPath, stdoutPath: stdoutPath, stderrPath: stderrPath)
                }
                let err = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
                throw RuntimeError("runc failed to start \(spec.id): \(err.suffix(500))")
            }
            try await Task.sleep(for: .milliseconds(5))  // polling a file runc writes
        }
        kill(child.pid, SIGKILL)
        await watcher.value
        throw RuntimeError("runc did not start \(spec.id) within 10 s")
    }

    /// The container ended: delete it (it was kept for the OOM count), its cgroup and bundle.
    private func finished(_ id: String) {
        _ = try? runc(["delete", "--force", id])
        try? removeCgroup(id)
        try? FileManager.default.removeItem(atPath: bundle(id))
    }

    public func stop(_ id: String, grace: Duration) async throws {
        let watcher = running.withLock { $0[id] }
        _ = try? runc(["kill", id, "TERM"])
        if let watcher {
            let killer = Task {
                try await Task.sleep(for: grace)
                _ = try? self.runc(["kill", "--all", id, "KILL"])
            }
            await watcher.value  // the exit has been handled and cleaned up
            killer.cancel()
            running.withLock { _ = $0.removeValue(forKey: id) }
        }
        // Whatever an interrupted run left behind.
        _ = try? runc(["delete", "--force", id])
        try? FileManager.default.removeItem(atPath: bundle(id))
        try? FileManager.default.removeItem(atPath: pidPath(id))
        try removeCgroup(id)
    }

    public func shutdown() async {
        for id in (try? await list()) ?? [] { try? await stop(id, grace: .seconds(2)) }
        // The card's cgroup parent, and its own parent when that is now empty too.
        var path = "/\(cgroupParent)"
        while path != "/" && !path.isEmpty {
            for dir in CgroupPaths.directories(for: path) where FileManager.default.fileExists(atPath: dir) { rmdir(dir) }
            path = (path as NSString).deletingLastPathComponent
        }
    }

    public func list() async throws -> [String] {
        let output = try runc(["list", "--quiet"])
        return output.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }

    public func cleanUpLeftovers() async throws -> [String] {
        let known = running.withLock { Set($0.keys) }
        var removed: [String] = []
        for id in try await list() where !known.contains(id) {
            _ = try? runc(["kill", "--all", id, "KILL"])
            _ = try? runc(["delete", "--force", id])
            try? removeCgroup(id)
            removed.append(id)
        }
        let bundles = (try? FileManager.default.contentsOfDirectory(atPath: (stateDirectory as NSString).appendingPathComponent("bundles"))) ?? []
        for id in bundles where !known.contains(id) {
            try? FileManager.default.removeItem(atPath: bundle(id))
            try? FileManager.default.removeItem(atPath: pidPath(id))
            try? removeCgroup(id)
            if !removed.contains(id) { removed.append(id) }
        }
        return removed
    }

    /// Removes the container's cgroup directories (runc does, unless it was killed first).
    private func removeCgroup(_ id: String) throws {
        for dir in CgroupPaths.directories(for: "/\(cgroupParent)/\(id)") where FileManager.default.fileExists(atPath: dir) {
            rmdir(dir)
        }
    }

    @discardableResult
    private func runc(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: runcPath)
        process.arguments = ["--root", runcRoot] + arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw RuntimeError("runc \(arguments.joined(separator: " ")) failed: \(String(decoding: errors, as: UTF8.self))")
        }
        return String(decoding: output, as: UTF8.self)
    }
}

/// Where a cgroup path lives on this host (v1: one directory per controller; v2: one).
public enum CgroupPaths {
    public static let root = "/sys/fs/cgroup"
    public static var isV2: Bool { FileManager.default.fileExists(atPath: root + "/cgroup.controllers") }
    public static let v1Controllers = ["memory", "cpu", "cpuacct", "pids", "blkio", "cpuset", "devices", "freezer"]

    public static func directories(for path: String) -> [String] {
        isV2 ? [root + path] : v1Controllers.map { "\(root)/\($0)\(path)" }
    }

    /// How many times the OOM killer fired in a cgroup (v1 `memory.oom_control`, v2 `memory.events`).
    public static func oomKills(of path: String) -> Int64? {
        let file = isV2 ? "\(root)\(path)/memory.events" : "\(root)/memory\(path)/memory.oom_control"
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("oom_kill ") {
            return Int64(line.dropFirst("oom_kill ".count))
        }
        return nil
    }

    /// The memory limit in bytes of a cgroup path, as the kernel reports it.
    public static func memoryLimit(of path: String) -> Int64? {
        let file = isV2 ? "\(root)\(path)/memory.max" : "\(root)/memory\(path)/memory.limit_in_bytes"
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        return Int64(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
