import Foundation
import CardOS
import Testing
@testable import BackplaneCLI

private let runcUnavailable: String? = {
    if getuid() != 0 { return "needs root (running as uid \(getuid()))" }
    if HostLeftovers().runcPath == nil { return "runc is not installed (Debian: apt-get install runc)" }
    if !["/bin/busybox", "/usr/bin/busybox"].contains(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
        return "no busybox for the container's rootfs (Debian: apt-get install busybox-static)"
    }
    return nil
}()

@Suite("backplane leftovers against real runc", .serialized, .enabled(if: runcUnavailable == nil, "skipped: \(runcUnavailable ?? "")"))
struct HostLeftoversRuncTests {
    @Test("a container a card left running (plain `runc run -d`) is found with its cgroups and removed")
    func realContainerIsFoundAndCleaned() async throws {
        let host = HostLeftovers()
        let runc = try #require(host.runcPath)
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("bp-leftovers-runc-\(UUID().uuidString.prefix(8))").path
        let card = "card-t\(UUID().uuidString.prefix(6).lowercased())"
        let root = base + "/\(card)/runtime/runc"
        let bundle = base + "/bundle"
        let id = "left-0"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: bundle + "/rootfs/bin", withIntermediateDirectories: true)
        defer {
            // Whatever the test did, leave nothing: container, cgroups, files.
            _ = try? run(runc, ["--root", root, "kill", "--all", id, "KILL"])
            _ = try? run(runc, ["--root", root, "delete", "--force", id])
            for directory in host.cgroups(card: (CgroupPaths.cardParent(stateDirectory: base + "/\(card)") as NSString).lastPathComponent) { rmdir(directory) }
            try? FileManager.default.removeItem(atPath: base)
        }
        let busybox = try #require(["/bin/busybox", "/usr/bin/busybox"].first { FileManager.default.isExecutableFile(atPath: $0) })
        try FileManager.default.copyItem(atPath: busybox, toPath: bundle + "/rootfs/bin/busybox")
        #expect(try run(runc, ["spec", "--bundle", bundle]) == 0)
        let configURL = URL(fileURLWithPath: bundle + "/config.json")
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any])
        var process = try #require(config["process"] as? [String: Any])
        process["terminal"] = false
        process["args"] = ["/bin/busybox", "sleep", "1000"]
        config["process"] = process
        var linux = try #require(config["linux"] as? [String: Any])
        let leaf = (CgroupPaths.cardParent(stateDirectory: base + "/\(card)") as NSString).lastPathComponent
        linux["cgroupsPath"] = "/backplane/\(leaf)/\(id)"
        config["linux"] = linux
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)

        #expect(try run(runc, ["--root", root, "run", "--detach", "--bundle", bundle, id]) == 0)
        let found = await host.scan(stateDirectory: base, cardNames: [card])
        #expect(found.contains(Leftover(kind: .container, card: card, id: id, detail: root)))
        let cgroups = found.filter { $0.kind == .cgroup }.map(\.id)
        #expect(cgroups.contains { $0.hasSuffix("/backplane/\(leaf)/\(id)") }, "no cgroup of the container among \(cgroups)")

        let remaining = await host.clean(found, stateDirectory: base, cardNames: [card])
        #expect(remaining == [])
        #expect(await host.scan(stateDirectory: base, cardNames: [card]) == [])
    }
}

/// Runs a command to completion with its output discarded; returns its exit status.
private func run(_ path: String, _ arguments: [String]) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
}
