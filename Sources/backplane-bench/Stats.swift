import Foundation
import NIOCore

enum Stats {
    /// Nearest-rank percentile of unsorted samples.
    static func percentile(_ samples: [Double], _ p: Double) -> Double {
        guard !samples.isEmpty else { return .nan }
        let sorted = samples.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }

    static func nowNanoseconds() -> UInt64 { NIODeadline.now().uptimeNanoseconds }

    static func round2(_ x: Double) -> Double { (x * 100).rounded() / 100 }

    /// Per key, the median over runs of numeric figures (others: the first run's value), in the
    /// first run's key order.
    static func medians(_ runs: [[(String, Any)]]) -> [(String, Any)] {
        guard let first = runs.first else { return [] }
        return first.map { key, value in
            let values = runs.compactMap { run in run.first(where: { $0.0 == key })?.1 }
            if value is Int {
                return (key, Int(percentile(values.compactMap { ($0 as? Int).map(Double.init) }, 50).rounded()))
            }
            if value is Double {
                return (key, round2(percentile(values.compactMap { $0 as? Double }, 50)))
            }
            return (key, value)
        }
    }

    static func machine() -> [String: String] {
        var u = utsname()
        uname(&u)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        var model = "unknown"
        if let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
           let name = line.split(separator: ":", maxSplits: 1).last {
            model = name.trimmingCharacters(in: .whitespaces)
        }
        return ["system": field(u.sysname), "kernel": field(u.release), "arch": field(u.machine), "cpu_model": model]
    }

    static var buildMode: String {
        #if DEBUG
        return "debug"
        #else
        return "release"
        #endif
    }
}

/// Prints results as one JSON object, or as aligned lines for people.
struct Report {
    var entries: [(String, Any)] = []
    mutating func add(_ key: String, _ value: Any) { entries.append((key, value)) }

    func json() -> String {
        let dict = Dictionary(uniqueKeysWithValues: entries.map { ($0.0, $0.1) })
        let data = try! JSONSerialization.data(withJSONObject: dict, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    func text() -> String {
        let width = entries.map(\.0.count).max() ?? 0
        return entries.map { key, value in key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + "\(value)" }.joined(separator: "\n")
    }
}
