import BackplaneModel
import Foundation

/// The OCI runtime `config.json` CardOS writes for one container.
enum OCIConfig {
    /// CFS period in microseconds; quota = millicores × period / 1000.
    static let cpuPeriod: Int64 = 100_000

    static func cpuQuota(millis: Int64) -> Int64 { max(1000, millis * cpuPeriod / 1000) }
    /// cgroup v1 shares: 1024 per core, at least 2.
    static func cpuShares(millis: Int64) -> Int64 { max(2, millis * 1024 / 1000) }

    static func make(spec: ContainerSpec, rootfs: String, scratch: String, cgroupsPath: String) -> [String: Any] {
        var env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=\(spec.id)", "HOME=/root"]
        env += spec.env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let capabilities = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE"]
        var resources: [String: Any] = [
            "pids": ["limit": spec.pidsLimit],
            "cpu": ["period": cpuPeriod, "quota": cpuQuota(millis: spec.resources.cpuMillis), "shares": cpuShares(millis: spec.resources.cpuMillis)],
            "devices": [["allow": false, "access": "rwm"]],
        ]
        if spec.resources.memoryBytes > 0 { resources["memory"] = ["limit": spec.resources.memoryBytes] }
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
            "hostname": spec.id,
            "mounts": [
                ["destination": "/proc", "type": "proc", "source": "proc"],
                ["destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]],
                ["destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]],
                ["destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]],
                ["destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]],
                ["destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]],
                ["destination": "/tmp", "type": "bind", "source": scratch, "options": ["rbind", "rw"]],
            ],
            "linux": [
                "cgroupsPath": cgroupsPath,
                "resources": resources,
                // No network namespace: the container shares the card's network (ports on loopback).
                "namespaces": [["type": "pid"], ["type": "ipc"], ["type": "uts"], ["type": "mount"]],
                "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
                "readonlyPaths": ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
            ] as [String: Any],
        ]
    }
}
