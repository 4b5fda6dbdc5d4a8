import ArgumentParser
import Forecasting
import Foundation

struct Forecast: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Forecasts: see a workload's forecast, or judge the models on recorded usage traces.",
        subcommands: [Show.self, Backtest.self]
    )

    struct Backtest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Backtest forecasting models on usage traces and report violation rate, slack and slack@1%.",
            discussion: """
            Inputs are CSV files (or folders of them) with a header `timestamp,<metric>_<unit>,...` \
            (the format of shared/traces/usage). At each evaluation row t = W, W+S, W+2S, … while \
            t + H < rows, the model sets a limit from rows ≤ t for rows t+1 … t+H. For each input it \
            writes DIR/<file-stem>.limits.csv (`timestamp,<metric>_limit,...`, one row per evaluation \
            row, the chosen model). The summary covers every model, pooled over all inputs per metric: \
            violation rate, slack, and slack@1% (limits scaled by one multiplier per metric and model \
            so that at most 1 % of covered steps exceed them). Progress goes to stderr.
            """
        )
        @Option(name: .long, parsing: .upToNextOption, help: "CSV files or folders.") var input: [String]
        @Option(help: "H: rows each limit must cover.") var horizon = 12
        @Option(help: "S: rows between evaluations.") var stride = 12
        @Option(help: "W: rows before the first evaluation.") var warmup = 288
        @Option(help: "Q: the quantile models aim for (used by the ensemble's loss).") var quantile = 0.99
        @Option(help: "Directory for the limits files.") var output: String
        @Option(help: "Model for the limits files: \(ModelKind.allCases.map(\.rawValue).joined(separator: ", ")).") var model = "ensemble"
        @Flag(help: "Print the summary as JSON.") var json = false

        func validate() throws {
            guard horizon >= 1, stride >= 1, warmup >= 0 else { throw ValidationError("--horizon and --stride must be at least 1, --warmup at least 0") }
            guard quantile > 0, quantile < 1 else { throw ValidationError("--quantile must be between 0 and 1 (exclusive)") }
            guard ModelKind(rawValue: model) != nil else { throw ValidationError("--model must be one of \(ModelKind.allCases.map(\.rawValue).joined(separator: ", "))") }
            guard !input.isEmpty else { throw ValidationError("give at least one --input file or folder") }
        }

        func run() async throws {
            let chosen = ModelKind(rawValue: model)!
            let files = try Self.csvFiles(input)
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            let kinds = ModelKind.baselines + [.holtWinters, .quantileRegression, .ensemble]
            var pooled: [String: [ModelKind: CoveredSteps]] = [:]
            var series = 0
            for (index, file) in files.enumerated() {
                FileHandle.standardError.write(Data("[\(index + 1)/\(files.count)] \(file)\n".utf8))
                guard let table = try UsageTable(path: file) else {
                    FileHandle.standardError.write(Data("  skipped: header does not start with 'timestamp'\n".utf8))
                    continue
                }
                series += 1
                var limitColumns: [[Double]] = []
                var rows: [Int] = []
                for (c, metric) in table.metrics.enumerated() {
                    for kind in kinds {
                        let r = Forecasting.Backtest.run(kind, times: table.times, values: table.columns[c], horizon: horizon, stride: stride, warmup: warmup, quantile: quantile)
                        pooled[metric, default: [:]][kind, default: CoveredSteps()].append(r.covered)
                        if kind == chosen {
                            limitColumns.append(r.limits.map(\.limit))
                            rows = r.limits.map(\.row)
                        }
                    }
                }
                var out = "timestamp," + table.metrics.map { "\($0)_limit" }.joined(separator: ",") + "\n"
                for (i, row) in rows.enumerated() {
                    out += Self.format(table.times[row]) + "," + limitColumns.map { Self.format($0[i]) }.joined(separator: ",") + "\n"
                }
                let stem = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
                try out.write(toFile: (output as NSString).appendingPathComponent("\(stem).limits.csv"), atomically: true, encoding: .utf8)
            }
            var summary: [[String: Any]] = []
            for metric in pooled.keys.sorted() {
                for kind in kinds {
                    let c = pooled[metric]![kind]!
                    let at = c.slackAt(violationRate: 0.01)
                    summary.append(["metric": metric, "model": kind.rawValue, "covered_steps": c.count, "violation_rate": c.violationRate(), "slack": c.slack(), "slack_at_1pct": at.slack, "multiplier_at_1pct": at.multiplier])
                }
            }
            if json {
                let object: [String: Any] = ["series": series, "horizon": horizon, "stride": stride, "warmup": warmup, "quantile": quantile, "results": summary]
                print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
                return
            }
            print("\(series) series, H=\(horizon) S=\(stride) W=\(warmup) Q=\(quantile); limits of '\(model)' in \(output)")
            print(table(["METRIC", "MODEL", "VIOLATIONS", "SLACK", "SLACK@1%", "MULTIPLIER"], summary.map { r in
                [r["metric"] as! String, r["model"] as! String, String(format: "%.2f%%", 100 * (r["violation_rate"] as! Double)),
                 String(format: "%.3f", r["slack"] as! Double), String(format: "%.3f", r["slack_at_1pct"] as! Double), String(format: "%.2f", r["multiplier_at_1pct"] as! Double)]
            }))
        }

        static func csvFiles(_ inputs: [String]) throws -> [String] {
            var files: [String] = []
            for path in inputs {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw ValidationError("--input \(path): no such file or folder") }
                if isDirectory.boolValue {
                    let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".csv") }.sorted()
                    files += names.map { (path as NSString).appendingPathComponent($0) }
                } else {
                    files.append(path)
                }
            }
            return files
        }

        static func format(_ x: Double) -> String {
            x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String(format: "%.6g", x)
        }
    }
}

/// A usage CSV: `timestamp,<metric>_<unit>,...`.
struct UsageTable {
    var metrics: [String]
    var times: [Double] = []
    var columns: [[Double]]

    /// Nil when the file is not a usage table (its header does not start with `timestamp`).
    init?(path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ValidationError("cannot read \(path)") }
        var lines = text.split(whereSeparator: \.isNewline).makeIterator()  // "\r\n" is one Character
        guard let header = lines.next()?.split(separator: ","), header.first == "timestamp", header.count >= 2 else { return nil }
        metrics = header.dropFirst().map { String($0.split(separator: "_").first ?? $0) }
        columns = Array(repeating: [], count: metrics.count)
        var n = 1
        while let line = lines.next() {
            n += 1
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == metrics.count + 1, let t = Double(fields[0]) else {
                throw ValidationError("\(path) line \(n): expected \(metrics.count + 1) numeric fields")
            }
            times.append(t)
            for c in 0..<metrics.count { columns[c].append(Double(fields[c + 1]) ?? 0) }
        }
    }
}
