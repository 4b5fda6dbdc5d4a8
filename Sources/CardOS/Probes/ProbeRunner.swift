import BackplaneModel
import Foundation
import Logging
import Synchronization

/// Runs each instance's liveness and readiness probes on its card (as a kubelet does): every
/// period after the initial delay, one check with a timeout. `failureThreshold` consecutive
/// liveness failures call `onLivenessFailure` (the agent restarts the instance); readiness is
/// kept per container for the heartbeat report.
///
/// Lifetime: ``watch(_:liveness:readiness:exec:)`` starts an instance's checks as a job of
/// ``run()``; ``forget(instance:incarnation:)`` (on exit) or ``stopAll()`` ends them.
public final class ProbeRunner: Sendable {
    /// Runs a command inside the container; true when it exited 0 within the timeout.
    public typealias Exec = @Sendable (_ command: [String], _ timeout: Duration) async -> Bool

    /// Readiness verdicts by container (nil: not ready yet, or no readiness probe).
    private let verdicts = Mutex<[String: Bool?]>([:])
    private let jobs = Jobs()
    private let onLivenessFailure: @Sendable (_ handle: ContainerHandle, _ reason: String) async -> Void
    private let logger = Logger(label: "backplane.card.probes")

    public init(onLivenessFailure: @escaping @Sendable (_ handle: ContainerHandle, _ reason: String) async -> Void) {
        self.onLivenessFailure = onLivenessFailure
    }

    /// Probes are kept per instance and incarnation.
    static func key(_ handle: ContainerHandle) -> String { ContainerID.make(instance: handle.id, incarnation: handle.incarnation) }

    /// The readiness verdict of an instance's incarnation (nil: no readiness probe).
    public func ready(instance: String, incarnation: UInt64) -> Bool? {
        verdicts.withLock { $0[ContainerID.make(instance: instance, incarnation: incarnation)] ?? nil }
    }

    public func watch(_ handle: ContainerHandle, liveness: Probe?, readiness: Probe?, exec: @escaping Exec) {
        guard liveness != nil || readiness != nil else { return }
        let cid = Self.key(handle)
        // Not ready until its first readiness check passes.
        verdicts.withLock { $0[cid] = readiness == nil ? .some(nil) : .some(false) }
        jobs.add(cid) { [weak self] in
            await withTaskGroup(of: Void.self) { group in
                if let liveness {
                    group.addTask { await self?.loop(handle, liveness, exec: exec, isLiveness: true) }
                }
                if let readiness {
                    group.addTask { await self?.loop(handle, readiness, exec: exec, isLiveness: false) }
                }
            }
        }
    }

    public func forget(instance: String, incarnation: UInt64) {
        let cid = ContainerID.make(instance: instance, incarnation: incarnation)
        verdicts.withLock { _ = $0.removeValue(forKey: cid) }
        jobs.cancel(cid)
    }

    /// Ends every instance's checks and ``run()``.
    public func stopAll() {
        verdicts.withLock { $0.removeAll() }
        jobs.cancelAll()
        jobs.finish()
    }

    /// Runs the checks (and the restarts they call for) until ``stopAll()``.
    public func run() async {
        await jobs.run()
    }

    private func loop(_ handle: ContainerHandle, _ probe: Probe, exec: Exec, isLiveness: Bool) async {
        var failures = 0
        do {
            try await Task.sleep(for: .seconds(probe.initialDelaySeconds))  // the probe's own schedule
            while !Task.isCancelled {
                let (passed, detail) = await Self.check(probe, exec: exec)
                failures = passed ? 0 : failures + 1
                if isLiveness {
                    if failures >= probe.failureThreshold {
                        let reason = "liveness probe (\(probe.description)) failed \(failures) time(s): \(detail)"
                        logger.notice("restarting an instance whose liveness probe failed", metadata: ["container": "\(handle.containerID)", "reason": "\(reason)"])
                        // Its own job: the restart ends this instance and so cancels these
                        // checks, and must not be cancelled with them.
                        jobs.add { await self.onLivenessFailure(handle, reason) }
                        return
                    }
                } else {
                    // Ready after one pass; unready after failureThreshold failures in a row.
                    let verdict: Bool? = passed ? true : failures >= probe.failureThreshold ? false : nil
                    if let verdict {
                        verdicts.withLock { if $0[Self.key(handle)] != nil { $0[Self.key(handle)] = .some(verdict) } }
                    }
                }
                try await Task.sleep(for: .seconds(probe.periodSeconds))  // the probe's period
            }
        } catch {
            return  // cancelled: the instance ended
        }
    }

    /// One check: whether it passed, and why not.
    static func check(_ probe: Probe, exec: Exec) async -> (Bool, String) {
        let timeout = Duration.seconds(probe.timeoutSeconds)
        switch probe.check {
        case .exec(let command):
            return await exec(command, timeout) ? (true, "") : (false, "command failed or timed out after \(probe.timeoutSeconds) s")
        case .tcp(let port):
            let error = await HostProbe.connect(port: port, request: nil, timeout: timeout)
            return (error == nil, error ?? "")
        case .http(let port, let path):
            let error = await HostProbe.connect(port: port, request: "GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\nUser-Agent: backplane-probe\r\n\r\n", timeout: timeout)
            return (error == nil, error ?? "")
        }
    }
}

/// TCP and HTTP checks against the card's own host (loopback), on a thread of their own so a
/// slow peer never holds a cooperative thread.
enum HostProbe {
    /// nil when the port accepted (and, with a request, answered a 2xx or 3xx status line).
    static func connect(port: Int, request: String?, timeout: Duration) async -> String? {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: blockingCheck(port: port, request: request, timeoutMillis: Int32(min(600_000, timeout.components.seconds * 1000))))
            }
            thread.start()
        }
    }

    static func blockingCheck(port: Int, request: String?, timeoutMillis: Int32) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return "socket: \(String(cString: strerror(errno)))" }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeoutMillis))
        func wait(_ events: Int16) -> Bool {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return false }
            var p = pollfd(fd: fd, events: events, revents: 0)
            return poll(&p, 1, Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)) == 1
        }
        if rc != 0 {
            guard errno == EINPROGRESS, wait(Int16(POLLOUT)) else { return "connect to :\(port) timed out or failed" }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error != 0 { return "connect to :\(port): \(String(cString: strerror(error)))" }
        }
        guard let request else { return nil }
        let sent = request.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        guard sent > 0 else { return "cannot send the request to :\(port)" }
        var buffer = [UInt8](repeating: 0, count: 512)
        var received = 0
        while received < 12, wait(Int16(POLLIN)) {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + received, 512 - received, 0) }
            if n <= 0 { break }
            received += n
        }
        let head = String(decoding: buffer[0..<received], as: UTF8.self)
        let parts = head.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
            return received == 0 ? "no HTTP answer from :\(port) within the timeout" : "not an HTTP answer from :\(port)"
        }
        return (200..<400).contains(status) ? nil : "HTTP status \(status) from :\(port)"
    }
}
