import Foundation
import Testing
@testable import CardOS

private let noBusybox: String? = BusyboxImage.hostBusybox() == nil
    ? "no statically linked busybox in \(BusyboxImage.candidates.joined(separator: " or ")) (Debian: apt-get install busybox-static)"
    : nil

@Suite("the busybox image", .enabled(if: noBusybox == nil, "skipped: \(noBusybox ?? "")"))
struct BusyboxImageTests {
    let cache = temporaryDirectory("busybox-cache")

    func applets() async throws -> [String] {
        try await BusyboxImage.appletPaths(of: try #require(BusyboxImage.hostBusybox()))
    }

    /// Every applet is a link to /bin/busybox, and the binary is the host's.
    func expectComplete(_ root: String, applets: [String]) throws {
        #expect(BusyboxImage.missingEntries(in: root, applets: applets) == [])
        let fm = FileManager.default
        for applet in applets where applet != "bin/busybox" {
            let target = try? fm.destinationOfSymbolicLink(atPath: root + "/" + applet)
            #expect(target == "/bin/busybox", "\(applet) links to \(target ?? "nothing")")
        }
        let host = try #require(BusyboxImage.hostBusybox())
        #expect(fm.contentsEqual(atPath: root + "/bin/busybox", andPath: host))
    }

    @Test("8 concurrent first builds into one fresh store make one complete image and leave no build directory")
    func concurrentBuilds() async throws {
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let roots = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<8 { group.addTask { [cache] in try await BusyboxImage.rootfs(cacheDirectory: cache) } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(roots == [BusyboxImage.rootfsPath(cacheDirectory: cache)])
        let applets = try await applets()
        #expect(applets.count > 100, "busybox --list-full listed only \(applets.count) applets")
        try expectComplete(try #require(roots.first), applets: applets)
        let home = cache + "/images/busybox"
        #expect(try FileManager.default.contentsOfDirectory(atPath: home) == ["rootfs"])
    }

    @Test("a half-built image (marker present, applets missing) is detected and rebuilt")
    func halfBuiltImageIsRebuilt() async throws {
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let root = BusyboxImage.rootfsPath(cacheDirectory: cache)
        let fm = FileManager.default
        // What the old racy build could leave: the marker, the binary, a few links, and a stray build directory.
        try fm.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: cache + "/images/busybox/rootfs.tmp-4242/bin", withIntermediateDirectories: true)
        try fm.copyItem(atPath: try #require(BusyboxImage.hostBusybox()), toPath: root + "/bin/busybox")
        try fm.createSymbolicLink(atPath: root + "/bin/sh", withDestinationPath: "/bin/busybox")
        try "root:x:0:0:root:/root:/bin/sh\n".write(toFile: root + "/etc/passwd", atomically: false, encoding: .utf8)
        try "".write(toFile: root + "/.complete", atomically: false, encoding: .utf8)
        try "stale".write(toFile: root + "/stale", atomically: false, encoding: .utf8)
        let applets = try await applets()
        #expect(BusyboxImage.missingEntries(in: root, applets: applets).contains("bin/sleep"))

        #expect(try await BusyboxImage.rootfs(cacheDirectory: cache) == root)
        try expectComplete(root, applets: applets)
        #expect(!fm.fileExists(atPath: root + "/stale"), "the broken image was patched, not replaced")
        #expect(try fm.contentsOfDirectory(atPath: cache + "/images/busybox") == ["rootfs"])
    }

    @Test("a complete image is used as it is")
    func completeImageIsKept() async throws {
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let root = try await BusyboxImage.rootfs(cacheDirectory: cache)
        try "kept".write(toFile: root + "/tmp/mark", atomically: false, encoding: .utf8)
        #expect(try await BusyboxImage.rootfs(cacheDirectory: cache) == root)
        #expect(FileManager.default.fileExists(atPath: root + "/tmp/mark"))
    }
}
