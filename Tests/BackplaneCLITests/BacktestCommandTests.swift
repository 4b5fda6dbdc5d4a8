import ArgumentParser
import Foundation
import Testing
@testable import BackplaneCLI

@Suite("backplane forecast backtest")
struct BacktestCommandTests {
    @Test("the limits file has one row per evaluation row t = W, W+S, … while t + H < rows, with that row's timestamp")
    func limitsFileRows() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bp-bt-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var csv = "timestamp,cpu_percent,memory_percent\n"
        for i in 0..<30 { csv += "\(1000 + i * 300),\(10 + i % 4),\(50 + i)\n" }
        try csv.write(toFile: dir + "/job-7.csv", atomically: true, encoding: .utf8)
        let command = try Backplane.parseAsRoot(["forecast", "backtest", "--input", dir + "/job-7.csv", "--horizon", "2", "--stride", "3", "--warmup", "5", "--output", dir + "/out", "--model", "window-max", "--json"])
        guard var asyncCommand = command as? any AsyncParsableCommand else { Issue.record("not an async command"); return }
        try await asyncCommand.run()
        let text = try String(contentsOfFile: dir + "/out/job-7.limits.csv", encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.first == "timestamp,cpu_limit,memory_limit")
        // t = 5, 8, …, 26 (26 + 2 < 30; 29 + 2 is not).
        let rows = Array(stride(from: 5, through: 26, by: 3))
        #expect(lines.dropFirst().map { String($0.split(separator: ",")[0]) } == rows.map { "\(1000 + $0 * 300)" })
        // Window max of the last H = 2 rows at t, from rows ≤ t only.
        #expect(lines.dropFirst().map { Double($0.split(separator: ",")[2])! } == rows.map { Double(50 + $0) })
    }

    @Test("bad options are named")
    func badOptions() {
        #expect(throws: (any Error).self) { try Backplane.parseAsRoot(["forecast", "backtest", "--input", "x", "--output", "y", "--quantile", "1.5"]) }
        #expect(throws: (any Error).self) { try Backplane.parseAsRoot(["forecast", "backtest", "--input", "x", "--output", "y", "--model", "magic"]) }
    }
}
