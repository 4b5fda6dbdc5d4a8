import BackplaneModel
import Foundation
import Testing
@testable import CardOS

/// Runs `body` while `runtime` watches its containers (its `run()`), then shuts it down, also
/// when `body` throws.
func watching<T>(_ runtime: some ContainerRuntime, _ body: () async throws -> T) async throws -> T {
    async let watchers: Void = runtime.run()
    do {
        let result = try await body()
        await runtime.shutdown()
        await watchers
        return result
    } catch {
        await runtime.shutdown()
        await watchers
        throw error
    }
}

func temporaryDirectory(_ name: String) -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("bp-\(name)-\(UUID().uuidString.prefix(8))").path
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Collects container exits so tests can await them (no sleeping).
final class Exits: Sendable {
    let stream: AsyncStream<ContainerExit>
    let continuation: AsyncStream<ContainerExit>.Continuation
    init() { (stream, continuation) = AsyncStream.makeStream() }
    var handler: @Sendable (ContainerExit) -> Void { { [continuation] in continuation.yield($0) } }
    func next() async -> ContainerExit? {
        var it = stream.makeAsyncIterator()
        return await it.next()
    }
}

private let runcMissing = RuncRuntime.unavailableReason()

@Suite("runc driver (real containers)", .serialized, .enabled(if: runcMissing == nil, "skipped: \(runcMissing ?? "")"))
struct RuncRuntimeTests {
    let state = temporaryDirectory("runc-state")
    let cache = temporaryDirectory("runc-cache")

    /// A runtime whose card holds a lease for the next 10 minutes.
    func runtime(parent: String = "backplane-test/\(UUID().uuidString.prefix(8))") throws -> RuncRuntime {
        let runtime = try RuncRuntime(stateDirectory: state, cacheDirectory: cache, cgroupParent: parent)
        try runtime.leaseFile.renew(until: LeaseFile.now() + 600_000_000_000)
        return runtime
    }

    /// Waits (bounded) until a host process is gone: the shim acts on its own, outside this process.
    func gone(_ pid: Int32, within limit: Duration = .seconds(10)) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if kill(pid, 0) != 0 { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    @Test("a busybox container runs with its cgroup limits; stop leaves nothing behind")
    func limitsAndCleanUp() async throws {
        let runtime = try runtime()
        try await watching(runtime) {
            let exits = Exits()
            let spec = ContainerSpec(id: "web-0", image: "busybox", command: ["sleep", "1000"], resources: Resources(cpuMillis: 250, memoryBytes: 64 << 20))
            let handle = try await runtime.start(spec, onExit: exits.handler)
            #expect(kill(handle.pid, 0) == 0, "the init process is alive")
            #expect(CgroupPaths.memoryLimit(of: handle.cgroupPath) == 64 << 20)
            if !CgroupPaths.isV2 {
                let quota = try String(contentsOfFile: "/sys/fs/cgroup/cpu\(handle.cgroupPath)/cpu.cfs_quota_us", encoding: .utf8)
                #expect(quota.trimmingCharacters(in: .whitespacesAndNewlines) == "25000")
                let pids = try String(contentsOfFile: "/sys/fs/cgroup/pids\(handle.cgroupPath)/pids.max", encoding: .utf8)
                #expect(pids.trimmingCharacters(in: .whitespacesAndNewlines) == "256")
            }
            let procCgroup = try String(contentsOfFile: "/proc/\(handle.pid)/cgroup", encoding: .utf8)
            #expect(procCgroup.contains(handle.cgroupPath), "the pid is in the container's cgroup")
            #expect(try await runtime.list() == ["web-0"])

            try await runtime.stop("web-0", grace: .milliseconds(500))
            let exit = await exits.next()
            #expect(exit?.id == "web-0" && exit?.oomKilled == false)
            #expect(try await runtime.list().isEmpty, "no runc state left")
            #expect(CgroupPaths.directories(for: handle.cgroupPath).allSatisfy { !FileManager.default.fileExists(atPath: $0) }, "no cgroup left")
            #expect(!FileManager.default.fileExists(atPath: "\(state)/bundles/web-0.0"), "no bundle left")
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(state)/shims").isEmpty, "no shim record left")
            #expect(kill(handle.pid, 0) != 0, "the process is gone")
            await runtime.shutdown()
            #expect(CgroupPaths.directories(for: "/\(runtime.cgroupParent)").allSatisfy { !FileManager.default.fileExists(atPath: $0) }, "no cgroup parent left")
        }
    }

    @Test("runc update changes a running container's CPU and memory limits in place: same PID, no restart; bad limits are refused and change nothing")
    func resizeInPlace() async throws {
        let runtime = try runtime()
        try await watching(runtime) {
            let exits = Exits()
            let spec = ContainerSpec(id: "grow-0", image: "busybox", command: ["sleep", "1000"], resources: Resources(cpuMillis: 250, memoryBytes: 64 << 20))
            let handle = try await runtime.start(spec, onExit: exits.handler)
            func quota() throws -> String? {
                guard !CgroupPaths.isV2 else { return nil }
                return try String(contentsOfFile: "/sys/fs/cgroup/cpu\(handle.cgroupPath)/cpu.cfs_quota_us", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            try await runtime.resize("grow-0", incarnation: nil, to: Resources(cpuMillis: 1500, memoryBytes: 256 << 20))
            #expect(CgroupPaths.memoryLimit(of: handle.cgroupPath) == 256 << 20)
            if !CgroupPaths.isV2 { #expect(try quota() == "150000") }
            #expect(kill(handle.pid, 0) == 0 && runtime.running().first { $0.id == "grow-0" }?.pid == handle.pid, "the same process goes on")
            // Down again.
            try await runtime.resize("grow-0", incarnation: handle.incarnation, to: Resources(cpuMillis: 100, memoryBytes: 32 << 20))
            #expect(CgroupPaths.memoryLimit(of: handle.cgroupPath) == 32 << 20)
            if !CgroupPaths.isV2 { #expect(try quota() == "10000") }
            // Refused: out of range, unknown instance, wrong incarnation; nothing changed.
            for bad in [Resources(cpuMillis: 0, memoryBytes: 64 << 20), Resources(cpuMillis: 100, memoryBytes: 1024), Resources(cpuMillis: -5, memoryBytes: -1)] {
                await #expect(throws: RuntimeError.self) { try await runtime.resize("grow-0", incarnation: nil, to: bad) }
            }
            await #expect(throws: RuntimeError.self) { try await runtime.resize("nobody-0", incarnation: nil, to: Resources(cpuMillis: 100, memoryBytes: 64 << 20)) }
            await #expect(throws: RuntimeError.self) { try await runtime.resize("grow-0", incarnation: handle.incarnation + 1, to: Resources(cpuMillis: 100, memoryBytes: 64 << 20)) }
            #expect(CgroupPaths.memoryLimit(of: handle.cgroupPath) == 32 << 20)
            #expect(kill(handle.pid, 0) == 0)
            try await runtime.stop("grow-0", grace: .zero)
            _ = await exits.next()
            await runtime.shutdown()
        }
    }

    @Test("exit codes and output are captured")
    func exitCodeAndLogs() async throws {
        let runtime = try runtime()
        try await watching(runtime) {
            let exits = Exits()
            let handle = try await runtime.start(ContainerSpec(id: "job-1", image: "busybox", command: ["/bin/sh", "-c", "echo hello from $HOSTNAME; echo oops >&2; exit 3"], resources: Resources(cpuMillis: 100, memoryBytes: 16 << 20)), onExit: exits.handler)
            let exit = await exits.next()
            #expect(exit?.code == 3)
            // Workloads must be able to receive SIGTERM: nothing blocked, nothing ignored but what
            // the kernel sets for PID 1.
            let probe = try await runtime.start(ContainerSpec(id: "probe-1", image: "busybox", command: ["/bin/sh", "-c", "grep SigBlk /proc/self/status"], resources: Resources(cpuMillis: 100, memoryBytes: 16 << 20)), onExit: exits.handler)
            _ = await exits.next()
            #expect(try String(contentsOfFile: probe.stdoutPath, encoding: .utf8) == "SigBlk:\t0000000000000000\n")
            await runtime.shutdown()
            #expect(try String(contentsOfFile: handle.stdoutPath, encoding: .utf8) == "hello from job-1\n")
            #expect(try String(contentsOfFile: handle.stderrPath, encoding: .utf8) == "oops\n")
            #expect(try await runtime.list().isEmpty)
        }
    }

    @Test("a container that goes over its memory limit is OOM-killed and reported so")
    func oomKill() async throws {
        let runtime = try runtime()
        try await watching(runtime) {
            let exits = Exits()
            _ = try await runtime.start(ContainerSpec(id: "hog-0", image: "busybox", command: ["dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1"], resources: Resources(cpuMillis: 100, memoryBytes: 32 << 20)), onExit: exits.handler)
            let exit = await exits.next()
            #expect(exit?.code == 137 && exit?.oomKilled == true, "\(String(describing: exit))")
            await runtime.shutdown()
        }
    }

    @Test("a restarted card agent adopts the containers an earlier run left: same PID, no restart")
    func adoption() async throws {
        let parent = "backplane-test/\(UUID().uuidString.prefix(8))"
        let first = try runtime(parent: parent)
        async let firstWatching: Void = first.run()
        let handle: ContainerHandle
        do {
            handle = try await first.start(ContainerSpec(id: "old-0", incarnation: 7, image: "busybox", command: ["sleep", "1000"], resources: Resources(cpuMillis: 100, memoryBytes: 16 << 20)), onExit: { _ in })
        } catch {
            await first.shutdown()
            await firstWatching
            throw error
        }
        // The first agent dies (its watchers stop; the shim carries on). A second runtime on the
        // same state is what a restarted agent builds.
        first.abandon()
        await firstWatching
        let second = try runtime(parent: parent)
        try await watching(second) {
            let exits = Exits()
            let report = try await second.adopt(onExit: exits.handler)
            #expect(report.adopted.map(\.containerID) == ["old-0.7"])
            #expect(report.adopted.first?.pid == handle.pid, "the same process, not a restart")
            #expect(report.removed.isEmpty && report.ended.isEmpty)
            #expect(second.running().map(\.id) == ["old-0"])
            try await second.stop("old-0", grace: .milliseconds(200))
            let exit = await exits.next()
            #expect(exit?.id == "old-0" && exit?.incarnation == 7)
            #expect(kill(handle.pid, 0) != 0)
            #expect(try await second.list().isEmpty)
            #expect(CgroupPaths.directories(for: handle.cgroupPath).allSatisfy { !FileManager.default.fileExists(atPath: $0) })
            await second.shutdown()
        }
    }

    @Test("when the lease lapses the shim fences the container, with no agent involved")
    func fencing() async throws {
        let runtime = try runtime()
        try await watching(runtime) {
            let exits = Exits()
            let handle = try await runtime.start(ContainerSpec(id: "fenced-0", incarnation: 1, image: "busybox", command: ["sleep", "1000"], resources: Resources(cpuMillis: 100, memoryBytes: 16 << 20)), onExit: exits.handler)
            let shims = try FileManager.default.contentsOfDirectory(atPath: "\(state)/shims")
            #expect(shims == ["fenced-0.1.json"])
            try runtime.leaseFile.revoke()
            #expect(await gone(handle.pid), "the container's init was killed")
            let exit = await exits.next()
            #expect(exit?.fenced == true, "\(String(describing: exit))")
            #expect(exit?.reason.contains("lease") == true)
            #expect(try await runtime.runcList().isEmpty, "the shim deleted the container from runc's state")
            #expect(CgroupPaths.directories(for: handle.cgroupPath).allSatisfy { !FileManager.default.fileExists(atPath: $0) }, "and its cgroups")
            await runtime.shutdown()
        }
    }

    @Test("a card without a valid lease starts nothing")
    func noLeaseNoStart() async throws {
        let runtime = try runtime()
        try await watching(runtime) {
            try runtime.leaseFile.revoke()
            await #expect(throws: RuntimeError.self) {
                _ = try await runtime.start(ContainerSpec(id: "late-0", incarnation: 1, image: "busybox", command: ["sleep", "1000"], resources: Resources(cpuMillis: 100, memoryBytes: 16 << 20)), onExit: { _ in })
            }
            #expect(try await runtime.runcList().isEmpty)
            await runtime.shutdown()
        }
    }

    @Test("starting an incarnation twice is one container; a newer incarnation replaces the older")
    func incarnations() async throws {
        let runtime = try runtime()
        try await watching(runtime) {
            let exits = Exits()
            let spec = ContainerSpec(id: "inc-0", incarnation: 1, image: "busybox", command: ["sleep", "1000"], resources: Resources(cpuMillis: 100, memoryBytes: 16 << 20))
            let first = try await runtime.start(spec, onExit: exits.handler)
            let again = try await runtime.start(spec, onExit: exits.handler)
            #expect(again.pid == first.pid)
            #expect(try await runtime.runcList() == ["inc-0.1"])
            var newer = spec
            newer.incarnation = 2
            let second = try await runtime.start(newer, onExit: exits.handler)
            #expect(await exits.next()?.incarnation == 1, "the stale incarnation was stopped first")
            #expect(kill(first.pid, 0) != 0)
            #expect(try await runtime.runcList() == ["inc-0.2"])
            #expect(kill(second.pid, 0) == 0)
            await runtime.shutdown()
            #expect(try await runtime.runcList().isEmpty)
        }
    }

    @Test("images come only from the image store: a host path and an unknown name are clear errors")
    func badImage() async throws {
        let runtime = try runtime()
        try await watching(runtime) {
            for (image, words) in [("/nonexistent/rootfs", "is a path"), ("/tmp", "is a path"), ("../etc", "is a path"), ("nosuch", "not in this card's image store")] {
                do {
                    _ = try await runtime.start(ContainerSpec(id: "x-0", image: image, command: ["true"], resources: Resources(cpuMillis: 100, memoryBytes: 16 << 20)), onExit: { _ in })
                    Issue.record("\(image) was accepted")
                } catch let error as RuntimeError {
                    #expect(error.message.contains(words), "\(image): \(error)")
                }
            }
            #expect(try await runtime.runcList().isEmpty)
        }
    }

    // The attack of the security issue: a container planted a setuid-root binary in its /tmp (a
    // host directory), and a local user ran it as root. Now the container's root is an
    // unprivileged host uid (user namespace), /tmp is nosuid in a 0700 directory, no new
    // privileges, trimmed capabilities and a seccomp filter.
    @Test("a container's root is not host root: user namespace, private nosuid scratch, seccomp, trimmed capabilities")
    func isolation() async throws {
        let runtime = try runtime()
        let mapping = try #require(runtime.idMapping)
        try await watching(runtime) {
            let plant = "cp /bin/busybox /tmp/rootshell && chmod 4755 /tmp/rootshell && touch /tmp/ready && sleep 1000"
            let handle = try await runtime.start(ContainerSpec(id: "plant-0", incarnation: 1, image: "busybox", command: ["sh", "-c", plant], resources: Resources(cpuMillis: 100, memoryBytes: 32 << 20)), onExit: { _ in })
            let scratch = "\(state)/bundles/plant-0.1/scratch"
            var ready = false
            for _ in 0..<200 where !ready {
                ready = FileManager.default.fileExists(atPath: scratch + "/ready")
                if !ready { try await Task.sleep(for: .milliseconds(20)) }  // the container works in its own time
            }
            #expect(ready)
            // On the host: the planted file belongs to the unprivileged uid, so its setuid bit
            // would give that uid, not root; and its directory is closed to other users.
            var info = stat()
            #expect(stat(scratch + "/rootshell", &info) == 0)
            #expect(info.st_uid == mapping.hostID && info.st_uid != 0, "owner \(info.st_uid)")
            #expect(stat(scratch, &info) == 0 && info.st_mode & 0o777 == 0o700 && info.st_uid == mapping.hostID)
            #expect(stat("\(state)/bundles", &info) == 0 && info.st_mode & 0o077 == 0, "the bundles directory is root's only")
            // The container's process, seen from the host.
            let uidMap = try String(contentsOfFile: "/proc/\(handle.pid)/uid_map", encoding: .utf8).split(whereSeparator: \.isWhitespace)
            #expect(uidMap == ["0", "\(mapping.hostID)", "\(mapping.size)"], "\(uidMap)")
            let status = try String(contentsOfFile: "/proc/\(handle.pid)/status", encoding: .utf8)
            let hostUID = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }?.split(whereSeparator: \.isWhitespace).dropFirst().first
            #expect(hostUID == "\(mapping.hostID)"[...], "root inside runs as uid \(mapping.hostID) on the host: \(String(describing: hostUID))")
            #expect(status.contains("NoNewPrivs:\t1"))
            #expect(status.contains("Seccomp:\t2"), "a seccomp filter is on")
            let capEff = status.split(separator: "\n").first { $0.hasPrefix("CapEff:") }.map { String($0.dropFirst("CapEff:".count)).trimmingCharacters(in: .whitespaces) }
            #expect(capEff == "00000000000004eb", "CHOWN, DAC_OVERRIDE, FOWNER, KILL, SETGID, SETUID, NET_BIND_SERVICE only: \(String(describing: capEff))")
            let mounts = try String(contentsOfFile: "/proc/\(handle.pid)/mountinfo", encoding: .utf8)
            let tmp = mounts.split(separator: "\n").first { $0.split(separator: " ").dropFirst(4).first == "/tmp" }
            #expect(tmp?.contains("nosuid") == true && tmp?.contains("nodev") == true, "\(String(describing: tmp))")
            // Inside: a denied system call fails (unshare of a new user namespace).
            #expect(await runtime.exec(handle, command: ["sh", "-c", "unshare -U true"], timeout: .seconds(5)) == false)
            #expect(await runtime.exec(handle, command: ["true"], timeout: .seconds(5)))
            try await runtime.stop("plant-0", grace: .zero)
        }
    }
}

@Suite("image store")
struct ImageStoreTests {
    @Test("import copies a directory in, owned by root; list and lookup; bad names and unreachable stores are named")
    func importAndList() async throws {
        let store = ImageStore(cacheDirectory: temporaryDirectory("images"))
        let source = temporaryDirectory("rootfs-src")
        try FileManager.default.createDirectory(atPath: source + "/bin", withIntermediateDirectories: true)
        try "hello\n".write(toFile: source + "/bin/hello", atomically: true, encoding: .utf8)
        if getuid() == 0 { chown(source + "/bin/hello", 1234, 1234) }
        let path = try await store.importImage("web", from: source)
        #expect(path == store.directory + "/web/rootfs")
        #expect(try String(contentsOfFile: path + "/bin/hello", encoding: .utf8) == "hello\n")
        var info = stat()
        #expect(stat(path + "/bin/hello", &info) == 0 && info.st_uid == getuid(), "owned by the importer, not the source's owner")
        #expect(stat(path, &info) == 0 && info.st_mode & 0o755 == 0o755)
        #expect(store.list() == ["web"])
        #expect(try await store.rootfs(of: "web") == path)
        // Importing again replaces it whole.
        try "v2\n".write(toFile: source + "/bin/hello", atomically: true, encoding: .utf8)
        try await store.importImage("web", from: source)
        #expect(try String(contentsOfFile: path + "/bin/hello", encoding: .utf8) == "v2\n")
        let entries = try FileManager.default.contentsOfDirectory(atPath: store.directory + "/web")
        #expect(entries.contains("rootfs") && !entries.contains { $0.hasPrefix("rootfs.tmp-") }, "no staging copy left: \(entries)")
        #expect(entries.filter { $0.hasPrefix("rootfs.old-") }.count == 1, "the replaced tree stays for containers running on it")
        for (name, words) in [("busybox", "built-in"), ("/etc", "is a path"), ("Web", "not an image name"), ("", "is empty")] {
            await #expect(throws: RuntimeError.self, "\(name)") { try await store.importImage(name, from: source) }
            do { try await store.importImage(name, from: source) } catch let e as RuntimeError { #expect(e.message.contains(words), "\(e)") }
        }
        await #expect(throws: RuntimeError.self) { try await store.importImage("x", from: source + "/nope") }
        // A store below a directory others cannot traverse is refused up front.
        let closed = temporaryDirectory("closed")
        chmod(closed, 0o700)
        #expect(ImageStore(cacheDirectory: closed + "/store").reachabilityProblem(forUID: 100_000)?.contains("\(closed) is mode 700") == true)
        #expect(store.reachabilityProblem(forUID: 100_000) == nil)
    }
}

@Suite("process driver")
struct ProcessRuntimeTests {
    @Test("runs host commands, captures output and exit codes, stops with TERM")
    func basics() async throws {
        let runtime = try ProcessRuntime(stateDirectory: temporaryDirectory("proc"))
        try await watching(runtime) {
            let exits = Exits()
            let probe = try await runtime.start(ContainerSpec(id: "p-0", image: "busybox", command: ["/bin/sh", "-c", "grep SigBlk /proc/self/status"], resources: Resources(cpuMillis: 100, memoryBytes: 64 << 20)), onExit: exits.handler)
            _ = await exits.next()
            #expect(try String(contentsOfFile: probe.stdoutPath, encoding: .utf8) == "SigBlk:\t0000000000000000\n", "children start with no signal blocked")
            let handle = try await runtime.start(ContainerSpec(id: "p-1", image: "busybox", command: ["/bin/sh", "-c", "echo $HOSTNAME; exit 4"], resources: Resources(cpuMillis: 100, memoryBytes: 64 << 20)), onExit: exits.handler)
            #expect(await exits.next()?.code == 4)
            #expect(try String(contentsOfFile: handle.stdoutPath, encoding: .utf8) == "p-1\n")
            let sleeper = try await runtime.start(ContainerSpec(id: "p-2", image: "busybox", command: ["sleep", "1000"], resources: Resources(cpuMillis: 100, memoryBytes: 64 << 20)), onExit: exits.handler)
            #expect(try await runtime.list() == ["p-2"])
            try await runtime.stop("p-2", grace: .seconds(2))
            let stopped = await exits.next()
            #expect(stopped?.code == 128 + SIGTERM, "\(String(describing: stopped))")
            #expect(kill(sleeper.pid, 0) != 0)
        }
    }
}

@Suite("card inventory")
struct InventoryTests {
    @Test("reads cores, memory, interfaces and PCI devices from a /proc and /sys tree")
    func fakeRoot() throws {
        let root = temporaryDirectory("inventory")
        func write(_ path: String, _ text: String) throws {
            let full = (root as NSString).appendingPathComponent(path)
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
        }
        try write("proc/cpuinfo", "processor\t: 0\nmodel name\t: Test CPU 9000\n\nprocessor\t: 1\nmodel name\t: Test CPU 9000\n")
        try write("proc/meminfo", "MemTotal:       24576000 kB\nMemFree:        1 kB\n")
        try write("proc/sys/kernel/hostname", "card-host\n")
        try write("sys/class/net/eth0/address", "02:42:ac:11:00:02\n")
        try write("sys/class/net/eth0/mtu", "1500\n")
        try write("sys/class/net/eth0/operstate", "up\n")
        try write("sys/class/net/eth0/speed", "10000\n")
        try write("sys/bus/pci/devices/0000:00:04.0/vendor", "0x10de\n")
        try write("sys/bus/pci/devices/0000:00:04.0/device", "0x20b0\n")
        try write("sys/bus/pci/devices/0000:00:04.0/class", "0x030200\n")
        let inventory = InventoryReader.read(root: root, diskPaths: [root])
        #expect(inventory.cpuCores == 2 && inventory.cpuModel == "Test CPU 9000" && inventory.hostname == "card-host")
        #expect(inventory.memoryBytes == 24_576_000 * 1024)
        #expect(inventory.networkInterfaces == [Inventory.NetworkInterface(name: "eth0", mac: "02:42:ac:11:00:02", mtu: 1500, up: true, speedMbps: 10000)])
        #expect(inventory.pciDevices == [Inventory.PCIDevice(address: "0000:00:04.0", vendor: "0x10de", device: "0x20b0", deviceClass: "0x030200")])
        #expect(inventory.disks.first?.totalBytes ?? 0 > 0)
    }

    @Test("the real host has at least one core, some memory and a loopback interface")
    func realHost() {
        let inventory = InventoryReader.read(diskPaths: ["/"])
        #expect(inventory.cpuCores >= 1 && inventory.memoryBytes > 0)
        #expect(inventory.networkInterfaces.contains { $0.name == "lo" })
    }
}
