import Foundation

/// Cumulative counters of one instance at one moment, as the kernel keeps them.
public struct CounterSample: Hashable, Sendable {
    /// Monotonic seconds (for rates).
    public var time: Double
    /// CPU time used since the instance started, in nanoseconds.
    public var cpuNanoseconds: UInt64
    public var memoryBytes: UInt64
    /// High-water mark of memory since the start, where the kernel keeps one.
    public var memoryPeakBytes: UInt64?
    /// Block I/O bytes read + written since the start, where counted.
    public var ioBytes: UInt64?
    public var pids: Int?
    /// Network bytes received + sent (all interfaces but loopback) when the instance has its own
    /// network namespace; nil when it shares the host's.
    public var networkBytes: UInt64?
    /// CFS bandwidth counters from `cpu.stat` (cgroup v1 and v2): periods, periods throttled and
    /// nanoseconds throttled since the start; nil without a CPU controller.
    public var cpuPeriods: UInt64?
    public var cpuThrottledPeriods: UInt64?
    public var cpuThrottledNanoseconds: UInt64?

    public init(time: Double, cpuNanoseconds: UInt64, memoryBytes: UInt64, memoryPeakBytes: UInt64? = nil, ioBytes: UInt64? = nil, pids: Int? = nil, networkBytes: UInt64? = nil) {
        self.time = time
        self.cpuNanoseconds = cpuNanoseconds
        self.memoryBytes = memoryBytes
        self.memoryPeakBytes = memoryPeakBytes
        self.ioBytes = ioBytes
        self.pids = pids
        self.networkBytes = networkBytes
    }
}

extension CounterSample {
    mutating func addThrottling(_ stat: [Substring: UInt64], nanosecondsKey: Substring, scale: UInt64) {
        guard let periods = stat["nr_periods"], let throttled = stat["nr_throttled"] else { return }
        cpuPeriods = periods
        cpuThrottledPeriods = throttled
        cpuThrottledNanoseconds = stat[nanosecondsKey].map { $0.multipliedReportingOverflow(by: scale).partialValue }
    }
}

/// Reads an instance's counters: from its cgroup (v1 controllers or the v2 unified hierarchy)
/// when it has one, else from `/proc/<pid>` (the process driver: the main process only).
public struct CounterReader: Sendable {
    public let root: String
    public let isV2: Bool

    public init(root: String = CgroupPaths.root, isV2: Bool = CgroupPaths.isV2) {
        self.root = root
        self.isV2 = isV2
    }

    /// Nil when the instance is gone (its cgroup or process no longer exists).
    public func read(cgroupPath: String, pid: Int32, at time: Double) -> CounterSample? {
        var sample = cgroupPath.isEmpty ? readProc(pid: pid, at: time) : (isV2 ? readV2(cgroupPath, at: time) : readV1(cgroupPath, at: time))
        if sample != nil, pid > 0 { sample!.networkBytes = Self.networkBytes(pid: pid) }
        return sample
    }

    func readV1(_ path: String, at time: Double) -> CounterSample? {
        guard let cpu = Self.integer("\(root)/cpuacct\(path)/cpuacct.usage"),
              let memory = Self.integer("\(root)/memory\(path)/memory.usage_in_bytes") else { return nil }
        // Page cache counts in usage_in_bytes; the working set is what the limit acts on
        // first, but usage is what the OOM killer compares, so report usage (as cAdvisor's `usage`).
        var io: UInt64?
        if let text = Self.text("\(root)/blkio\(path)/blkio.throttle.io_service_bytes") {
            for line in text.split(separator: "\n") {
                let f = line.split(separator: " ")
                if f.count == 2, f[0] == "Total" { io = UInt64(f[1]) }
            }
        }
        var sample = CounterSample(time: time, cpuNanoseconds: cpu, memoryBytes: memory, memoryPeakBytes: Self.integer("\(root)/memory\(path)/memory.max_usage_in_bytes"), ioBytes: io, pids: Self.integer("\(root)/pids\(path)/pids.current").map(Int.init))
        if let stat = Self.text("\(root)/cpu\(path)/cpu.stat") { sample.addThrottling(Self.fields(stat), nanosecondsKey: "throttled_time", scale: 1) }
        return sample
    }

    func readV2(_ path: String, at time: Double) -> CounterSample? {
        let dir = root + path
        guard let stat = Self.text("\(dir)/cpu.stat"), let memory = Self.integer("\(dir)/memory.current") else { return nil }
        var usec: UInt64 = 0
        for line in stat.split(separator: "\n") where line.hasPrefix("usage_usec ") { usec = UInt64(line.dropFirst(11)) ?? 0 }
        var io: UInt64?
        if let text = Self.text("\(dir)/io.stat") {
            var total: UInt64 = 0
            for field in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
                if field.hasPrefix("rbytes=") { total &+= UInt64(field.dropFirst(7)) ?? 0 }
                if field.hasPrefix("wbytes=") { total &+= UInt64(field.dropFirst(7)) ?? 0 }
            }
            io = total
        }
        var sample = CounterSample(time: time, cpuNanoseconds: usec * 1000, memoryBytes: memory, memoryPeakBytes: Self.integer("\(dir)/memory.peak"), ioBytes: io, pids: Self.integer("\(dir)/pids.current").map(Int.init))
        sample.addThrottling(Self.fields(stat), nanosecondsKey: "throttled_usec", scale: 1000)
        return sample
    }

    /// `key value` lines (`cpu.stat`) as a map.
    static func fields(_ text: String) -> [Substring: UInt64] {
        var out: [Substring: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 2, let v = UInt64(f[1]) { out[f[0]] = v }
        }
        return out
    }

    func readProc(pid: Int32, at time: Double) -> CounterSample? {
        guard pid > 0, let stat = Self.text("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let utime = UInt64(fields[11]), let stime = UInt64(fields[12]) else { return nil }
        let ticks = UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))
        var rss: UInt64 = 0
        var hwm: UInt64?
        var threads: Int?
        for line in (Self.text("/proc/\(pid)/status") ?? "").split(separator: "\n") {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count >= 2 else { continue }
            switch f[0] {
            case "VmRSS:": rss = (UInt64(f[1]) ?? 0) * 1024
            case "VmHWM:": hwm = (UInt64(f[1]) ?? 0) * 1024
            case "Threads:": threads = Int(f[1])
            default: break
            }
        }
        var io: UInt64?
        if let text = Self.text("/proc/\(pid)/io") {
            var total: UInt64 = 0
            for line in text.split(separator: "\n") where line.hasPrefix("read_bytes: ") || line.hasPrefix("write_bytes: ") {
                total &+= UInt64(line.split(separator: " ").last ?? "") ?? 0
            }
            io = total
        }
        return CounterSample(time: time, cpuNanoseconds: (utime + stime) * 1_000_000_000 / ticks, memoryBytes: rss, memoryPeakBytes: hwm, ioBytes: io, pids: threads)
    }

    /// Bytes through the process's network namespace, or nil when that is the host's own.
    static func networkBytes(pid: Int32) -> UInt64? {
        guard let mine = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net"),
              let theirs = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net"),
              mine != theirs, let text = text("/proc/\(pid)/net/dev") else { return nil }
        var total: UInt64 = 0
        for line in text.split(separator: "\n").dropFirst(2) {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) != "lo" else { continue }
            let f = parts[1].split(separator: " ")
            if f.count >= 9 { total &+= (UInt64(f[0]) ?? 0) &+ (UInt64(f[8]) ?? 0) }
        }
        return total
    }

    static func text(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }
    static func integer(_ path: String) -> UInt64? { text(path).flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) } }
}
