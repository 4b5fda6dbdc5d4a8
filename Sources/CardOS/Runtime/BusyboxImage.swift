import Foundation

/// The built-in `busybox` image: a root filesystem made from Debian's `busybox-static`, built
/// once into a cache directory and shared read-only by every container that uses it.
public enum BusyboxImage {
    public static let candidates = ["/bin/busybox", "/usr/bin/busybox"]

    /// A dynamically linked binary names its loader (PT_INTERP) near the start of the file.
    static func isStatic(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 16 << 10)) ?? Data()
        return head.starts(with: [0x7F, 0x45, 0x4C, 0x46]) && head.range(of: Data("/ld-linux".utf8)) == nil && head.range(of: Data("/ld-musl".utf8)) == nil
    }

    /// Returns the rootfs directory, building it first if needed.
    /// - Throws: ``RuntimeError`` naming the missing package when no static busybox exists.
    public static func rootfs(cacheDirectory: String) throws -> String {
        let root = (cacheDirectory as NSString).appendingPathComponent("images/busybox/rootfs")
        let marker = (root as NSString).appendingPathComponent(".complete")
        let fm = FileManager.default
        if fm.fileExists(atPath: marker) { return root }
        guard let busybox = candidates.first(where: { fm.isExecutableFile(atPath: $0) && isStatic($0) }) else {
            throw RuntimeError("the busybox image needs a statically linked busybox (Debian: apt-get install busybox-static); looked in \(candidates.joined(separator: ", "))")
        }
        let staging = root + ".tmp-\(getpid())"
        try? fm.removeItem(atPath: staging)
        for dir in ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root", "var/www"] {
            try fm.createDirectory(atPath: (staging as NSString).appendingPathComponent(dir), withIntermediateDirectories: true)
        }
        let target = (staging as NSString).appendingPathComponent("bin/busybox")
        try fm.copyItem(atPath: busybox, toPath: target)
        // One link per applet, as `busybox --install -s` would make.
        let list = Process()
        list.executableURL = URL(fileURLWithPath: busybox)
        list.arguments = ["--list-full"]
        let pipe = Pipe()
        list.standardOutput = pipe
        try list.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        list.waitUntilExit()
        for applet in String(decoding: output, as: UTF8.self).split(separator: "\n") where !applet.isEmpty {
            let path = (staging as NSString).appendingPathComponent(String(applet))
            if fm.fileExists(atPath: path) { continue }
            try? fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try fm.createSymbolicLink(atPath: path, withDestinationPath: "/bin/busybox")
        }
        try "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n".write(toFile: (staging as NSString).appendingPathComponent("etc/passwd"), atomically: true, encoding: .utf8)
        try "root:x:0:\nnogroup:x:65534:\n".write(toFile: (staging as NSString).appendingPathComponent("etc/group"), atomically: true, encoding: .utf8)
        try "<h1>Hello from a Backplane card</h1>\n".write(toFile: (staging as NSString).appendingPathComponent("var/www/index.html"), atomically: true, encoding: .utf8)
        try fm.createFile(atPath: (staging as NSString).appendingPathComponent(".complete"), contents: Data())
        try fm.createDirectory(atPath: (root as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        if fm.fileExists(atPath: root) {
            try fm.removeItem(atPath: staging)  // another card built it meanwhile
        } else {
            try fm.moveItem(atPath: staging, toPath: root)
        }
        return root
    }
}
