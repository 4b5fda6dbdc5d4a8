import Foundation
import CardOS
import Testing
@testable import BackplaneCLI

private func scratch(_ name: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("bp-\(name)-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

private func mkdir(_ path: String) throws {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
}

/// A fake host: a cgroup tree, a /proc with command lines, and a runc that lists the files of
/// its --root as containers and records every call.
private struct FakeHost {
    let base: String
    var state: String { base + "/state" }
    var cgroups: String { base + "/cgroup" }
    var proc: String { base + "/proc" }
    var runc: String { base + "/runc" }

    init() throws {
        base = try scratch("leftovers")
        try mkdir(state)
        try mkdir(proc)
        try """
        #!/bin/sh
        root="$2"; shift 2
        echo "$*" >> "$root/../runc-calls"
        case "$1" in
          list) ls "$root" ;;
          delete) rm -f "$root/$3" ;;
        esac
        """.write(toFile: runc, atomically: false, encoding: .utf8)
        chmod(runc, 0o755)
    }

    var host: HostLeftovers { HostLeftovers(cgroupRoot: cgroups, runcPath: runc, procRoot: proc) }

    func container(_ card: String, _ id: String) throws {
        try mkdir(state + "/\(card)/runtime/runc")
        try "".write(toFile: state + "/\(card)/runtime/runc/\(id)", atomically: false, encoding: .utf8)
    }

    /// The cgroup leaf of a card of this fake bus (see `CgroupPaths.cardParent`).
    func leaf(_ card: String) -> String { (CgroupPaths.cardParent(stateDirectory: state + "/\(card)") as NSString).lastPathComponent }

    func cgroup(_ path: String) throws {
        try mkdir(cgroups + "/" + path)
        try "".write(toFile: cgroups + "/\(path)/cgroup.procs", atomically: false, encoding: .utf8)
    }

    func process(_ pid: Int, _ argv: [String]) throws {
        try mkdir(proc + "/\(pid)")
        try Data(argv.joined(separator: "\0").utf8 + [0]).write(to: URL(fileURLWithPath: proc + "/\(pid)/cmdline"))
    }

    func remove() { try? FileManager.default.removeItem(atPath: base) }
}

@Suite("backplane leftovers: what cards left on the host")
struct HostLeftoversTests {
    @Test("containers, shims and cgroups of the named cards are found; other cards' and other programs' are not")
    func scanFindsOnlyTheCardsThings() async throws {
        let fake = try FakeHost()
        defer { fake.remove() }
        try fake.container("card-1", "web-0")
        try fake.container("card-1", "web-1")
        try fake.container("card-10", "db-0")
        try mkdir(fake.state + "/card-2/runtime/runc")
        try fake.cgroup("memory/backplane/\(fake.leaf("card-1"))/web-0")
        try fake.cgroup("cpu/backplane/\(fake.leaf("card-1"))")
        try fake.cgroup("memory/backplane/\(fake.leaf("card-10"))/db-0")
        try fake.cgroup("backplane/\(fake.leaf("card-2"))")  // cgroup v2 layout
        try fake.process(4001, ["/opt/bp/backplane-shim", "--bundle", fake.state + "/card-1/runtime/bundles/web-0"])
        try fake.process(4002, ["/opt/bp/backplane-shim", "--state=" + fake.state + "/card-10"])
        try fake.process(4003, ["/usr/bin/vim", fake.state + "/card-1/notes"])
        try fake.process(4004, ["backplane-shim", "--state", fake.state + "/card-2"])

        let found = await fake.host.scan(stateDirectory: fake.state, cardNames: ["card-1", "card-2"])
        let root1 = fake.state + "/card-1/runtime/runc"
        #expect(found == [
            Leftover(kind: .container, card: "card-1", id: "web-0", detail: root1),
            Leftover(kind: .container, card: "card-1", id: "web-1", detail: root1),
            Leftover(kind: .shim, card: "card-1", id: "4001", detail: "/opt/bp/backplane-shim --bundle \(fake.state)/card-1/runtime/bundles/web-0"),
            Leftover(kind: .shim, card: "card-2", id: "4004", detail: "backplane-shim --state \(fake.state)/card-2"),
            Leftover(kind: .cgroup, card: "card-1", id: fake.cgroups + "/memory/backplane/\(fake.leaf("card-1"))/web-0"),
            Leftover(kind: .cgroup, card: "card-1", id: fake.cgroups + "/memory/backplane/\(fake.leaf("card-1"))"),
            Leftover(kind: .cgroup, card: "card-1", id: fake.cgroups + "/cpu/backplane/\(fake.leaf("card-1"))"),
            Leftover(kind: .cgroup, card: "card-2", id: fake.cgroups + "/backplane/\(fake.leaf("card-2"))"),
        ])
        #expect(HostLeftovers.cardNames(in: fake.state) == ["card-1", "card-10", "card-2"])
    }

    @Test("a clean bus has nothing left; runc is not needed to say so")
    func nothingLeft() async throws {
        let fake = try FakeHost()
        defer { fake.remove() }
        try mkdir(fake.state + "/card-0/runtime/runc")
        try fake.cgroup("memory/backplane/\(fake.leaf("card-7"))")  // another bus's card
        #expect(await fake.host.scan(stateDirectory: fake.state, cardNames: ["card-0"]) == [])
        let noRunc = HostLeftovers(cgroupRoot: fake.cgroups, runcPath: nil, procRoot: fake.proc)
        try fake.container("card-0", "web-0")
        #expect(await noRunc.scan(stateDirectory: fake.state, cardNames: ["card-0"]) == [])
    }

    @Test("cleaning kills and deletes each container with runc and removes the cgroups, innermost first")
    func cleanRemovesContainersAndCgroups() async throws {
        let fake = try FakeHost()
        defer { fake.remove() }
        try fake.container("card-1", "web-0")
        try fake.cgroup("memory/backplane/\(fake.leaf("card-1"))/web-0")
        try fake.cgroup("pids/backplane/\(fake.leaf("card-1"))/web-0")
        try fake.cgroup("memory/backplane/\(fake.leaf("card-3"))")  // another card of the same parent stays
        let found = await fake.host.scan(stateDirectory: fake.state, cardNames: ["card-1"])
        #expect(found.count == 5)

        let remaining = await fake.host.clean(found, stateDirectory: fake.state, cardNames: ["card-1"])
        #expect(remaining == [])
        let calls = try String(contentsOfFile: fake.state + "/card-1/runtime/runc-calls", encoding: .utf8).split(separator: "\n")
        #expect(calls == ["list --quiet", "kill --all web-0 KILL", "delete --force web-0", "list --quiet"])
        let fm = FileManager.default
        #expect(!fm.fileExists(atPath: fake.cgroups + "/memory/backplane/\(fake.leaf("card-1"))"))
        #expect(!fm.fileExists(atPath: fake.cgroups + "/pids/backplane/\(fake.leaf("card-1"))"))
        #expect(fm.fileExists(atPath: fake.cgroups + "/memory/backplane/\(fake.leaf("card-3"))"))
    }

    @Test("a live backplane-shim naming the card's state directory is found in /proc and killed")
    func liveShimIsKilled() async throws {
        let base = try scratch("leftovers-shim")
        defer { try? FileManager.default.removeItem(atPath: base) }
        try mkdir(base + "/card-5")
        try "".write(toFile: base + "/card-5/shim.log", atomically: false, encoding: .utf8)
        // A long-lived process whose argv[0] is backplane-shim and whose arguments name the card's state.
        let pid = try spawn("/usr/bin/tail", ["backplane-shim", "-f", base + "/card-5/shim.log"])
        var reaped = false
        defer {
            if !reaped {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                waitpid(pid, &status, 0)
            }
        }
        // posix_spawn can return before the kernel has set up the new command line: wait for it
        // (bounded, yielding, no fixed sleep).
        let deadline = ContinuousClock.now + .seconds(10)
        while !(FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()).starts(with: Data("backplane-shim".utf8)) {
            try #require(ContinuousClock.now < deadline, "the test process never showed its command line")
            await Task.yield()
        }
        let host = HostLeftovers(cgroupRoot: base + "/no-cgroups", runcPath: nil)
        let found = await host.scan(stateDirectory: base, cardNames: ["card-5"])
        try #require(found.map(\.kind) == [.shim] && found.first?.id == "\(pid)", "found \(found)")

        let remaining = await host.clean(found, stateDirectory: base, cardNames: ["card-5"])
        try #require(remaining == [], "still there: \(remaining)")
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid)
        reaped = true
        #expect(status & 0x7F == SIGKILL, "the shim ended with wait status \(status), not SIGKILL")
    }
}

/// Starts `path` with exactly `argv` (argv[0] included), output to /dev/null; returns its pid.
private func spawn(_ path: String, _ argv: [String]) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let arguments = argv.map { strdup($0) } + [nil]
    defer { for argument in arguments { free(argument) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, path, &actions, nil, arguments, environ)
    guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO) }
    return pid
}
