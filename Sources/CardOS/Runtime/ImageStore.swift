import BackplaneModel
import Foundation
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// A card's image store, `<cache>/images/<name>/rootfs`: the only place a container's root
/// filesystem comes from. `busybox` is built in (``BusyboxImage``); an admin adds others with
/// `backplane image import NAME DIR`, which copies DIR in, owned by root. A workload names an
/// image, never a host path (an API caller must not choose what of the host a container sees).
///
/// The store is root-owned and world-readable (directories 0755): a container's root is an
/// unprivileged host uid (user namespace) and must be able to read its image.
public struct ImageStore: Sendable {
    /// Machine-wide, like /var/lib/docker: outside any user's home, so containers' unprivileged
    /// roots can reach it.
    public static let defaultDirectory = "/var/cache/backplane"

    public let cacheDirectory: String
    public var directory: String { (cacheDirectory as NSString).appendingPathComponent("images") }

    public init(cacheDirectory: String) {
        self.cacheDirectory = cacheDirectory
    }

    /// The root filesystem of image `name` (building `busybox` on first use).
    public func rootfs(of name: String) async throws -> String {
        if let problem = WorkloadSpec.imageNameProblem(name) { throw RuntimeError("image: \(problem)") }
        if name == "busybox" { return try await BusyboxImage.rootfs(cacheDirectory: cacheDirectory) }
        let rootfs = path(of: name)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: rootfs, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw RuntimeError("image '\(name)' is not in this card's image store (\(directory)); an admin adds it with `backplane image import \(name) DIR`")
        }
        return rootfs
    }

    func path(of name: String) -> String { "\(directory)/\(name)/rootfs" }

    /// Why a container whose root is host uid `uid` could not reach the store (a directory on
    /// the way that others cannot traverse, e.g. a home directory of mode 0700), or nil.
    public func reachabilityProblem(forUID uid: UInt32) -> String? {
        var path = URL(fileURLWithPath: cacheDirectory).standardizedFileURL.path
        while true {
            var info = stat()
            if stat(path, &info) == 0, info.st_uid != uid, info.st_mode & 0o001 == 0 {
                return "the image store \(cacheDirectory) cannot be reached by containers (their root is host uid \(uid)): \(path) is mode \(String(info.st_mode & 0o7777, radix: 8)); use --image-store with a directory every user can traverse (default \(Self.defaultDirectory))"
            }
            if path == "/" || path.isEmpty { return nil }
            path = (path as NSString).deletingLastPathComponent
        }
    }

    /// The images in the store (`busybox` once built), sorted.
    public func list() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { WorkloadSpec.imageNameProblem($0) == nil && FileManager.default.fileExists(atPath: path(of: $0)) }.sorted()
    }

    /// Copies `source` (a root filesystem directory) into the store as image `name`, replacing
    /// an older import of that name (containers running on it keep their mount). The copy is
    /// made beside the image and renamed into place, so a half-copied image is never used.
    @discardableResult
    public func importImage(_ name: String, from source: String) async throws -> String {
        if let problem = WorkloadSpec.imageNameProblem(name) { throw RuntimeError("NAME: \(problem)") }
        guard name != "busybox" else { throw RuntimeError("NAME: 'busybox' is the built-in image; choose another name") }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw RuntimeError("DIR: '\(source)' is not a directory")
        }
        let fm = FileManager.default
        let imageDirectory = "\(directory)/\(name)"
        try fm.createDirectory(atPath: imageDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        for dir in [cacheDirectory, directory, imageDirectory] { chmod(dir, 0o755) }
        var template = Array("\(imageDirectory)/rootfs.tmp-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw RuntimeError("cannot make a directory in \(imageDirectory): \(String(cString: strerror(errno)))") }
        let staging = String(cString: made)
        do {
            // Root-owned copies (an admin's files must not stay owned by whoever made them).
            let result = try await Subprocess.run(.path(FilePath("/bin/cp")), arguments: ["-a", "--no-preserve=ownership", "\(source)/.", staging],
                                                  output: .discarded, error: .string(limit: 1 << 16))
            guard case .exited(0) = result.terminationStatus else {
                throw RuntimeError("copying \(source) failed: \(result.standardError)")
            }
            chmod(staging, 0o755)
            let target = path(of: name)
            var old: String?
            if fm.fileExists(atPath: target) {
                old = "\(imageDirectory)/rootfs.old-\(UUID().uuidString.prefix(8))"
                try fm.moveItem(atPath: target, toPath: old!)
            }
            try fm.moveItem(atPath: staging, toPath: target)
            // The old tree stays: running containers' roots are its directory (runc binds it),
            // and deleting it would empty them. `backplane image import` says where it is.
            _ = old
            return target
        } catch {
            try? fm.removeItem(atPath: staging)
            throw error
        }
    }
}
