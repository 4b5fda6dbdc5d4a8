import Foundation

/// Parses and prints resource quantities the way Kubernetes users write them:
/// CPU `250m`, `2`, `0.5`; memory `128Mi`, `2Gi`, `2GiB`, `1G`, `1048576`; network `100Mbps`.
///
/// Every parser is total: it either returns an amount in `0...bound` (the dimension's
/// ``Resources/maximum`` unless told otherwise) or throws a ``ParseError`` that says what kind of
/// value was expected. No input can make it trap (no unchecked conversion or arithmetic).
public enum Quantity {
    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        public var text: String
        public var expected: String
        /// Set when the text is a well-formed amount outside the allowed range.
        public var problem: String?
        public init(text: String, expected: String, problem: String? = nil) {
            self.text = text
            self.expected = expected
            self.problem = problem
        }
        public var description: String {
            if let problem { return "'\(Quantity.excerpt(text))' \(problem): expected \(expected)" }
            return "'\(Quantity.excerpt(text))' is not \(expected)"
        }
    }

    /// CPU in millicores: `250m`, `2` (cores), `0.5` (cores); at most `bound` millicores.
    public static func parseCPU(_ text: String, bound: Int64 = Resources.maximum.cpuMillis) throws(ParseError) -> Int64 {
        let limit = "at most \(formatCPU(bound)) cores"
        let expected = "a CPU amount such as 250m, 0.5 or 2 (\(limit))"
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.hasSuffix("m") {
            return try scaled(String(t.dropLast()), factor: 1, bound: bound, text: text, expected: expected, limit: limit)
        }
        return try scaled(t, factor: 1000, bound: bound, text: text, expected: expected, limit: limit)
    }

    private static let byteUnits: [(String, Double)] = [
        ("KiB", 0x1p10), ("MiB", 0x1p20), ("GiB", 0x1p30), ("TiB", 0x1p40), ("PiB", 0x1p50),
        ("Ki", 0x1p10), ("Mi", 0x1p20), ("Gi", 0x1p30), ("Ti", 0x1p40), ("Pi", 0x1p50),
        ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("PB", 1e15),
        ("k", 1e3), ("K", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15),
        ("B", 1),
    ]

    /// Bytes: `128Mi`, `2GiB`, `1G`, `512MB`, `1048576`; at most `bound` bytes.
    public static func parseBytes(_ text: String, bound: Int64 = Resources.maximum.memoryBytes) throws(ParseError) -> Int64 {
        let limit = "at most \(formatBytes(bound))"
        let expected = "a size such as 128Mi, 2GiB, 1G or 1048576 (\(limit))"
        let t = text.trimmingCharacters(in: .whitespaces)
        for (suffix, factor) in byteUnits where t.hasSuffix(suffix) {
            return try scaled(String(t.dropLast(suffix.count)), factor: factor, bound: bound, text: text, expected: expected, limit: limit)
        }
        return try scaled(t, factor: 1, bound: bound, text: text, expected: expected, limit: limit)
    }

    /// Bits per second: `100Mbps`, `1Gbps`, `500kbps`, `1000bps`; at most `bound`.
    public static func parseBitRate(_ text: String, bound: Int64 = Resources.maximum.networkBitsPerSecond) throws(ParseError) -> Int64 {
        let limit = "at most \(formatBitRate(bound))"
        let expected = "a bit rate such as 100Mbps, 1Gbps or 500kbps (\(limit))"
        let t = text.trimmingCharacters(in: .whitespaces)
        for (suffix, factor) in [("Tbps", 1e12), ("Gbps", 1e9), ("Mbps", 1e6), ("kbps", 1e3), ("Kbps", 1e3), ("bps", 1.0)] where t.hasSuffix(suffix) {
            return try scaled(String(t.dropLast(suffix.count)), factor: factor, bound: bound, text: text, expected: expected, limit: limit)
        }
        throw ParseError(text: text, expected: expected)
    }

    /// `number × factor`, rounded, if `number` is a plain decimal (`12`, `0.5`, `1e3`) and the
    /// product lies in `0...bound`.
    private static func scaled(_ number: String, factor: Double, bound: Int64, text: String, expected: String, limit: String) throws(ParseError) -> Int64 {
        guard isDecimal(number), let n = Double(number), n.isFinite else { throw ParseError(text: text, expected: expected) }
        if n < 0 || number.hasPrefix("-") && n != 0 {
            throw ParseError(text: text, expected: expected, problem: "is negative")
        }
        let value = (n * factor).rounded()
        // `bound` is far below 2^63, so the comparison happens before any conversion can trap.
        guard value.isFinite, value <= Double(bound) else {
            throw ParseError(text: text, expected: expected, problem: "is too large")
        }
        return Int64(value)
    }

    /// Digits with an optional fraction and exponent, optionally signed: what JSON and YAML
    /// users write. Rejects `inf`, `nan`, hex floats and everything else `Double(_:)` accepts.
    static func isDecimal(_ s: String) -> Bool {
        var u = Substring(s).utf8[...]
        if let f = u.first, f == UInt8(ascii: "-") || f == UInt8(ascii: "+") { u = u.dropFirst() }
        func digits(_ u: inout Substring.UTF8View.SubSequence) -> Int {
            let n = u.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }.count
            u = u.dropFirst(n)
            return n
        }
        var count = digits(&u)
        if u.first == UInt8(ascii: ".") {
            u = u.dropFirst()
            count += digits(&u)
        }
        guard count > 0, count <= 64 else { return false }
        if let e = u.first, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            u = u.dropFirst()
            if let f = u.first, f == UInt8(ascii: "-") || f == UInt8(ascii: "+") { u = u.dropFirst() }
            let exponent = digits(&u)
            guard exponent > 0, exponent <= 4 else { return false }
        }
        return u.isEmpty
    }

    /// At most 64 characters of `text`, for echoing user input in messages.
    public static func excerpt(_ text: String, limit: Int = 64) -> String {
        text.count <= limit ? text : "\(text.prefix(limit))… (\(text.utf8.count) bytes)"
    }

    public static func formatCPU(_ millis: Int64) -> String {
        millis % 1000 == 0 ? "\(millis / 1000)" : "\(millis)m"
    }

    public static func formatBytes(_ bytes: Int64) -> String {
        for (suffix, factor) in [("Pi", Int64(1) << 50), ("Ti", Int64(1) << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] where bytes >= factor {
            let value = Double(bytes) / Double(factor)
            return value == value.rounded() && value < 1e15 ? "\(Int64(value))\(suffix)" : String(format: "%.1f%@", value, suffix)
        }
        return "\(bytes)"
    }

    public static func formatBitRate(_ bps: Int64) -> String {
        for (suffix, factor) in [("Tbps", 1e12), ("Gbps", 1e9), ("Mbps", 1e6), ("kbps", 1e3)] where Double(bps) >= factor {
            let value = Double(bps) / factor
            return value == value.rounded() && value < 1e15 ? "\(Int64(value))\(suffix)" : String(format: "%.1f%@", value, suffix)
        }
        return "\(bps)bps"
    }
}
