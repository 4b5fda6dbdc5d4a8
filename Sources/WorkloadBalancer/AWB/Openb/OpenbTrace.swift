import BackplaneModel

/// One machine of the openb node list (`sn,cpu_milli,memory_mib,gpu,model`).
public struct OpenbNode: Hashable, Sendable {
    public var name: String
    public var cpuMilli: Int64
    public var memoryMiB: Int64
    public var gpuCount: Int
    public var model: String

    public init(name: String, cpuMilli: Int64, memoryMiB: Int64, gpuCount: Int, model: String) {
        self.name = name
        self.cpuMilli = cpuMilli
        self.memoryMiB = memoryMiB
        self.gpuCount = gpuCount
        self.model = model
    }

    /// The card this machine becomes on a simulated bus.
    public func card(id: CardID) -> CardSpec {
        CardSpec(id: id, name: name, capacity: Resources(cpuMillis: cpuMilli, memoryBytes: memoryMiB << 20),
                 gpuModels: Array(repeating: model, count: gpuCount))
    }
}

/// One task of an openb pod list (`name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time`).
public struct OpenbTask: Hashable, Sendable {
    public var name: String
    public var cpuMilli: Int64
    public var memoryMiB: Int64
    public var gpuCount: Int
    public var gpuMilli: Int
    /// Allowed GPU models (`gpu_spec`, `|`-separated); empty = any.
    public var gpuSpec: [String]
    public var qos: String
    public var phase: String
    public var creationTime: Int64?
    public var deletionTime: Int64?
    public var scheduledTime: Int64?

    public init(name: String, cpuMilli: Int64, memoryMiB: Int64, gpuCount: Int, gpuMilli: Int, gpuSpec: [String] = [], qos: String = "",
                phase: String = "", creationTime: Int64? = nil, deletionTime: Int64? = nil, scheduledTime: Int64? = nil) {
        self.name = name
        self.cpuMilli = cpuMilli
        self.memoryMiB = memoryMiB
        self.gpuCount = gpuCount
        self.gpuMilli = gpuMilli
        self.gpuSpec = gpuSpec
        self.qos = qos
        self.phase = phase
        self.creationTime = creationTime
        self.deletionTime = deletionTime
        self.scheduledTime = scheduledTime
    }

    /// GPU request as the artifact counts it: num_gpu × gpu_milli.
    public var totalGPUMilli: Int { gpuCount * gpuMilli }

    public func demand(instanceID: String) -> InstanceDemand {
        InstanceDemand(instanceID: instanceID, workload: name, resources: Resources(cpuMillis: cpuMilli, memoryBytes: memoryMiB << 20),
                       gpu: gpuCount > 0 ? GPURequest(count: gpuCount, milliPerDevice: gpuMilli, allowedModels: gpuSpec) : .none)
    }
}

/// A trace file that does not parse: which file, line (1-based) and field, and why.
public struct OpenbParseError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable { case missingColumn = "missing_column", badNumber = "bad_number", badRow = "bad_row", empty }
    public var code: Code
    public var file: String
    public var line: Int
    public var field: String?
    public var message: String

    public var description: String {
        "\(file):\(line)" + (field.map { ": field \($0)" } ?? "") + ": \(message)"
    }
}

/// Parses openb CSV text (the caller reads the file: this module does no I/O).
public enum OpenbTrace {
    public static func parseNodes(_ text: String, file: String) throws(OpenbParseError) -> [OpenbNode] {
        let table = try Table(text, file: file, required: ["sn", "cpu_milli", "memory_mib", "gpu", "model"])
        var nodes: [OpenbNode] = []
        nodes.reserveCapacity(table.rows.count)
        for row in table.rows {
            let gpus = try table.int(row, "gpu")
            guard gpus >= 0 else { throw table.error(row, "gpu", "must not be negative, is \(gpus)") }
            let model = table.string(row, "model")
            if gpus > 0 && model.isEmpty { throw table.error(row, "model", "is empty on a machine with \(gpus) GPUs") }
            nodes.append(OpenbNode(name: table.string(row, "sn"), cpuMilli: try table.int(row, "cpu_milli"),
                                   memoryMiB: try table.int(row, "memory_mib"), gpuCount: Int(gpus), model: model))
        }
        return nodes
    }

    public static func parseTasks(_ text: String, file: String) throws(OpenbParseError) -> [OpenbTask] {
        let table = try Table(text, file: file, required: ["name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli"])
        var tasks: [OpenbTask] = []
        tasks.reserveCapacity(table.rows.count)
        for row in table.rows {
            let count = try table.int(row, "num_gpu"), milli = try table.int(row, "gpu_milli")
            guard count >= 0 else { throw table.error(row, "num_gpu", "must not be negative, is \(count)") }
            guard (0...1000).contains(milli) else { throw table.error(row, "gpu_milli", "must be 0…1000, is \(milli)") }
            if count > 0 && milli == 0 { throw table.error(row, "gpu_milli", "is 0 with num_gpu \(count)") }
            let spec = table.string(row, "gpu_spec")
            tasks.append(OpenbTask(
                name: table.string(row, "name"), cpuMilli: try table.int(row, "cpu_milli"), memoryMiB: try table.int(row, "memory_mib"),
                gpuCount: Int(count), gpuMilli: count == 0 ? 0 : Int(milli),
                gpuSpec: spec.isEmpty ? [] : spec.split(separator: "|").map(String.init),
                qos: table.string(row, "qos"), phase: table.string(row, "pod_phase"),
                creationTime: try table.optionalInt(row, "creation_time"), deletionTime: try table.optionalInt(row, "deletion_time"),
                scheduledTime: try table.optionalInt(row, "scheduled_time")))
        }
        return tasks
    }

    struct Table {
        struct Row { var line: Int; var fields: [Substring] }
        var file: String
        var columns: [String: Int]
        var rows: [Row] = []

        init(_ text: String, file: String, required: [String]) throws(OpenbParseError) {
            self.file = file
            // Any line break: "\r\n" is one Character in Swift (alibaba-2017 files use it), so split on isNewline, not on "\n".
            var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated().makeIterator()
            guard let (_, header) = lines.next(), !header.trimmingCharacters(in: " \r").isEmpty else {
                throw OpenbParseError(code: .empty, file: file, line: 1, field: nil, message: "no header line")
            }
            // Names are trimmed: alibaba-2017's header has a space after some commas.
            let names = header.trimmingCharacters(in: "\r").split(separator: ",", omittingEmptySubsequences: false).map { String($0.trimmingCharacters(in: " ")) }
            columns = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            for name in required where columns[name] == nil {
                throw OpenbParseError(code: .missingColumn, file: file, line: 1, field: name, message: "missing column (header: \(names.joined(separator: ",")))")
            }
            while let (k, line) = lines.next() {
                let trimmed = line.hasSuffix("\r") ? line.dropLast() : line
                if trimmed.isEmpty { continue }
                let fields = trimmed.split(separator: ",", omittingEmptySubsequences: false)
                guard fields.count == names.count else {
                    throw OpenbParseError(code: .badRow, file: file, line: k + 1, field: nil, message: "has \(fields.count) fields, the header \(names.count)")
                }
                rows.append(Row(line: k + 1, fields: fields))
            }
        }

        func string(_ row: Row, _ column: String) -> String {
            columns[column].map { String(row.fields[$0]) } ?? ""
        }

        func int(_ row: Row, _ column: String) throws(OpenbParseError) -> Int64 {
            let raw = row.fields[columns[column]!]
            guard let value = Int64(raw) else { throw error(row, column, "'\(raw)' is not an integer") }
            return value
        }

        func optionalInt(_ row: Row, _ column: String) throws(OpenbParseError) -> Int64? {
            guard let k = columns[column], !row.fields[k].isEmpty else { return nil }
            guard let value = Int64(row.fields[k]) else { throw error(row, column, "'\(row.fields[k])' is not an integer") }
            return value
        }

        func error(_ row: Row, _ column: String, _ message: String) -> OpenbParseError {
            OpenbParseError(code: .badNumber, file: file, line: row.line, field: column, message: message)
        }
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> Substring {
        var s = self[...]
        while let first = s.first, set.contains(first) { s = s.dropFirst() }
        while let last = s.last, set.contains(last) { s = s.dropLast() }
        return s
    }
}
