import BackplaneModel
import Foundation
import Logging
import Subprocess
import Synchronization
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Real OCI containers through runc, each supervised by its own `backplane-shim` process that
/// outlives the card agent: the shim is the parent of `runc run --keep`, records the exit, cleans
/// up the container and its cgroups, and fences (kills) the container when the card's lease
/// lapses — also while the agent is dead or frozen. A restarted agent adopts the containers whose
/// shims still run (same PID, no restart).
///
/// Layout under `stateDirectory`: `runc/` (runc's state), `bundles/<cid>/config.json`,
/// `bundles/<cid>/scratch` (the container's writable /tmp), `logs/<instance>.out|.err`,
/// `shims/<cid>.json` (what the agent knows of a shim), `exits/<cid>.json` (written by the shim),
/// `pids/<cid>` (runc's pid file), and `lease` (see ``LeaseFile``). A container id `cid` is
/// `<instance>.<incarnation>`.
public final class RuncRuntime: ContainerRuntime {
    public var kind: String { "runc" }
    public let runcPath: String
    public let shimPath: String
    public let stateDirectory: String
    public let cacheDirectory: String
    /// cgroup parent for this card's containers, e.g. `backplane/c-0001-000000`.
    public let cgroupParent: String
    public let leaseFile: LeaseFile
    public var lease: LeaseFile? { leaseFile }
    /// The host id range containers' ids map to (a user namespace: root inside is an
    /// unprivileged uid outside); nil runs containers without one.
    public let idMapping: IDMapping?
    let logger = Logger(label: "backplane.card.runc")

    struct Tracked: Sendable {
        var handle: ContainerHandle
        var shim: ProcessReference
    }
    /// By container id; a container is forgotten once its exit has been handled.
    private let tracked = Mutex<[String: Tracked]>([:])
    /// One exit watcher per container (see ``run()``).
    private let watchers = Jobs()
    /// Container ids whose start is under way.
    private let starting = Mutex<Set<String>>([])

    public init(stateDirectory: String, cacheDirectory: String, cgroupParent: String, runcPath: String? = nil, shimPath: String? = nil, lease: LeaseFile? = nil, idMapping: IDMapping? = .default) throws {
        guard let path = runcPath ?? Self.findRunc() else {
            throw RuntimeError("runc is not installed (Debian: apt-get install runc); use the process driver on machines without runc")
        }
        guard let shim = shimPath ?? Self.findShim() else {
            throw RuntimeError("backplane-shim was not found next to this executable or on PATH (it is built with `swift build`)")
        }
        self.runcPath = path
        self.shimPath = shim
        self.stateDirectory = stateDirectory
        self.cacheDirectory = cacheDirectory
        self.cgroupParent = cgroupParent
        self.leaseFile = lease ?? LeaseFile(path: (stateDirectory as NSString).appendingPathComponent("lease"))
        self.idMapping = idMapping
        if let idMapping, let problem = ImageStore(cacheDirectory: cacheDirectory).reachabilityProblem(forUID: idMapping.hostID) {
            throw RuntimeError(problem)
        }
        // Logs, specs (env secrets) and runc's state: for root only.
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        chmod(stateDirectory, 0o700)
        for dir in ["runc", "bundles", "logs", "pids", "shims", "exits"] {
            let path = (stateDirectory as NSString).appendingPathComponent(dir)
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            chmod(path, 0o700)
        }
    }

    public static func findRunc() -> String? {
        ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// `backplane-shim` next to the running executable (or the test bundle), else on PATH.
    public static func findShim() -> String? {
        let fm = FileManager.default
        var candidates: [String] = []
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append(((exe as NSString).deletingLastPathComponent as NSString).appendingPathComponent("backplane-shim"))
        }
        let argv0 = CommandLine.arguments.first ?? ""
        candidates.append(((argv0 as NSString).deletingLastPathComponent as NSString).appendingPathComponent("backplane-shim"))
        // A test bundle lives in the build directory next to the products.
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            candidates.append(((bundle.bundlePath as NSString).deletingLastPathComponent as NSString).appendingPathComponent("backplane-shim"))
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            candidates.append("\(dir)/backplane-shim")
        }
        return candidates.first { fm.isExecutableFile(atPath: $0) }
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

    public var runcRoot: String { (stateDirectory as NSString).appendingPathComponent("runc") }
    private func path(_ dir: String, _ name: String) -> String { (stateDirectory as NSString).appendingPathComponent("\(dir)/\(name)") }
    private func bundle(_ cid: String) -> String { path("bundles", cid) }
    private func log(_ id: String, _ stream: String) -> String { path("logs", "\(id).\(stream)") }
    private func cgroupsPath(_ cid: String) -> String { "/\(cgroupParent)/\(cid)" }

    /// What the agent records about a shim, to adopt its container after a restart.
    struct ShimRecord: Codable {
        var instance: String
        var incarnation: UInt64
        var shimPID: Int32
        var cgroupPath: String
        var workload: String?
        var liveness: Probe?
        var readiness: Probe?
    }

    /// What the shim records when the container ended.
    struct ExitRecord: Codable {
        var code: Int32
        var oomKilled: Bool
        var fenced: Bool
        var started: Bool
    }

    public func start(_ spec: ContainerSpec, onExit: @escaping @Sendable (ContainerExit) -> Void) async throws -> ContainerHandle {
        guard ContainerID.isValidInstanceID(spec.id) else {
            throw RuntimeError("instance id '\(spec.id)' may use only letters, digits, '-' and '_'")
        }
        guard !watchers.isFinished else { throw RuntimeError("this runtime was shut down; it starts nothing") }
        let cid = ContainerID.make(instance: spec.id, incarnation: spec.incarnation)
        // Idempotent: the same incarnation already runs (a start sent again after a BMC restart).
        if let existing = tracked.withLock({ $0[cid] }) { return existing.handle }
        // Or it is being started right now (the BMC heard nothing and sent the start again): one
        // start per container id at a time; a second waits and returns the first's container.
        while !starting.withLock({ $0.insert(cid).inserted }) {
            try await Task.sleep(for: .milliseconds(20))  // the first start ends in its own time
            if let existing = tracked.withLock({ $0[cid] }) { return existing.handle }
        }
        defer { starting.withLock { _ = $0.remove(cid) } }
        if let existing = tracked.withLock({ $0[cid] }) { return existing.handle }
        // Any other incarnation of this instance is stale: it never runs beside the new one.
        for other in tracked.withLock({ $0.values.filter { $0.handle.id == spec.id } }) {
            logger.info("stopping a stale incarnation before starting another", metadata: ["instance": "\(spec.id)", "stale": "\(other.handle.incarnation)", "new": "\(spec.incarnation)"])
            try await stop(spec.id, incarnation: other.handle.incarnation, grace: .zero)
        }
        guard leaseFile.isValid() else {
            throw RuntimeError("this card holds no valid lease from the BMC, so it starts nothing (the lease lapsed or was never granted)")
        }
        let fm = FileManager.default
        let rootfs = try await ImageStore(cacheDirectory: cacheDirectory).rootfs(of: spec.image)
        let bundle = bundle(cid)
        let scratch = (bundle as NSString).appendingPathComponent("scratch")
        try fm.createDirectory(atPath: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        chmod(bundle, 0o700)
        if let idMapping, chown(scratch, idMapping.hostID, idMapping.hostID) != 0 {
            throw RuntimeError("cannot give the scratch directory to the container's root (uid \(idMapping.hostID)): \(String(cString: strerror(errno)))")
        }
        let cgroups = cgroupsPath(cid)
        let config = OCIConfig.make(spec: spec, rootfs: rootfs, scratch: scratch, cgroupsPath: cgroups, mapping: idMapping)
        try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: (bundle as NSString).appendingPathComponent("config.json")))
        let stdoutPath = log(spec.id, "out")
        let stderrPath = log(spec.id, "err")
        for file in [stdoutPath, stderrPath] { fm.createFile(atPath: file, contents: nil, attributes: [.posixPermissions: 0o600]) }
        let pidFile = path("pids", cid)
        let exitFile = path("exits", cid)
        try? fm.removeItem(atPath: pidFile)
        try? fm.removeItem(atPath: exitFile)

        let shim = try ShimProcess.spawn(shimPath, arguments: [
            "--id", cid, "--lease", leaseFile.path, "--exit", exitFile, "--stdout", stdoutPath, "--stderr", stderrPath,
            "--runc", runcPath, "--runc-root", runcRoot, "--cgroup", cgroups, "--",
            runcPath, "--root", runcRoot, "run", "--keep", "--bundle", bundle, "--pid-file", pidFile, cid,
        ])
        try JSONEncoder().encode(ShimRecord(instance: spec.id, incarnation: spec.incarnation, shimPID: shim.pid, cgroupPath: cgroups, workload: spec.workload, liveness: spec.liveness, readiness: spec.readiness))
            .write(to: URL(fileURLWithPath: path("shims", "\(cid).json")), options: .atomic)

        // runc writes the pid file once the container's init process exists; the shim writes the
        // exit file if it ended (or never started).
        let deadline = ContinuousClock.now + .seconds(10)
        var pid: Int32?
        while ContinuousClock.now < deadline {
            if let p = Self.readPID(pidFile) { pid = p; break }
            if fm.fileExists(atPath: exitFile) { break }
            try await Task.sleep(for: .milliseconds(5))  // polling files runc and the shim write
        }
        if pid == nil, let p = Self.readPID(pidFile) { pid = p }
        guard let pid else {
            let ended = fm.fileExists(atPath: exitFile)
            if !ended { shim.signal(SIGTERM) }
            _ = await waitForExitFile(exitFile, shim: shim, timeout: .seconds(5))
            let record = readExit(exitFile)
            cleanUp(cid)
            let err = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
            if record?.started == false && record?.fenced == true {
                throw RuntimeError("\(spec.id) was not started: this card's lease lapsed")
            }
            throw RuntimeError(ended ? "runc failed to start \(spec.id): \(err.suffix(500))" : "runc did not start \(spec.id) within 10 s")
        }
        var handle = ContainerHandle(id: spec.id, incarnation: spec.incarnation, containerID: cid, workload: spec.workload, pid: pid, cgroupPath: cgroups, stdoutPath: stdoutPath, stderrPath: stderrPath)
        handle.liveness = spec.liveness
        handle.readiness = spec.readiness
        track(handle, shim: shim, onExit: onExit)
        return handle
    }

    private static func readPID(_ file: String) -> Int32? {
        (try? String(contentsOfFile: file, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    private func readExit(_ file: String) -> ExitRecord? {
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        return try? JSONDecoder().decode(ExitRecord.self, from: data)
    }

    /// Watches for the shim's exit file; reports the exit once and forgets the container.
    private func track(_ handle: ContainerHandle, shim: ProcessReference, onExit: @escaping @Sendable (ContainerExit) -> Void) {
        let cid = handle.containerID
        let exitFile = path("exits", cid)
        tracked.withLock { $0[cid] = Tracked(handle: handle, shim: shim) }
        watchers.add(cid) { [weak self] in
            guard let self else { return }
            let recorded = await self.waitForExitFile(exitFile, shim: shim, timeout: nil)
            guard !Task.isCancelled else { return }  // abandoned: the shim carries on alone
            let exit: ContainerExit
            if let record = self.readExit(exitFile) {
                exit = ContainerExit(id: handle.id, incarnation: handle.incarnation, code: record.code, oomKilled: record.oomKilled, fenced: record.fenced)
            } else {
                // The shim died without recording the exit: nothing supervises the container
                // any more, so make sure it is gone.
                if !recorded { self.logger.warning("shim died without an exit record; killing its container", metadata: ["container": "\(cid)"]) }
                await self.forceRemove(cid)
                exit = ContainerExit(id: handle.id, incarnation: handle.incarnation, code: -1, oomKilled: false, fenced: false, reason: "its supervisor (shim) died")
            }
            self.cleanUp(cid)
            onExit(exit)
            _ = self.tracked.withLock { $0.removeValue(forKey: cid) }
        }
    }

    /// Waits until the exit file exists (true) or the shim is gone without one (false). Reaps the
    /// shim when it is this process's child.
    private func waitForExitFile(_ file: String, shim: ProcessReference, timeout: Duration?) async -> Bool {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        var goneSince: ContinuousClock.Instant?
        while !Task.isCancelled {
            if FileManager.default.fileExists(atPath: file) {
                // The shim exits right after writing it: reap it (when it is this process's
                // child), so no zombie is left.
                for _ in 0..<50 where ShimProcess.isAlive(shim) {
                    try? await Task.sleep(for: .milliseconds(10))  // the shim, another process, is exiting
                }
                return true
            }
            if !ShimProcess.isAlive(shim) {
                // It may have written the file just before exiting: look once more, a moment later.
                if let since = goneSince, ContinuousClock.now - since > .milliseconds(200) {
                    return FileManager.default.fileExists(atPath: file)
                }
                goneSince = goneSince ?? ContinuousClock.now
            }
            if let deadline, ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(50))  // polling a file another process writes
        }
        return false
    }

    /// The container ended: its bundle, pid, shim and exit records go (the shim already removed
    /// the container from runc's state and its cgroups).
    private func cleanUp(_ cid: String) {
        let fm = FileManager.default
        for file in [bundle(cid), path("pids", cid), path("exits", cid), path("shims", "\(cid).json")] where fm.fileExists(atPath: file) {
            do { try fm.removeItem(atPath: file) } catch { logger.warning("cannot remove \(file): \(error)") }
        }
    }

    /// Kills and deletes a container with no shim, and removes its cgroups.
    private func forceRemove(_ cid: String) async {
        await runcLogged(["kill", "--all", cid, "KILL"])
        await runcLogged(["delete", "--force", cid])
        removeCgroup(cid)
    }

    public func stop(_ id: String, incarnation: UInt64?, grace: Duration) async throws {
        let matching = tracked.withLock { $0.values.filter { $0.handle.id == id && (incarnation == nil || $0.handle.incarnation == incarnation) } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for entry in matching {
                group.addTask { try await self.stop(entry, grace: grace) }
            }
            try await group.waitForAll()
        }
        // A container of this instance that runc knows but nothing tracks (left by a crash).
        for cid in try await runcList() where ContainerID.parse(cid)?.instance == id && (incarnation == nil || ContainerID.parse(cid)?.incarnation == incarnation) {
            if tracked.withLock({ $0[cid] != nil }) { continue }
            await forceRemove(cid)
            cleanUp(cid)
        }
    }

    private func stop(_ entry: Tracked, grace: Duration) async throws {
        let cid = entry.handle.containerID
        if grace > .zero {
            await runcLogged(["kill", cid, "TERM"])
            if await ended(cid, within: grace) { return }
        }
        await runcLogged(["kill", "--all", cid, "KILL"])
        if await ended(cid, within: .seconds(10)) { return }
        // The shim does not finish: kill it; its watcher then removes the container by hand.
        logger.warning("the shim did not finish after KILL; killing it", metadata: ["container": "\(cid)", "shim": "\(entry.shim.pid)"])
        entry.shim.signal(SIGKILL)
        if await !ended(cid, within: .seconds(10)) {
            throw RuntimeError("container \(cid) did not end: its shim was killed but no exit was handled (is the runtime's run() running?)")
        }
    }

    public func resize(_ id: String, incarnation: UInt64?, to resources: Resources) async throws {
        guard (1...Resources.maximum.cpuMillis).contains(resources.cpuMillis) else {
            throw RuntimeError("cpu: \(resources.cpuMillis)m is out of range (1m to \(Resources.maximum.cpuMillis)m)")
        }
        guard (4 << 20...Resources.maximum.memoryBytes).contains(resources.memoryBytes) else {
            throw RuntimeError("memory: \(resources.memoryBytes) bytes is out of range (4 MiB to \(Resources.maximum.memoryBytes))")
        }
        let entry = tracked.withLock { $0.values.first { $0.handle.id == id && (incarnation == nil || $0.handle.incarnation == incarnation) } }
        guard let entry else { throw RuntimeError("no running container of instance \(id)\(incarnation.map { " incarnation \($0)" } ?? "") to resize") }
        let memory = String(resources.memoryBytes)
        var arguments = ["update",
                         "--cpu-period", String(OCIConfig.cpuPeriod), "--cpu-quota", String(OCIConfig.cpuQuota(millis: resources.cpuMillis)),
                         "--cpu-share", String(OCIConfig.cpuShares(millis: resources.cpuMillis)),
                         "--memory", memory]
        // cgroup v1: memory + swap may not be below memory; keep the container swap-free, as
        // started (no swap limit was set, so it is the same as memory's after this).
        if !CgroupPaths.isV2, FileManager.default.fileExists(atPath: "\(CgroupPaths.root)/memory\(entry.handle.cgroupPath)/memory.memsw.limit_in_bytes") {
            arguments += ["--memory-swap", memory]
        }
        do {
            _ = try await runc(arguments + [entry.handle.containerID])
        } catch {
            throw RuntimeError("runc update of \(entry.handle.containerID) to \(resources) failed: \(error)")
        }
        logger.info("resized in place", metadata: ["container": "\(entry.handle.containerID)", "to": "\(resources)"])
    }

    /// Whether the container's exit has been handled within `limit` (its watcher forgot it).
    private func ended(_ cid: String, within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while tracked.withLock({ $0[cid] != nil }) {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(20))  // the shim, another process, ends it
        }
        return true
    }

    /// Runs the exit watchers, one per container, until ``shutdown()`` or ``abandon()``.
    public func run() async {
        await watchers.run()
    }

    /// Stops watching and leaves every container to its shim, as a killed agent would (a later
    /// runtime on the same state adopts them). ``run()`` returns.
    public func abandon() {
        watchers.cancelAll()
        watchers.finish()
    }

    public func shutdown() async {
        let all = tracked.withLock { Array($0.values) }
        await withTaskGroup(of: Void.self) { group in
            for entry in all {
                group.addTask {
                    do {
                        try await self.stop(entry, grace: .seconds(2))
                    } catch {
                        self.logger.error("cannot stop a container at shutdown", metadata: ["container": "\(entry.handle.containerID)", "error": "\(error)"])
                    }
                }
            }
        }
        do {
            for cid in try await runcList() {
                await forceRemove(cid)
                cleanUp(cid)
            }
        } catch {
            logger.error("cannot list the containers left at shutdown", metadata: ["error": "\(error)"])
        }
        // A container that could not be stopped (a process stuck in the kernel, a hung runc)
        // must not keep the card from ending: its watcher is let go (its shim still fences it).
        let stuck = tracked.withLock { Array($0.keys) }
        if !stuck.isEmpty {
            logger.error("containers still running at shutdown; left to their shims", metadata: ["containers": "\(stuck.sorted())"])
            watchers.cancelAll()
        }
        watchers.finish()
        // The card's cgroup parent, and its own parent when that is now empty too.
        var path = "/\(cgroupParent)"
        while path != "/" && !path.isEmpty {
            for dir in CgroupPaths.directories(for: path) where FileManager.default.fileExists(atPath: dir) { rmdir(dir) }
            path = (path as NSString).deletingLastPathComponent
        }
    }

    public func running() -> [ContainerHandle] {
        tracked.withLock { $0.values.map(\.handle) }.sorted { $0.containerID < $1.containerID }
    }

    public func list() async throws -> [String] {
        Array(Set(try await runcList().compactMap { ContainerID.parse($0)?.instance })).sorted()
    }

    func runcList() async throws -> [String] {
        try await runc(["list", "--quiet"]).split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }

    public func adopt(onExit: @escaping @Sendable (ContainerExit) -> Void) async throws -> AdoptionReport {
        var report = AdoptionReport()
        let fm = FileManager.default
        let known = tracked.withLock { Set($0.keys) }
        var alive: Set<String> = []
        for file in (try? fm.contentsOfDirectory(atPath: path("shims", ""))) ?? [] where file.hasSuffix(".json") {
            let cid = String(file.dropLast(5))
            if known.contains(cid) { alive.insert(cid); continue }
            guard let data = fm.contents(atPath: path("shims", file)), let shim = try? JSONDecoder().decode(ShimRecord.self, from: data) else {
                logger.warning("unreadable shim record; removing its container", metadata: ["container": "\(cid)"])
                await forceRemove(cid)
                cleanUp(cid)
                report.removed.append(cid)
                continue
            }
            let exitFile = path("exits", cid)
            if let exit = readExit(exitFile) {
                // It ended while no agent was watching (fenced, or by itself).
                report.ended.append(ContainerExit(id: shim.instance, incarnation: shim.incarnation, code: exit.code, oomKilled: exit.oomKilled, fenced: exit.fenced))
                cleanUp(cid)
                continue
            }
            guard let shimProcess = ShimProcess.find(shim.shimPID, container: cid), let pid = Self.readPID(path("pids", cid)), kill(pid, 0) == 0 else {
                logger.warning("container without a live shim; removing it", metadata: ["container": "\(cid)"])
                await forceRemove(cid)
                cleanUp(cid)
                report.ended.append(ContainerExit(id: shim.instance, incarnation: shim.incarnation, code: -1, oomKilled: false, fenced: false, reason: "its supervisor (shim) died"))
                continue
            }
            var handle = ContainerHandle(id: shim.instance, incarnation: shim.incarnation, containerID: cid, workload: shim.workload ?? "", pid: pid, cgroupPath: shim.cgroupPath, stdoutPath: log(shim.instance, "out"), stderrPath: log(shim.instance, "err"))
            handle.liveness = shim.liveness
            handle.readiness = shim.readiness
            track(handle, shim: shimProcess, onExit: onExit)
            report.adopted.append(handle)
            alive.insert(cid)
        }
        // runc containers that no shim supervises, and bundles of nothing.
        for cid in try await runcList() where !alive.contains(cid) {
            await forceRemove(cid)
            cleanUp(cid)
            report.removed.append(cid)
        }
        for cid in (try? fm.contentsOfDirectory(atPath: path("bundles", ""))) ?? [] where !alive.contains(cid) {
            removeCgroup(cid)
            cleanUp(cid)
            if !report.removed.contains(cid) { report.removed.append(cid) }
        }
        return report
    }

    public func exec(_ handle: ContainerHandle, command: [String], timeout: Duration) async -> Bool {
        await ProbeCommand.run(runcPath, ["--root", runcRoot, "exec", handle.containerID] + command, timeout: timeout)
    }

    /// Removes the container's cgroup directories (the shim does, unless it was killed first).
    private func removeCgroup(_ cid: String) {
        for dir in CgroupPaths.directories(for: cgroupsPath(cid)) where FileManager.default.fileExists(atPath: dir) {
            rmdir(dir)
        }
    }

    /// Runs runc; a failure is logged (with runc's own message) and otherwise ignored: for
    /// kill/delete of something that may already be gone.
    private func runcLogged(_ arguments: [String]) async {
        do {
            try await runc(arguments)
        } catch {
            logger.debug("runc command failed", metadata: ["arguments": "\(arguments)", "error": "\(error)"])
        }
    }

    /// Runs runc to completion through swift-subprocess, reading stdout and stderr together.
    @discardableResult
    func runc(_ arguments: [String]) async throws -> String {
        let result = try await Subprocess.run(.path(FilePath(runcPath)), arguments: Arguments(["--root", runcRoot] + arguments),
                                              output: .string(limit: 4 << 20), error: .string(limit: 1 << 20))
        guard case .exited(0) = result.terminationStatus else {
            throw RuntimeError("runc \(arguments.joined(separator: " ")) failed (\(result.terminationStatus)): \(result.standardError)")
        }
        return result.standardOutput ?? ""
    }
}

/// Container ids on a card: `<instance>.<incarnation>` (instance ids never contain '.').
public enum ContainerID {
    public static func make(instance: String, incarnation: UInt64) -> String { "\(instance).\(incarnation)" }

    public static func parse(_ cid: String) -> (instance: String, incarnation: UInt64)? {
        guard let dot = cid.lastIndex(of: "."), let incarnation = UInt64(cid[cid.index(after: dot)...]) else { return nil }
        return (String(cid[..<dot]), incarnation)
    }

    static func isValidInstanceID(_ id: String) -> Bool {
        !id.isEmpty && id.count <= 200 && id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }
}

/// Where a cgroup path lives on this host (v1: one directory per controller; v2: one).
public enum CgroupPaths {
    public static let root = "/sys/fs/cgroup"
    public static var isV2: Bool { FileManager.default.fileExists(atPath: root + "/cgroup.controllers") }
    /// Every v1 hierarchy runc makes a container's path in (`systemd` and `unified`, the hybrid
    /// v2 mount, included: they must be cleaned up too).
    public static let v1Controllers = ["memory", "cpu", "cpuacct", "pids", "blkio", "cpuset", "devices", "freezer", "systemd", "unified"]

    /// A card's cgroup parent (relative to each hierarchy): `backplane/<name>-<hash of its
    /// absolute state directory>`, so two buses on one host whose cards have the same name never
    /// share (or clean up) each other's cgroups.
    public static func cardParent(stateDirectory: String) -> String {
        let absolute = URL(fileURLWithPath: stateDirectory).standardizedFileURL.path
        var hash: UInt32 = 2_166_136_261  // FNV-1a
        for byte in absolute.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return "backplane/\((absolute as NSString).lastPathComponent)-\(String(hash, radix: 16))"
    }

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
