import Foundation
import Subprocess
import Synchronization
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// The built-in `busybox` image: a root filesystem made from Debian's `busybox-static`, built
/// once per image store (cache directory) and shared read-only by every container that uses it.
///
/// Layout under the cache directory:
///
///     images/busybox.lock           flock(2)ed while the image is checked or built
///     images/busybox/rootfs/        the image: bin/busybox, one symlink per applet, etc/, …
///     images/busybox/rootfs.tmp-*   a build in progress (mkdtemp), renamed onto rootfs/ when verified
///     images/busybox/rootfs.old-*   an image that failed verification, being removed
///
/// Contract: ``rootfs(cacheDirectory:)`` returns only an image that has just passed
/// ``missingEntries(in:applets:)``. Any number of processes and tasks may call it at once on one
/// store: one builds, the others wait on the lock and then use its image. An image that fails
/// verification (e.g. half-built by an older, racy version) is rebuilt.
public enum BusyboxImage {
    public static let candidates = ["/bin/busybox", "/usr/bin/busybox"]

    /// A dynamically linked binary names its loader (PT_INTERP) near the start of the file.
    static func isStatic(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 16 << 10)) ?? Data()
        return head.starts(with: [0x7F, 0x45, 0x4C, 0x46]) && head.range(of: Data("/ld-linux".utf8)) == nil && head.range(of: Data("/ld-musl".utf8)) == nil
    }

    /// The statically linked busybox on this host, or nil.
    public static func hostBusybox() -> String? {
        candidates.first { FileManager.default.isExecutableFile(atPath: $0) && isStatic($0) }
    }

    /// Where the image lives in a cache directory (whether or not it is built).
    public static func rootfsPath(cacheDirectory: String) -> String {
        (cacheDirectory as NSString).appendingPathComponent("images/busybox/rootfs")
    }

    /// Returns the rootfs directory, building it first if it is missing or incomplete.
    /// - Throws: ``RuntimeError`` naming the missing package when no static busybox exists, or
    ///   saying which step of the build failed.
    public static func rootfs(cacheDirectory: String) async throws -> String {
        guard let busybox = hostBusybox() else {
            throw RuntimeError("the busybox image needs a statically linked busybox (Debian: apt-get install busybox-static); looked in \(candidates.joined(separator: ", "))")
        }
        let applets = try await appletPaths(of: busybox)
        let root = rootfsPath(cacheDirectory: cacheDirectory)
        if missingEntries(in: root, applets: applets).isEmpty { return root }

        let images = (cacheDirectory as NSString).appendingPathComponent("images")
        let home = (images as NSString).appendingPathComponent("busybox")
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        return try await withFileLock((images as NSString).appendingPathComponent("busybox.lock")) {
            // Someone else may have built it while we waited for the lock.
            if missingEntries(in: root, applets: applets).isEmpty { return root }
            removeAbandonedBuilds(in: home)
            let staging = try makeUniqueDirectory(home + "/rootfs.tmp-XXXXXX")
            do {
                try build(into: staging, busybox: busybox, applets: applets)
                let missing = missingEntries(in: staging, applets: applets)
                guard missing.isEmpty else {
                    throw RuntimeError("the busybox image built in \(staging) is incomplete: \(missing.count) entries missing, e.g. \(missing.prefix(5).joined(separator: ", "))")
                }
                try replace(root, with: staging, home: home)
            } catch {
                try? FileManager.default.removeItem(atPath: staging)
                throw error
            }
            return root
        }
    }

    /// What `busybox --list-full` says should exist, e.g. `bin/sh`, `usr/bin/wc` (relative paths).
    /// Cached per binary for the life of the process.
    static func appletPaths(of busybox: String) async throws -> [String] {
        if let cached = appletCache.withLock({ $0[busybox] }) { return cached }
        let text: String
        do {
            let result = try await Subprocess.run(.path(FilePath(busybox)), arguments: ["--list-full"], output: .string(limit: 1 << 20))
            guard result.terminationStatus.isSuccess else {
                throw RuntimeError("\(busybox) --list-full failed (\(result.terminationStatus))")
            }
            text = result.standardOutput
        } catch let error as RuntimeError {
            throw error
        } catch {
            throw RuntimeError("could not run \(busybox) --list-full: \(error)")
        }
        let applets = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("/") && !$0.split(separator: "/").contains("..") }
        guard !applets.isEmpty else { throw RuntimeError("\(busybox) --list-full listed no applets") }
        appletCache.withLock { $0[busybox] = applets }
        return applets
    }

    private static let appletCache = Mutex<[String: [String]]>([:])

    /// The entries an image lacks: `bin/busybox` (a non-empty executable file), the completion
    /// marker, `etc/passwd`, and one entry (link or file) per applet. Empty means complete.
    public static func missingEntries(in root: String, applets: [String]) -> [String] {
        var missing: [String] = []
        var info = stat()
        let binary = root + "/bin/busybox"
        if lstat(binary, &info) != 0 || (info.st_mode & S_IFMT) != S_IFREG || info.st_size == 0 || (info.st_mode & 0o111) == 0 {
            missing.append("bin/busybox")
        }
        for file in [".complete", "etc/passwd", "etc/group"] where lstat(root + "/" + file, &info) != 0 {
            missing.append(file)
        }
        for applet in applets where lstat(root + "/" + applet, &info) != 0 {
            missing.append(applet)
        }
        return missing
    }

    /// Writes a complete image into `staging` (an empty directory of ours).
    static func build(into staging: String, busybox: String, applets: [String]) throws {
        let fm = FileManager.default
        guard chmod(staging, 0o755) == 0 else { throw RuntimeError("chmod \(staging): \(String(cString: strerror(errno)))") }
        for dir in ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root", "var/www"] {
            try fm.createDirectory(atPath: staging + "/" + dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        }
        try fm.copyItem(atPath: busybox, toPath: staging + "/bin/busybox")
        // One link per applet, as `busybox --install -s` would make.
        for applet in applets {
            let path = staging + "/" + applet
            var info = stat()
            if lstat(path, &info) == 0 { continue }
            try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            try fm.createSymbolicLink(atPath: path, withDestinationPath: "/bin/busybox")
        }
        try "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n".write(toFile: staging + "/etc/passwd", atomically: false, encoding: .utf8)
        try "root:x:0:\nnogroup:x:65534:\n".write(toFile: staging + "/etc/group", atomically: false, encoding: .utf8)
        try "<h1>Hello from a Backplane card</h1>\n".write(toFile: staging + "/var/www/index.html", atomically: false, encoding: .utf8)
        // Written last; informative only: completeness is checked entry by entry.
        try "busybox \(busybox), \(applets.count) applets\n".write(toFile: staging + "/.complete", atomically: false, encoding: .utf8)
    }

    /// Puts the verified `staging` at `root`. rename(2) cannot replace a non-empty directory, so
    /// an existing (broken) image is first renamed aside, then removed. Caller holds the lock.
    static func replace(_ root: String, with staging: String, home: String) throws {
        var info = stat()
        if lstat(root, &info) == 0 {
            let aside = try makeUniqueDirectory(home + "/rootfs.old-XXXXXX")
            guard rename(root, aside) == 0 else {
                let reason = String(cString: strerror(errno))
                try? FileManager.default.removeItem(atPath: aside)
                throw RuntimeError("could not move the incomplete busybox image \(root) aside: \(reason)")
            }
            try? FileManager.default.removeItem(atPath: aside)
        }
        guard rename(staging, root) == 0 else {
            throw RuntimeError("could not rename \(staging) to \(root): \(String(cString: strerror(errno)))")
        }
    }

    /// Builds left by a process that died mid-build. Caller holds the lock, so none is in progress.
    static func removeAbandonedBuilds(in home: String) {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: home)) ?? [] where name.hasPrefix("rootfs.tmp-") || name.hasPrefix("rootfs.old-") {
            try? fm.removeItem(atPath: home + "/" + name)
        }
    }

    /// mkdtemp(3): a new directory (mode 0700) whose name ends in six unique characters.
    static func makeUniqueDirectory(_ template: String) throws -> String {
        var buffer = Array(template.utf8CString)
        guard let made = buffer.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw RuntimeError("mkdtemp \(template): \(String(cString: strerror(errno)))")
        }
        return String(cString: made)
    }

    /// Runs `body` holding an exclusive flock(2) on `path`. Each call opens its own file
    /// description, so the lock excludes other tasks of this process as well as other processes.
    /// Waiting polls with LOCK_NB so no thread of the cooperative pool is blocked in the kernel.
    static func withFileLock<T>(_ path: String, _ body: () async throws -> T) async throws -> T {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RuntimeError("open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }  // also releases the lock
        var wait = Duration.milliseconds(5)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                throw RuntimeError("flock \(path): \(String(cString: strerror(errno)))")
            }
            try await Task.sleep(for: wait)  // another builder holds it; a build takes well under a second
            wait = min(wait * 2, .milliseconds(100))
        }
        return try await body()
    }
}
