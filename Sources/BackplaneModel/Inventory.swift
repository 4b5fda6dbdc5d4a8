/// What a card's host has, as CardOS reads it from /proc and /sys (facts, not the slice offered).
public struct Inventory: Codable, Hashable, Sendable {
    public struct Disk: Codable, Hashable, Sendable {
        public var path: String
        public var totalBytes: Int64
        public var freeBytes: Int64
        public init(path: String, totalBytes: Int64, freeBytes: Int64) {
            self.path = path
            self.totalBytes = totalBytes
            self.freeBytes = freeBytes
        }
    }

    public struct NetworkInterface: Codable, Hashable, Sendable {
        public var name: String
        public var mac: String
        public var mtu: Int
        public var up: Bool
        /// Link speed in Mbit/s when the driver reports one.
        public var speedMbps: Int?
        public init(name: String, mac: String, mtu: Int, up: Bool, speedMbps: Int?) {
            self.name = name
            self.mac = mac
            self.mtu = mtu
            self.up = up
            self.speedMbps = speedMbps
        }
    }

    public struct PCIDevice: Codable, Hashable, Sendable {
        /// Bus address, e.g. `0000:00:04.0`.
        public var address: String
        public var vendor: String
        public var device: String
        /// PCI class code, e.g. `0x030000` (display controller).
        public var deviceClass: String
        public init(address: String, vendor: String, device: String, deviceClass: String) {
            self.address = address
            self.vendor = vendor
            self.device = device
            self.deviceClass = deviceClass
        }
    }

    public var hostname: String
    public var kernel: String
    public var cpuCores: Int
    public var cpuModel: String
    public var memoryBytes: Int64
    public var disks: [Disk]
    public var networkInterfaces: [NetworkInterface]
    public var pciDevices: [PCIDevice]

    public init(hostname: String, kernel: String, cpuCores: Int, cpuModel: String, memoryBytes: Int64, disks: [Disk], networkInterfaces: [NetworkInterface], pciDevices: [PCIDevice]) {
        self.hostname = hostname
        self.kernel = kernel
        self.cpuCores = cpuCores
        self.cpuModel = cpuModel
        self.memoryBytes = memoryBytes
        self.disks = disks
        self.networkInterfaces = networkInterfaces
        self.pciDevices = pciDevices
    }
}
