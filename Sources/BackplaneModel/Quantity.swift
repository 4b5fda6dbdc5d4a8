import Foundation

/// Parses and prints resource quantities the way Kubernetes users write them:
/// CPU `250m`, `2`, `0.5`; memory `128Mi`, `2Gi`, `2GiB`, `1G`, `1048576`; network `100Mbps`.
public enum Quantity {
    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        public var text: String
        public var expected: String
        public var description: String { "'\(text)' is not \(expected)" }
    }

    /// CPU in millicores: `250m`, `2` (cores), `0.5` (cores).
    public static func parseCPU(_ text: String) throws(ParseError) -> Int64 {
        let t = text.trimmingCharacters(in: .whitespaces)
        let error = ParseError(text: text, expected: "a CPU amount such as 250m, 0.5 or 2")
        if t.hasSuffix("m") {
            guard let m = Int64(t.dropLast()), m >= 0 else { throw error }
            return m
        }
        guard let cores = Double(t), cores >= 0, cores.isFinite, cores <= 1e9 else { throw error }
        return Int64((cores * 1000).rounded())
    }

    private static let byteUnits: [(String, Int64)] = [
        ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40),
        ("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("Ti", 1 << 40),
        ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000),
        ("k", 1_000), ("K", 1_000), ("M", 1_000_000), ("G", 1_000_000_000), ("T", 1_000_000_000_000),
        ("B", 1),
    ]

    /// Bytes: `128Mi`, `2GiB`, `1G`, `512MB`, `1048576`.
    public static func parseBytes(_ text: String) throws(ParseError) -> Int64 {
        let t = text.trimmingCharacters(in: .whitespaces)
        let error = ParseError(text: text, expected: "a size such as 128Mi, 2GiB, 1G or 1048576")
        for (suffix, factor) in byteUnits where t.hasSuffix(suffix) {
            guard let n = Double(t.dropLast(suffix.count)), n >= 0, n.isFinite, n * Double(factor) < 9e18 else { throw error }
            return Int64((n * Double(factor)).rounded())
        }
        guard let n = Int64(t), n >= 0 else { throw error }
        return n
    }

    /// Bits per second: `100Mbps`, `1Gbps`, `500kbps`, `1000bps`.
    public static func parseBitRate(_ text: String) throws(ParseError) -> Int64 {
        let t = text.trimmingCharacters(in: .whitespaces)
        let error = ParseError(text: text, expected: "a bit rate such as 100Mbps, 1Gbps or 500kbps")
        for (suffix, factor) in [("Tbps", 1e12), ("Gbps", 1e9), ("Mbps", 1e6), ("kbps", 1e3), ("Kbps", 1e3), ("bps", 1.0)] where t.hasSuffix(suffix) {
            guard let n = Double(t.dropLast(suffix.count)), n >= 0, n.isFinite, n * factor < 9e18 else { throw error }
            return Int64((n * factor).rounded())
        }
        throw error
    }

    public static func formatCPU(_ millis: Int64) -> String {
        millis % 1000 == 0 ? "\(millis / 1000)" : "\(millis)m"
    }

    public static func formatBytes(_ bytes: Int64) -> String {
        for (suffix, factor) in [("Ti", Int64(1) << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] where bytes >= factor {
            let value = Double(bytes) / Double(factor)
            return value == value.rounded() ? "\(Int64(value))\(suffix)" : String(format: "%.1f%@", value, suffix)
        }
        return "\(bytes)"
    }

    public static func formatBitRate(_ bps: Int64) -> String {
        for (suffix, factor) in [("Gbps", 1e9), ("Mbps", 1e6), ("kbps", 1e3)] where Double(bps) >= factor {
            let value = Double(bps) / factor
            return value == value.rounded() ? "\(Int64(value))\(suffix)" : String(format: "%.1f%@", value, suffix)
        }
        return "\(bps)bps"
    }
}
