import BackplaneModel
import Foundation

/// The OCI runtime `config.json` CardOS writes for one container.
enum OCIConfig {
    /// CFS period in microseconds; quota = millicores × period / 1000.
    static let cpuPeriod: Int64 = 100_000

    static func cpuQuota(millis: Int64) -> Int64 { max(1000, millis * cpuPeriod / 1000) }
    /// cgroup v1 shares: 1024 per core, at least 2.
    static func cpuShares(millis: Int64) -> Int64 { max(2, millis * 1024 / 1000) }

    /// What an unprivileged service needs (Docker's default set without FSETID, SETPCAP,
    /// SYS_CHROOT, AUDIT_WRITE, MKNOD, NET_RAW and SETFCAP); inside a user namespace even these
    /// act on the container's own files and processes only.
    static let capabilities = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_NET_BIND_SERVICE"]

    /// The default seccomp profile: every system call is allowed but these, which fail with
    /// EPERM — kernel keyrings, mounts and new namespaces, module and kexec loading, BPF, perf,
    /// userfaultfd, handle-based opens (container escapes), clock and swap changes, reboot,
    /// ptrace and process_vm access. (A deny list, not Docker's allow list: it cannot break a
    /// workload by omission, and closes the calls that container escapes have used.)
    static let deniedSyscalls = [
        "add_key", "keyctl", "request_key",
        "mount", "umount", "umount2", "pivot_root", "unshare", "setns", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
        "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
        "bpf", "perf_event_open", "userfaultfd", "open_by_handle_at", "name_to_handle_at",
        "clock_settime", "clock_adjtime", "settimeofday", "adjtimex", "stime",
        "swapon", "swapoff", "reboot", "acct", "quotactl", "lookup_dcookie",
        "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
        "iopl", "ioperm", "syslog", "vhangup", "nfsservctl", "uselib",
    ]

    /// CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET.
    static let namespaceFlags: [UInt64] = [0x0002_0000, 0x0200_0000, 0x0400_0000, 0x0800_0000, 0x1000_0000, 0x2000_0000, 0x4000_0000]

    static var seccompArchitectures: [String] {
        #if arch(x86_64)
        ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
        #elseif arch(arm64)
        ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
        #else
        []
        #endif
    }

    /// A hostname is at most 64 bytes (sethostname); a tenant's instance id can be longer.
    static func hostname(_ id: String) -> String { String(id.prefix(63)) }  // ids are ASCII

    /// `mapping`: the host uid/gid range the container's ids map to (a user namespace; root
    /// inside is `mapping.hostID` outside). Nil runs without a user namespace.
    static func make(spec: ContainerSpec, rootfs: String, scratch: String, cgroupsPath: String, mapping: IDMapping? = nil) -> [String: Any] {
        var env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=\(hostname(spec.id))", "HOME=/root"]
        env += spec.env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let capabilities = Self.capabilities
        var resources: [String: Any] = [
            "pids": ["limit": spec.pidsLimit],
            "cpu": ["period": cpuPeriod, "quota": cpuQuota(millis: spec.resources.cpuMillis), "shares": cpuShares(millis: spec.resources.cpuMillis)],
            "devices": [["allow": false, "access": "rwm"]],
        ]
        if spec.resources.memoryBytes > 0 { resources["memory"] = ["limit": spec.resources.memoryBytes] }
        var namespaces: [[String: Any]] = [["type": "pid"], ["type": "ipc"], ["type": "uts"], ["type": "mount"]]
        var linux: [String: Any] = [
            "cgroupsPath": cgroupsPath,
            "resources": resources,
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        ]
        if !seccompArchitectures.isEmpty {
            linux["seccomp"] = [
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": seccompArchitectures,
                "syscalls": [["names": deniedSyscalls, "action": "SCMP_ACT_ERRNO", "errnoRet": 1]]
                    // clone with a new-namespace flag (one rule per flag: a rule's conditions all
                    // hold together) fails as unshare does; clone3, whose flags seccomp cannot
                    // read, reports ENOSYS so the C library falls back to clone.
                    + namespaceFlags.map { flag in
                        ["names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                         "args": [["index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"]]] as [String: Any]
                    }
                    + [["names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38]],
            ] as [String: Any]
        }
        // sysfs cannot be mounted in a user namespace without a network namespace of its own:
        // the host's /sys is bound read-only instead.
        var sys: [String: Any] = ["destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]]
        if let mapping {
            namespaces.append(["type": "user"])
            linux["uidMappings"] = [["containerID": 0, "hostID": mapping.hostID, "size": mapping.size]]
            linux["gidMappings"] = [["containerID": 0, "hostID": mapping.hostID, "size": mapping.size]]
            sys = ["destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]]
        }
        // No network namespace: the container shares the card's network (ports on loopback).
        linux["namespaces"] = namespaces
        return [
            "ociVersion": "1.0.2",
            "process": [
                "terminal": false,
                "user": ["uid": 0, "gid": 0],
                "args": spec.command,
                "env": env,
                "cwd": "/",
                "noNewPrivileges": true,
                "capabilities": ["bounding": capabilities, "effective": capabilities, "permitted": capabilities],
                "rlimits": [["type": "RLIMIT_NOFILE", "hard": 4096, "soft": 4096]],
            ] as [String: Any],
            "root": ["path": rootfs, "readonly": true],
            "hostname": hostname(spec.id),
            "mounts": [
                ["destination": "/proc", "type": "proc", "source": "proc"],
                ["destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]],
                ["destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]],
                ["destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]],
                ["destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]],
                sys,
                // The private scratch directory (0700, owned by the container's root): nothing
                // planted there is setuid or a device on the host or in the container.
                ["destination": "/tmp", "type": "bind", "source": scratch, "options": ["rbind", "rw", "nosuid", "nodev"]],
            ] + spec.bindMounts.map { ["destination": $0.destination, "type": "bind", "source": $0.source, "options": ["rbind", "rw", "nosuid", "nodev", "noexec"]] },
            "linux": linux,
        ]
    }
}

/// A range of host uids and gids that a container's ids 0..<size map to.
public struct IDMapping: Sendable, Hashable {
    public var hostID: UInt32
    public var size: UInt32
    public init(hostID: UInt32, size: UInt32) {
        self.hostID = hostID
        self.size = size
    }

    /// The range root's subordinate ids start at in /etc/subuid (`root:100000:65536` on Debian),
    /// else 100000, 65536 ids: never a uid of the host's own users.
    public static var `default`: IDMapping {
        if let text = try? String(contentsOfFile: "/etc/subuid", encoding: .utf8) {
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: ":")
                if fields.count == 3, fields[0] == "root", let start = UInt32(fields[1]), let count = UInt32(fields[2]), start >= 65536, count >= 65536 {
                    return IDMapping(hostID: start, size: 65536)
                }
            }
        }
        return IDMapping(hostID: 100_000, size: 65536)
    }
}
