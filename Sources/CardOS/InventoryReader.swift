import BackplaneModel
import Foundation

/// Reads a card's inventory from /proc and /sys. `root` is "/" on a real card; tests pass a
/// directory laid out the same way.
public enum InventoryReader {
    public static func read(root: String = "/", diskPaths: [String]) -> Inventory {
        func text(_ path: String) -> String? {
            (try? String(contentsOfFile: (root as NSString).appendingPathComponent(path), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        func entries(_ path: String) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: (root as NSString).appendingPathComponent(path))) ?? []).sorted()
        }
        let cpuinfo = text("proc/cpuinfo") ?? ""
        let cpuLines = cpuinfo.split(separator: "\n")
        let cores = cpuLines.filter { $0.hasPrefix("processor") }.count
        let model = cpuLines.first { $0.hasPrefix("model name") }.flatMap { $0.split(separator: ":", maxSplits: 1).last }.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
        let memKB = (text("proc/meminfo") ?? "").split(separator: "\n").first { $0.hasPrefix("MemTotal:") }
            .flatMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first }.flatMap { Int64($0) } ?? 0
        let disks = diskPaths.compactMap { path -> Inventory.Disk? in
            var fs = statvfs()
            guard statvfs(path, &fs) == 0 else { return nil }
            return Inventory.Disk(path: path, totalBytes: Int64(fs.f_blocks) * Int64(fs.f_frsize), freeBytes: Int64(fs.f_bavail) * Int64(fs.f_frsize))
        }
        let interfaces = entries("sys/class/net").map { name in
            Inventory.NetworkInterface(
                name: name, mac: text("sys/class/net/\(name)/address") ?? "",
                mtu: Int(text("sys/class/net/\(name)/mtu") ?? "") ?? 0,
                up: text("sys/class/net/\(name)/operstate") == "up" || (name == "lo" && text("sys/class/net/\(name)/operstate") == "unknown"),
                speedMbps: Int(text("sys/class/net/\(name)/speed") ?? "").flatMap { $0 > 0 ? $0 : nil }
            )
        }
        let pci = entries("sys/bus/pci/devices").map { address in
            Inventory.PCIDevice(address: address, vendor: text("sys/bus/pci/devices/\(address)/vendor") ?? "", device: text("sys/bus/pci/devices/\(address)/device") ?? "", deviceClass: text("sys/bus/pci/devices/\(address)/class") ?? "")
        }
        return Inventory(
            hostname: text("proc/sys/kernel/hostname") ?? ProcessInfo.processInfo.hostName,
            kernel: text("proc/sys/kernel/osrelease") ?? "",
            cpuCores: max(cores, cores == 0 && root == "/" ? ProcessInfo.processInfo.activeProcessorCount : 0),
            cpuModel: model, memoryBytes: memKB * 1024, disks: disks, networkInterfaces: interfaces, pciDevices: pci
        )
    }
}
