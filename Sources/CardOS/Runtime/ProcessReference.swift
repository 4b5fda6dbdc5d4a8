import CPidfd
import Foundation

/// One process, held by a pidfd: signals, liveness checks and reaping through it reach this
/// process and never a later one that reuses its PID. A bare PID is not a safe handle: PIDs wrap
/// around (pid_max is 32768 on many hosts, and every runc call spends several), and a `kill` or
/// `waitpid` by a PID kept too long hits whatever runs under it now — a `waitpid` may even steal
/// the exit status of another child of this process.
public final class ProcessReference: Sendable {
    public let pid: pid_t
    private let fd: Int32

    /// A reference to the process now running as `pid`, or nil when there is none. Open it while
    /// the PID cannot have been reused (a child not yet reaped), or check the process's identity
    /// afterwards (see ``commandLine``).
    public init?(pid: pid_t) {
        guard pid > 0 else { return nil }
        let fd = bp_pidfd_open(pid)
        guard fd >= 0 else { return nil }
        self.pid = pid
        self.fd = fd
    }

    /// Takes a duplicate of a pidfd someone else owns (swift-subprocess's, while it is valid).
    public init?(duplicating pidfd: Int32, pid: pid_t) {
        guard pidfd >= 0 else { return nil }
        let fd = fcntl(pidfd, F_DUPFD_CLOEXEC, 0)
        guard fd >= 0 else { return nil }
        self.pid = pid
        self.fd = fd
    }

    deinit { close(fd) }

    /// Whether the process has exited (it may still be an unreaped zombie).
    public var hasExited: Bool { bp_pidfd_exited(fd) != 0 }

    /// Sends `signal`; false when the process has already exited.
    @discardableResult
    public func signal(_ signal: Int32) -> Bool { bp_pidfd_send_signal(fd, signal) == 0 }

    /// Reaps the process when it is this process's child and has exited; its wait status, or nil
    /// (still running, not a child, or already reaped).
    @discardableResult
    public func reap() -> Int32? {
        var status: Int32 = 0
        return bp_pidfd_reap(fd, &status) == 1 ? status : nil
    }

    /// The process's argv, read after the pidfd was opened: when it still matches what was
    /// expected, the pidfd refers to that process (a process cannot change PID).
    public var commandLine: [String]? {
        guard !hasExited, let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The process's start time in clock ticks since boot (`/proc/PID/stat` field 22): with the
    /// PID, it names a process across restarts of the program that recorded it.
    public var startTime: UInt64? { Self.startTime(of: pid) }

    public static func startTime(of pid: pid_t) -> UInt64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command: state is field 3, starttime field 22.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }
}
