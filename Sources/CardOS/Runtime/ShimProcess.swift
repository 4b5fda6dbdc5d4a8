import Foundation

/// Starting and recognising `backplane-shim` processes.
enum ShimProcess {
    /// Starts the shim with a clean signal state and /dev/null as stdin, stdout and stderr (it
    /// writes the container's output to the log files itself). The shim puts itself in its own
    /// session, so it outlives this process. The reference is taken before anything can reap the
    /// shim, so it is the shim's for good.
    static func spawn(_ executable: String, arguments: [String]) throws -> ProcessReference {
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
        guard let reference = ProcessReference(pid: pid) else {
            let reason = String(cString: strerror(errno))
            kill(pid, SIGKILL)  // our unreaped child: the PID is still its own
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            throw RuntimeError("cannot hold the shim by a pidfd (\(reason)); Linux 5.3 or later is needed")
        }
        return reference
    }

    /// Whether the shim is alive; reaps it once it has ended when it is this process's child.
    static func isAlive(_ shim: ProcessReference) -> Bool {
        if shim.hasExited {
            shim.reap()
            return false
        }
        return true
    }

    /// The live shim of container `cid` that an earlier run recorded as `pid`, or nil (it ended,
    /// or the PID now belongs to another process).
    static func find(_ pid: pid_t, container cid: String) -> ProcessReference? {
        guard let shim = ProcessReference(pid: pid), let args = shim.commandLine else { return nil }
        let isShim = args.first.map { ($0 as NSString).lastPathComponent == "backplane-shim" } == true && args.contains(cid)
        return isShim ? shim : nil
    }
}
