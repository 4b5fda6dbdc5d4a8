import Foundation

/// Starting and recognising `backplane-shim` processes.
enum ShimProcess {
    /// Starts the shim with a clean signal state and /dev/null as stdin, stdout and stderr (it
    /// writes the container's output to the log files itself). The shim puts itself in its own
    /// session, so it outlives this process.
    static func spawn(_ executable: String, arguments: [String]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let argv = [executable] + arguments
        var cArgs = argv.map { strdup($0) }
        cArgs.append(nil)
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, cArgs, environ)
        guard rc == 0 else { throw RuntimeError("cannot start \(executable): \(String(cString: strerror(rc)))") }
        return pid
    }

    /// Reaps the shim if it is this process's child and has ended (no zombie left behind).
    static func reap(_ pid: pid_t) {
        var status: Int32 = 0
        _ = waitpid(pid, &status, WNOHANG)
    }

    static func isAlive(_ pid: pid_t) -> Bool {
        reap(pid)
        guard kill(pid, 0) == 0 else { return false }
        // A zombie that is not ours still answers kill(0): look at its state.
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")"), stat.index(close, offsetBy: 2) < stat.endIndex,
           stat[stat.index(close, offsetBy: 2)] == "Z" {
            return false
        }
        return true
    }

    /// Whether `pid` is the shim of container `cid` (not a recycled PID).
    static func isShim(_ pid: pid_t, container cid: String) -> Bool {
        guard isAlive(pid), let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        let args = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return args.first.map { ($0 as NSString).lastPathComponent == "backplane-shim" } == true && args.contains(cid)
    }
}
