import CardOS
import Foundation
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Something a card left on the host after it stopped: the host's view, independent of what any
/// card or BMC process reported.
public struct Leftover: Hashable, Sendable, Codable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable, Codable {
        /// A runc container in the card's runc root (running or stopped, not deleted).
        case container
        /// A `backplane-shim` process whose command line names the card's state directory.
        case shim
        /// A cgroup directory under the card's cgroup parent (`backplane/<card>`).
        case cgroup
    }

    public var kind: Kind
    /// The card's name (its state directory's last component, also its cgroup parent's).
    public var card: String
    /// Container ID, shim PID or cgroup directory.
    public var id: String
    /// The runc root of a container, the command line of a shim; empty for a cgroup.
    public var detail: String

    public init(kind: Kind, card: String, id: String, detail: String = "") {
        self.kind = kind
        self.card = card
        self.id = id
        self.detail = detail
    }

    public var description: String {
        switch kind {
        case .container: return "\(card)  container  \(id)  (runc --root \(detail))"
        case .shim: return "\(card)  shim       pid \(id)  \(detail)"
        case .cgroup: return "\(card)  cgroup     \(id)"
        }
    }
}

/// Finds and removes what cards of a bus left on the host: runc containers in
/// `<state>/<card>/runtime/runc`, cgroup directories under `backplane/<card>` (every cgroup v1
/// controller CardOS uses, and the v2 hierarchy), and live `backplane-shim` processes whose
/// command line mentions `<state>/<card>`.
///
/// The host's paths are parameters so the scan can be tested on a fake tree without root.
public struct HostLeftovers: Sendable {
    /// Where cgroup hierarchies are mounted (`/sys/fs/cgroup`).
    public var cgroupRoot: String
    /// runc, or nil when it is not installed (then no container is looked for).
    public var runcPath: String?
    /// Where process directories are (`/proc`).
    public var procRoot: String

    public init(cgroupRoot: String = CgroupPaths.root, runcPath: String? = RuncRuntime.findRunc(), procRoot: String = "/proc") {
        self.cgroupRoot = cgroupRoot
        self.runcPath = runcPath
        self.procRoot = procRoot
    }

    /// The card names of a bus's state directory: its subdirectories that hold a card's runtime
    /// state or are named `card-*`.
    public static func cardNames(in stateDirectory: String) -> [String] {
        let fm = FileManager.default
        return ((try? fm.contentsOfDirectory(atPath: stateDirectory)) ?? []).filter { name in
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: stateDirectory + "/" + name, isDirectory: &isDirectory), isDirectory.boolValue else { return false }
            return name.hasPrefix("card-") || fm.fileExists(atPath: stateDirectory + "/" + name + "/runtime")
        }.sorted()
    }

    /// Everything the named cards of the bus in `stateDirectory` left: containers, then shims,
    /// then cgroups (innermost first, the order in which they can be removed).
    public func scan(stateDirectory: String, cardNames: [String]) async -> [Leftover] {
        var found: [Leftover] = []
        for card in cardNames {
            found += await containers(card: card, stateDirectory: stateDirectory)
        }
        for card in cardNames {
            found += shims(card: card, stateDirectory: stateDirectory)
        }
        for card in cardNames {
            let leaf = (CgroupPaths.cardParent(stateDirectory: "\(stateDirectory)/\(card)") as NSString).lastPathComponent
            found += cgroups(card: leaf).map { Leftover(kind: .cgroup, card: card, id: $0) }
        }
        return found
    }

    /// Removes `leftovers` (containers: `runc kill --all ID KILL`, then `runc delete --force`;
    /// shims: SIGKILL; cgroups: SIGKILL what is still in them, then rmdir, innermost first), then
    /// scans again. Returns what is still there.
    public func clean(_ leftovers: [Leftover], stateDirectory: String, cardNames: [String]) async -> [Leftover] {
        for leftover in leftovers where leftover.kind == .container {
            _ = await runc(root: leftover.detail, ["kill", "--all", leftover.id, "KILL"])
            _ = await runc(root: leftover.detail, ["delete", "--force", leftover.id])
        }
        // Each process is held by a pidfd and checked to be what the scan found before it is
        // killed: its PID may belong to another process by now.
        let shims = leftovers.filter { $0.kind == .shim }
        for shim in shims {
            guard let pid = pid_t(shim.id), let process = ProcessReference(pid: pid),
                  let argv = FileManager.default.contents(atPath: "\(procRoot)/\(pid)/cmdline"),
                  argv.split(separator: 0).map({ String(decoding: $0, as: UTF8.self) }).joined(separator: " ") == shim.detail else { continue }
            process.signal(SIGKILL)
        }
        await waitUntilGone(shims.compactMap { pid_t($0.id) })
        let cgroupDirectories = leftovers.filter { $0.kind == .cgroup }.map(\.id).sorted { $0.count > $1.count }
        for directory in cgroupDirectories {
            let held = Self.processes(inCgroup: directory).compactMap { ProcessReference(pid: $0) }
            let stillThere = Set(Self.processes(inCgroup: directory))
            for process in held where stillThere.contains(process.pid) { process.signal(SIGKILL) }
        }
        for directory in cgroupDirectories {
            await removeCgroup(directory)
        }
        // The bus's cgroup parent, when no card of it (or of anyone else) is left in it.
        for parent in Set(cgroupDirectories.compactMap { Self.busParent(of: $0) }) { rmdir(parent) }
        return await scan(stateDirectory: stateDirectory, cardNames: cardNames)
    }

    /// One line per leftover, indented, for people.
    public static func describe(_ leftovers: [Leftover]) -> String {
        leftovers.map { "  " + $0.description }.joined(separator: "\n")
    }

    // MARK: - Containers

    func containers(card: String, stateDirectory: String) async -> [Leftover] {
        let root = stateDirectory + "/" + card + "/runtime/runc"
        var isDirectory: ObjCBool = false
        guard runcPath != nil, FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else { return [] }
        guard let output = await runc(root: root, ["list", "--quiet"]) else {
            // runc could not say: its state directories are the next best evidence.
            let ids = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { !$0.hasPrefix(".") }
            return ids.sorted().map { Leftover(kind: .container, card: card, id: $0, detail: root) }
        }
        return output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .map { Leftover(kind: .container, card: card, id: $0, detail: root) }
    }

    /// Waits (up to 2 s) until the processes have exited: SIGKILL is delivered asynchronously,
    /// and a dying process still shows its command line for a moment.
    func waitUntilGone(_ pids: [pid_t]) async {
        let deadline = ContinuousClock.now + .seconds(2)
        var alive = pids
        while !alive.isEmpty && ContinuousClock.now < deadline {
            alive = alive.filter { Self.isRunning($0, procRoot: procRoot) }
            if !alive.isEmpty { try? await Task.sleep(for: .milliseconds(10)) }  // the kernel is tearing it down
        }
    }

    /// Whether a process exists and is not a zombie (`/proc/<pid>/stat`'s state field).
    static func isRunning(_ pid: pid_t, procRoot: String) -> Bool {
        guard let stat = try? String(contentsOfFile: "\(procRoot)/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].drop { $0 == " " }.first
        return state != "Z" && state != "X"
    }

    /// runc's stdout, or nil when it could not run or failed.
    func runc(root: String, _ arguments: [String]) async -> String? {
        guard let runcPath else { return nil }
        do {
            let result = try await Subprocess.run(.path(FilePath(runcPath)), arguments: Arguments(["--root", root] + arguments),
                                                  output: .string(limit: 1 << 20), error: .discarded)
            return result.terminationStatus.isSuccess ? result.standardOutput : nil
        } catch {
            return nil
        }
    }

    // MARK: - Shims

    func shims(card: String, stateDirectory: String) -> [Leftover] {
        let cardDirectory = stateDirectory + "/" + card
        let me = getpid()
        var found: [Leftover] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: procRoot)) ?? [] {
            guard let pid = pid_t(entry), pid != me,
                  let data = FileManager.default.contents(atPath: "\(procRoot)/\(entry)/cmdline"), !data.isEmpty else { continue }
            let argv = data.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            guard let program = argv.first, (program as NSString).lastPathComponent == "backplane-shim",
                  argv.contains(where: { Self.mentions($0, directory: cardDirectory) }) else { continue }
            found.append(Leftover(kind: .shim, card: card, id: "\(pid)", detail: argv.filter { !$0.isEmpty }.joined(separator: " ")))
        }
        return found.sorted { (Int($0.id) ?? 0) < (Int($1.id) ?? 0) }
    }

    /// Whether a command-line argument names `directory` or something in it (`/s/card-1` does
    /// not mention `/s/card-10`).
    static func mentions(_ argument: String, directory: String) -> Bool {
        argument.hasSuffix(directory) && (argument.count == directory.count || argument.dropLast(directory.count).last == "=")
            || argument.contains(directory + "/")
    }

    // MARK: - cgroups

    /// The card's cgroup parents that exist: v1 `<root>/<controller>/backplane/<leaf>`, v2
    /// `<root>/backplane/<leaf>` (`leaf`: see `CgroupPaths.cardParent(stateDirectory:)`).
    func cgroupParents(card: String) -> [String] {
        let candidates = CgroupPaths.v1Controllers.map { "\(cgroupRoot)/\($0)/backplane/\(card)" } + ["\(cgroupRoot)/backplane/\(card)"]
        return candidates.filter { Self.isDirectory($0) }
    }

    /// The card's cgroup directories, each before its parent.
    func cgroups(card: String) -> [String] {
        cgroupParents(card: card).flatMap { Self.subdirectoriesDeepestFirst($0) }
    }

    static func subdirectoriesDeepestFirst(_ directory: String) -> [String] {
        var result: [String] = []
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted() where isDirectory(directory + "/" + name) {
            result += subdirectoriesDeepestFirst(directory + "/" + name)
        }
        return result + [directory]
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func processes(inCgroup directory: String) -> [pid_t] {
        let text = (try? String(contentsOfFile: directory + "/cgroup.procs", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { pid_t($0.trimmingCharacters(in: .whitespaces)) }.filter { $0 > 0 && $0 != getpid() }
    }

    /// `…/backplane` for `…/backplane/<card>`, else nil.
    static func busParent(of directory: String) -> String? {
        let parent = (directory as NSString).deletingLastPathComponent
        return (parent as NSString).lastPathComponent == "backplane" ? parent : nil
    }

    /// rmdir, retried for up to 2 s while killed processes still leave the cgroup (EBUSY). A
    /// plain directory tree (a fake hierarchy in tests) is removed too.
    func removeCgroup(_ directory: String) async {
        let deadline = ContinuousClock.now + .seconds(2)
        while rmdir(directory) != 0 {
            switch errno {
            case ENOENT:
                return
            case EBUSY where ContinuousClock.now < deadline:
                try? await Task.sleep(for: .milliseconds(50))  // the kernel is still tearing down its processes
            case ENOTEMPTY where !directory.hasPrefix(CgroupPaths.root + "/"):
                try? FileManager.default.removeItem(atPath: directory)
                return
            default:
                return
            }
        }
    }
}
