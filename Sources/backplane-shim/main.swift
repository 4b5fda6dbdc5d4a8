// backplane-shim: the supervisor of one container, in the spirit of containerd's shim.
//
// CardOS starts one per container. It detaches from the card agent (its own session, so a
// Ctrl-C or the agent's death does not reach it), runs the container's `runc run` as its child,
// and then, until the container ends:
//   - enforces the card's lease: it reads the lease file (a CLOCK_MONOTONIC deadline in
//     nanoseconds, renewed by the card agent from the BMC's heartbeat grants) every 50 ms, and
//     when the deadline has passed it fences the container (`runc kill <id> KILL`), whether the
//     agent is alive, dead or frozen;
//   - records how the container ended in the exit file (JSON, written atomically), after it has
//     deleted the container from runc's state and removed its cgroups, so nothing is left even
//     when no agent is there to clean up.
// A container whose lease has already lapsed is never started.
//
// Usage (CardOS builds this line; people do not run it by hand):
//   backplane-shim --id CID --lease FILE --exit FILE --stdout FILE --stderr FILE
//                  [--runc PATH --runc-root DIR] [--cgroup PATH] -- COMMAND [ARG...]
// Without --runc it runs COMMAND in its own process group and fences by killing that group.
//
// Glibc only (no Foundation): each shim costs about a megabyte of memory.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

nonisolated(unsafe) var terminateRequested: sig_atomic_t = 0

struct Options {
    var id = ""
    var lease = ""
    var exitFile = ""
    var stdoutPath = "/dev/null"
    var stderrPath = "/dev/null"
    var runc: String?
    var runcRoot: String?
    var cgroup: String?
    var command: [String] = []
}

func fail(_ message: String) -> Never {
    let text = "backplane-shim: \(message)\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
    exit(2)
}

func parse(_ args: [String]) -> Options {
    var o = Options()
    var i = 1
    func value() -> String {
        guard i + 1 < args.count else { fail("\(args[i]) needs a value") }
        i += 1
        return args[i]
    }
    while i < args.count {
        switch args[i] {
        case "--id": o.id = value()
        case "--lease": o.lease = value()
        case "--exit": o.exitFile = value()
        case "--stdout": o.stdoutPath = value()
        case "--stderr": o.stderrPath = value()
        case "--runc": o.runc = value()
        case "--runc-root": o.runcRoot = value()
        case "--cgroup": o.cgroup = value()
        case "--":
            o.command = Array(args[(i + 1)...])
            i = args.count
            continue
        default: fail("unknown argument \(args[i])")
        }
        i += 1
    }
    if o.id.isEmpty || o.lease.isEmpty || o.exitFile.isEmpty || o.command.isEmpty { fail("--id, --lease, --exit and a command are required") }
    return o
}

func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 256)
    let n = read(fd, &buffer, 255)
    guard n > 0 else { return nil }
    return String(decoding: buffer[0..<n], as: UTF8.self)
}

/// The lease deadline; 0 (lapsed) when the file is missing or unreadable: no lease, no running.
func leaseDeadline(_ path: String) -> UInt64 {
    guard let text = readSmallFile(path) else { return 0 }
    return UInt64(text.split(whereSeparator: { $0 == "\n" || $0 == " " }).first ?? "") ?? 0
}

func writeAtomically(_ path: String, _ text: String) {
    let tmp = path + ".tmp"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return }
    _ = text.withCString { write(fd, $0, strlen($0)) }
    fsync(fd)
    close(fd)
    rename(tmp, path)
}

/// Spawns `argv` with stdout/stderr to the given files (appended), in its own process group.
func spawn(_ argv: [String], stdout: String, stderr: String, newGroup: Bool) -> pid_t? {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_APPEND, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_APPEND, 0o600)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var defaults = sigset_t()
    sigfillset(&defaults)
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setsigmask(&attributes, &empty)
    var flags = Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
    if newGroup {
        flags |= Int16(POSIX_SPAWN_SETPGROUP)
        posix_spawnattr_setpgroup(&attributes, 0)
    }
    posix_spawnattr_setflags(&attributes, flags)
    var cArgs = argv.map { strdup($0) }
    cArgs.append(nil)
    defer { for p in cArgs { free(p) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, environ)
    return rc == 0 ? pid : nil
}

/// Runs a short helper command (runc kill/delete) to completion; whether it exited 0.
@discardableResult
func runQuietly(_ argv: [String]) -> Bool {
    guard let pid = spawn(argv, stdout: "/dev/null", stderr: "/dev/null", newGroup: false) else { return false }
    var status: Int32 = 0
    var reaped: pid_t
    repeat { reaped = waitpid(pid, &status, 0) } while reaped < 0 && errno == EINTR
    return reaped == pid && status == 0
}

func oomKills(cgroup: String?) -> Int64 {
    guard let cgroup else { return 0 }
    let v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0
    let file = v2 ? "/sys/fs/cgroup\(cgroup)/memory.events" : "/sys/fs/cgroup/memory\(cgroup)/memory.oom_control"
    let fd = open(file, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return 0 }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 4096)
    let n = read(fd, &buffer, 4095)
    guard n > 0 else { return 0 }
    for line in String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n") where line.hasPrefix("oom_kill ") {
        return Int64(line.dropFirst("oom_kill ".count)) ?? 0
    }
    return 0
}

/// Removes the container's cgroup in every hierarchy; with `parents`, also the card's parent and
/// `backplane` when they are now empty (a fenced card's agent may never come back to do it).
func removeCgroup(_ cgroup: String?, parents: Bool) {
    guard let cgroup, !cgroup.isEmpty else { return }
    var paths = [cgroup]
    if parents {
        var p = cgroup
        for _ in 0..<2 {
            guard let slash = p.lastIndex(of: "/"), slash != p.startIndex else { break }
            p = String(p[..<slash])
            paths.append(p)
        }
    }
    let v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0
    for path in paths {
        if v2 {
            rmdir("/sys/fs/cgroup\(path)")
        } else {
            for controller in ["memory", "cpu", "cpuacct", "pids", "blkio", "cpuset", "devices", "freezer", "systemd", "unified"] {
                rmdir("/sys/fs/cgroup/\(controller)\(path)")  // fails harmlessly while not empty
            }
        }
    }
}

/// Closes every inherited descriptor but stdin, stdout and stderr: a pipe the agent happened to
/// hold open must not live on in the shim and its container (a reader would never see EOF).
func closeInheritedDescriptors() {
    guard let dir = opendir("/proc/self/fd") else { return }
    var fds: [Int32] = []
    while let entry = readdir(dir) {
        let name = withUnsafePointer(to: entry.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
        if let fd = Int32(name), fd > 2 { fds.append(fd) }
    }
    let own = dirfd(dir)
    closedir(dir)
    for fd in fds where fd != own { close(fd) }
}

let options = parse(CommandLine.arguments)
closeInheritedDescriptors()
setsid()  // no terminal, no process group of the agent: Ctrl-C and the agent's death pass us by
signal(SIGINT, SIG_IGN)
signal(SIGHUP, SIG_IGN)
signal(SIGPIPE, SIG_IGN)
// SIGTERM to the shim: fence the container now and finish normally (exit file, cleanup).
signal(SIGTERM) { _ in terminateRequested = 1 }

nonisolated(unsafe) var child: pid_t?

/// Kills the container; whether the kill was delivered (runc refuses while the container is
/// still being created).
@MainActor func fence() -> Bool {
    if let runc = options.runc, let root = options.runcRoot {
        return runQuietly([runc, "--root", root, "kill", options.id, "KILL"])
    } else if let pid = child {
        return kill(-pid, SIGKILL) == 0
    }
    return false
}

var fenced = false
var code: Int32 = -1
if leaseDeadline(options.lease) <= monotonicNanoseconds() {
    fenced = true  // the lease lapsed before the container could start: never run it
} else if let pid = spawn(options.command, stdout: options.stdoutPath, stderr: options.stderrPath, newGroup: options.runc == nil) {
    child = pid
    var status: Int32 = 0
    var fenceSent: UInt64 = 0
    var fenceDelivered = false
    while true {
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid {
            let low = status & 0x7f
            code = low == 0 ? (status >> 8) & 0xff : 128 + low
            break
        }
        if r < 0 && errno != EINTR { break }
        let now = monotonicNanoseconds()
        if terminateRequested != 0 || leaseDeadline(options.lease) <= now {
            // Until a kill is delivered, every poll tries again: a container still being created
            // (slow under load, or in a user namespace) refuses the kill, and the BMC re-places
            // its instance only a fence margin (300 ms) after the lease lapsed. A fault test saw
            // two copies for 0.3 s when the retry came a second later.
            if !fenceDelivered || now - fenceSent > 1_000_000_000 {
                fenced = true
                fenceSent = now
                if fence() { fenceDelivered = true }
            }
        }
        usleep(50_000)
    }
} else {
    code = 127
}

let oom = oomKills(cgroup: options.cgroup) > 0  // read before runc deletes the cgroup
if let runc = options.runc, let root = options.runcRoot {
    runQuietly([runc, "--root", root, "delete", "--force", options.id])
}
removeCgroup(options.cgroup, parents: fenced)
writeAtomically(options.exitFile, "{\"code\":\(code),\"oomKilled\":\(oom),\"fenced\":\(fenced),\"started\":\(child != nil)}\n")
exit(0)
