/// A health check of an instance, run by its card (Kubernetes' probes): liveness failures restart
/// the instance; readiness says whether it should get work.
public struct Probe: Hashable, Sendable, Codable {
    public enum Check: Hashable, Sendable, Codable {
        /// A command run inside the container (`runc exec`); exit status 0 passes.
        case exec([String])
        /// A TCP connection to this port on the card's host (containers share its network).
        case tcp(port: Int)
        /// `GET path` on this port of the card's host; a 2xx or 3xx status passes.
        case http(port: Int, path: String)
    }

    public var check: Check
    /// Seconds between checks.
    public var periodSeconds: Int
    /// Seconds one check may take before it counts as failed.
    public var timeoutSeconds: Int
    /// Consecutive failures before the probe fails (liveness: the instance is restarted).
    public var failureThreshold: Int
    /// Seconds after the start before the first check.
    public var initialDelaySeconds: Int

    public static let periodRange = 1...3600
    public static let timeoutRange = 1...600
    public static let thresholdRange = 1...100
    public static let delayRange = 0...3600

    public init(check: Check, periodSeconds: Int = 5, timeoutSeconds: Int = 1, failureThreshold: Int = 3, initialDelaySeconds: Int = 0) {
        self.check = check
        self.periodSeconds = periodSeconds
        self.timeoutSeconds = timeoutSeconds
        self.failureThreshold = failureThreshold
        self.initialDelaySeconds = initialDelaySeconds
    }

    /// What is wrong with it, per field (under `prefix`, e.g. `probes.liveness.`).
    public func problems(prefix: String) -> [SpecError] {
        var errors: [SpecError] = []
        func fail(_ field: String, _ message: String) { errors.append(SpecError(field: prefix + field, message: message)) }
        switch check {
        case .exec(let command):
            if command.isEmpty || command[0].isEmpty || command.count > 64 || command.contains(where: { $0.utf8.count > 4096 }) {
                fail("exec", "must be a command list such as [\"cat\", \"/tmp/healthy\"] (1 to 64 arguments of at most 4096 bytes)")
            }
        case .tcp(let port):
            if !(1...65535).contains(port) { fail("tcp", "is \(port); a port is 1 to 65535") }
        case .http(let port, let path):
            if !(1...65535).contains(port) { fail("http.port", "is \(port); a port is 1 to 65535") }
            if !path.hasPrefix("/") || path.utf8.count > 2048 || path.contains(where: { $0.isWhitespace || $0.isNewline }) {
                fail("http.path", "must start with / and have no spaces (at most 2048 bytes)")
            }
        }
        if !Self.periodRange.contains(periodSeconds) { fail("period", "is \(periodSeconds); must be 1 to 3600 seconds") }
        if !Self.timeoutRange.contains(timeoutSeconds) { fail("timeout", "is \(timeoutSeconds); must be 1 to 600 seconds") }
        if !Self.thresholdRange.contains(failureThreshold) { fail("failure_threshold", "is \(failureThreshold); must be 1 to 100") }
        if !Self.delayRange.contains(initialDelaySeconds) { fail("initial_delay", "is \(initialDelaySeconds); must be 0 to 3600 seconds") }
        return errors
    }

    public var description: String {
        switch check {
        case .exec(let command): return "exec \(command.joined(separator: " "))"
        case .tcp(let port): return "tcp :\(port)"
        case .http(let port, let path): return "http :\(port)\(path)"
        }
    }
}
