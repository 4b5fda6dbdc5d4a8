import ArgumentParser
import CardOS
import Foundation

/// `backplane image import|list`: the cards' image store (`/var/cache/backplane/images` unless
/// `--image-store` says otherwise). Workloads name images from it; never a host path.
struct Image: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Manage the image store that workloads take their root filesystems from.",
        discussion: """
        A workload's `image:` is a name from its card's image store: `busybox` (built in, from \
        Debian's busybox-static) or one an admin imported here. Workloads cannot name a host path. \
        The store is /var/cache/backplane/images unless --image-store says otherwise (as \
        `backplane up` and `backplane card` do); import runs as root on the host and copies the \
        directory in, owned by root.
        """,
        subcommands: [Import.self, List.self]
    )

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Copy a root filesystem directory into the image store as NAME.",
            discussion: "Example: backplane image import web ./rootfs   (then `image: web` in a spec). Importing a NAME again replaces it; running containers keep the old files, which stay beside it as rootfs.old-* until an admin removes them."
        )
        @Argument(help: "Image name: lowercase letters, digits, '.', '_' and '-' (not busybox).") var name: String
        @Argument(help: "A root filesystem directory (e.g. an unpacked OCI image's rootfs).") var directory: String
        @Option(help: "The image store (as given to `backplane up` or `backplane card`).") var imageStore = ImageStore.defaultDirectory

        func run() async throws {
            let store = ImageStore(cacheDirectory: absolute(imageStore))
            do {
                let path = try await store.importImage(name, from: absolute(directory))
                print("imported \(name) into \(path)")
            } catch let error as RuntimeError where error.message.hasPrefix("NAME:") || error.message.hasPrefix("DIR:") {
                throw ValidationError(error.message)  // a usage error: exit 2
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the images in the image store.")
        @Option(help: "The image store (as given to `backplane up` or `backplane card`).") var imageStore = ImageStore.defaultDirectory

        func run() async throws {
            let store = ImageStore(cacheDirectory: absolute(imageStore))
            let names = store.list()
            print(names.isEmpty ? "no images in \(store.directory) yet (busybox is built on first use)" : names.joined(separator: "\n"))
        }
    }
}

private func absolute(_ path: String) -> String {
    URL(fileURLWithPath: (path as NSString).standardizingPath, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL.path
}
