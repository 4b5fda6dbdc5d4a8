import BackplaneModel
import Foundation
import Testing
@testable import CardOS

@Suite("workload profiler")
struct ProfilerTests {
    @Test("1-second samples become a 10-second point: CPU rate, memory mean and max, I/O rate")
    func aggregation() throws {
        var a = UsageAggregator(instance: "web-0", workload: "default/web", interval: 10)
        var point: UsagePoint?
        for i in 0...10 {
            // A quarter of a core; memory alternates 10 and 30 MB; 1 MB of I/O per second.
            let s = CounterSample(time: Double(i), cpuNanoseconds: UInt64(i) * 250_000_000, memoryBytes: i % 2 == 0 ? 10_000_000 : 30_000_000, memoryPeakBytes: 31_000_000, ioBytes: UInt64(i) << 20, pids: 3)
            let p = a.add(s, wallTime: 1000 + Double(i))
            if i < 10 { #expect(p == nil, "no point before the interval is complete (sample \(i))") } else { point = p }
        }
        let p = try #require(point)
        #expect(abs(p.cpuMillicores - 250) < 1e-9)
        #expect(p.memoryBytes == 20_000_000, "mean of the 10 samples after the first")
        #expect(p.memoryMaxBytes == 30_000_000 && p.memoryPeakBytes == 31_000_000)
        #expect(p.ioBytesPerSecond == Double(1 << 20) && p.pids == 3 && p.networkBytesPerSecond == nil)
        #expect(p.time == 1010 && p.seconds == 10 && p.workload == "default/web")
    }

    @Test("a counter that goes backwards counts as zero, not as a huge number")
    func counterReset() throws {
        var a = UsageAggregator(instance: "x", workload: "t/x", interval: 2)
        _ = a.add(CounterSample(time: 0, cpuNanoseconds: 5_000_000_000, memoryBytes: 1), wallTime: 0)
        _ = a.add(CounterSample(time: 1, cpuNanoseconds: 100, memoryBytes: 1), wallTime: 1)
        let point = a.add(CounterSample(time: 2, cpuNanoseconds: 1_000_000_100, memoryBytes: 1), wallTime: 2)
        let p = try #require(point)
        #expect(abs(p.cpuMillicores - 500) < 1e-9)
    }

    @Test("cgroup v1 and v2 counter files and /proc are read as the kernel writes them")
    func readerFormats() throws {
        let root = temporaryDirectory("cgroups")
        func write(_ path: String, _ text: String) throws {
            try FileManager.default.createDirectory(atPath: (root + path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: root + path, atomically: true, encoding: .utf8)
        }
        try write("/cpuacct/bp/a/cpuacct.usage", "1500000000\n")
        try write("/memory/bp/a/memory.usage_in_bytes", "4096\n")
        try write("/memory/bp/a/memory.max_usage_in_bytes", "8192\n")
        try write("/blkio/bp/a/blkio.throttle.io_service_bytes", "8:0 Read 100\n8:0 Write 20\n8:0 Total 120\nTotal 120\n")
        try write("/pids/bp/a/pids.current", "4\n")
        let v1 = try #require(CounterReader(root: root, isV2: false).read(cgroupPath: "/bp/a", pid: 0, at: 5))
        #expect(v1 == CounterSample(time: 5, cpuNanoseconds: 1_500_000_000, memoryBytes: 4096, memoryPeakBytes: 8192, ioBytes: 120, pids: 4))

        try write("/bp/b/cpu.stat", "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n")
        try write("/bp/b/memory.current", "1024\n")
        try write("/bp/b/io.stat", "8:0 rbytes=10 wbytes=5 rios=1 wios=1\n8:16 rbytes=1 wbytes=0 rios=0 wios=0\n")
        try write("/bp/b/pids.current", "2\n")
        let v2 = try #require(CounterReader(root: root, isV2: true).read(cgroupPath: "/bp/b", pid: 0, at: 1))
        #expect(v2 == CounterSample(time: 1, cpuNanoseconds: 2_500_000, memoryBytes: 1024, memoryPeakBytes: nil, ioBytes: 16, pids: 2))

        #expect(CounterReader(root: root, isV2: false).read(cgroupPath: "/bp/gone", pid: 0, at: 0) == nil, "a removed cgroup reads as gone")
        let own = try #require(CounterReader(root: root).read(cgroupPath: "", pid: getpid(), at: 0), "the process driver reads /proc/<pid>")
        #expect(own.memoryBytes > 0 && own.cpuNanoseconds > 0 && own.networkBytes == nil, "the test process shares the host network")
    }
}

private let runcMissing = RuncRuntime.unavailableReason()

@Suite("profiler on a real container", .serialized, .enabled(if: runcMissing == nil, "skipped: \(runcMissing ?? "")"))
struct ProfilerContainerTests {
    @Test("a container that burns CPU and allocates memory: usage rises, within its cgroup limits")
    func burnAndAllocate() async throws {
        let runtime = try RuncRuntime(stateDirectory: temporaryDirectory("prof-state"), cacheDirectory: temporaryDirectory("prof-cache"), cgroupParent: "backplane-test/\(UUID().uuidString.prefix(8))")
        // Holds ~24 MB in a shell variable, then spins; limited to half a core and 64 MiB.
        let spec = ContainerSpec(id: "burn-0", image: "busybox", command: ["sh", "-c", "x=$(head -c 24000000 /dev/zero | tr '\\0' a); while :; do :; done"], resources: Resources(cpuMillis: 500, memoryBytes: 64 << 20))
        try runtime.leaseFile.renew(until: LeaseFile.now() + 600_000_000_000)
        let points = try await watching(runtime) { try await measure(runtime, spec) }
        let last = try #require(points.last, "no point was produced")
        print("profiler on runc: \(points.count) points; last: cpu \(Int(last.cpuMillicores))m, memory \(Int(last.memoryBytes)) B, peak \(Int(last.memoryPeakBytes ?? 0)) B, pids \(last.pids ?? -1)")
        #expect(last.memoryBytes > 20_000_000, "the 24 MB allocation shows")
        #expect(last.memoryMaxBytes <= Double(64 << 20) && (last.memoryPeakBytes ?? 0) <= Double(64 << 20), "within the memory limit")
        #expect(last.cpuMillicores > 200, "the spinning shell shows as CPU")
        #expect(points.allSatisfy { $0.cpuMillicores < 500 * 1.25 }, "the CFS quota holds it near half a core: \(points.map { Int($0.cpuMillicores) })")
        #expect(last.networkBytesPerSecond == nil, "the container shares the host network")
    }

    /// Runs the container and samples it until it shows its CPU and memory (bounded).
    func measure(_ runtime: RuncRuntime, _ spec: ContainerSpec) async throws -> [UsagePoint] {
        let handle = try await runtime.start(spec) { _ in }
        var config = Profiler.Configuration()
        config.pointInterval = 1
        let profiler = Profiler(configuration: config)
        profiler.track(instance: "burn-0", workload: "default/burn", cgroupPath: handle.cgroupPath, pid: handle.pid)
        var points: [UsagePoint] = []
        let deadline = Profiler.monotonic() + 30  // a safety net: the loop ends on the condition
        while Profiler.monotonic() < deadline {
            points += profiler.sample(now: Profiler.monotonic(), wallTime: Profiler.wallClock())
            if let last = points.last, last.memoryBytes > 20_000_000, last.cpuMillicores > 200 { break }
            try await Task.sleep(for: .milliseconds(100))  // the kernel's counters advance with real time
        }
        try await runtime.stop("burn-0", grace: .milliseconds(200))
        profiler.untrack("burn-0")
        #expect(profiler.trackedInstances.isEmpty)
        return points
    }
}
