import Foundation

/// What a user deploys: a container, its resource requests, replicas, priority and tenant.
/// Built from a ``WorkloadSpec/Document`` (JSON or YAML) by ``init(validating:)``, which names
/// every offending field.
public struct WorkloadSpec: Hashable, Sendable, Codable {
    public enum RestartPolicy: String, Hashable, Sendable, Codable, CaseIterable {
        case always
        case onFailure = "on-failure"
        case never
    }

    public var name: String
    public var tenant: String
    /// 0 (lowest) to 1000 (highest).
    public var priority: Int
    /// `busybox` (the built-in image) or an absolute path to a root filesystem directory.
    public var image: String
    /// The program and its arguments.
    public var command: [String]
    public var env: [String: String]
    /// Requested per replica.
    public var resources: Resources
    /// GPUs each instance needs, if any.
    public var gpu: GPUDemand?
    public var replicas: Int
    public var restart: RestartPolicy

    public static let defaultTenant = "default"
    public static let defaultPriority = 500
    public static let priorityRange = 0...1000
    public static let replicaRange = 0...1000

    public init(name: String, tenant: String = WorkloadSpec.defaultTenant, priority: Int = WorkloadSpec.defaultPriority, image: String, command: [String], env: [String: String] = [:], resources: Resources, gpu: GPUDemand? = nil, replicas: Int = 1, restart: RestartPolicy = .always) {
        self.gpu = gpu
        self.name = name
        self.tenant = tenant
        self.priority = priority
        self.image = image
        self.command = command
        self.env = env
        self.resources = resources
        self.replicas = replicas
        self.restart = restart
    }

    /// The document as users write it: quantities as text, command as a list or one shell line.
    public struct Document: Hashable, Sendable, Decodable {
        public struct ResourcesDocument: Hashable, Sendable, Decodable {
            public var cpu: String?
            public var memory: String?
            public var network: String?
            public var storageIOPS: Int64?
            public var gpu: String?
            public var gpuModels: [String]?
            enum CodingKeys: String, CodingKey, CaseIterable {
                case cpu, memory, network, gpu
                case storageIOPS = "storage_iops"
                case gpuModels = "gpu_models"
            }
            public init(from decoder: any Decoder) throws {
                try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue))
                let c = try decoder.container(keyedBy: CodingKeys.self)
                cpu = try c.decodeQuantity(.cpu)
                memory = try c.decodeQuantity(.memory)
                network = try c.decodeQuantity(.network)
                storageIOPS = try c.decodeIfPresent(Int64.self, forKey: .storageIOPS)
                gpu = try c.decodeQuantity(.gpu)
                gpuModels = try c.decodeIfPresent([String].self, forKey: .gpuModels)
            }
        }

        public var name: String?
        public var tenant: String?
        public var priority: Int?
        public var image: String?
        public var command: [String]?
        public var env: [String: String]?
        public var resources: ResourcesDocument?
        public var replicas: Int?
        public var restart: String?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case name, tenant, priority, image, command, env, resources, replicas, restart
        }

        public init(from decoder: any Decoder) throws {
            try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decodeIfPresent(String.self, forKey: .name)
            tenant = try c.decodeIfPresent(String.self, forKey: .tenant)
            priority = try c.decodeIfPresent(Int.self, forKey: .priority)
            image = try c.decodeIfPresent(String.self, forKey: .image)
            if let line = try? c.decodeIfPresent(String.self, forKey: .command) {
                command = ["/bin/sh", "-c", line]
            } else {
                command = try c.decodeIfPresent([String].self, forKey: .command)
            }
            env = try c.decodeIfPresent([String: String].self, forKey: .env)
            resources = try c.decodeIfPresent(ResourcesDocument.self, forKey: .resources)
            replicas = try c.decodeIfPresent(Int.self, forKey: .replicas)
            restart = try c.decodeIfPresent(String.self, forKey: .restart)
        }
    }

    /// Validates a document. Throws ``SpecErrors`` listing every bad field at once.
    public init(validating d: Document) throws(SpecErrors) {
        var errors: [SpecError] = []
        func fail(_ field: String, _ message: String) { errors.append(SpecError(field: field, message: message)) }

        let name = d.name ?? ""
        if d.name == nil { fail("name", "is required") } else if let problem = Self.nameProblem(name) { fail("name", problem) }
        let tenant = d.tenant ?? Self.defaultTenant
        if let problem = Self.nameProblem(tenant) { fail("tenant", problem) }
        let priority = d.priority ?? Self.defaultPriority
        if !Self.priorityRange.contains(priority) { fail("priority", "is \(priority); must be 0 to 1000") }
        let image = d.image ?? ""
        if d.image == nil {
            fail("image", "is required: 'busybox' or an absolute path to a root filesystem directory")
        } else if image != "busybox" && !image.hasPrefix("/") {
            fail("image", "'\(image)' is neither 'busybox' nor an absolute directory path")
        }
        let command = d.command ?? []
        if command.isEmpty || command[0].isEmpty { fail("command", "is required: a list such as [\"httpd\", \"-f\"] or one shell line") }
        for key in (d.env ?? [:]).keys.sorted() where !Self.isEnvName(key) {
            fail("env.\(key)", "is not a valid variable name (letters, digits and _, not starting with a digit)")
        }
        var resources = Resources()
        var gpu: GPUDemand?
        if let r = d.resources {
            if let cpu = r.cpu {
                do { resources.cpuMillis = try Quantity.parseCPU(cpu) } catch { fail("resources.cpu", error.description) }
            }
            if let memory = r.memory {
                do { resources.memoryBytes = try Quantity.parseBytes(memory) } catch { fail("resources.memory", error.description) }
            }
            if let network = r.network {
                do { resources.networkBitsPerSecond = try Quantity.parseBitRate(network) } catch { fail("resources.network", error.description) }
            }
            if let iops = r.storageIOPS {
                if iops < 0 { fail("resources.storage_iops", "is \(iops); must not be negative") } else { resources.storageIOPS = iops }
            }
            if let text = r.gpu {
                do { gpu = try GPUDemand.parse(text) } catch { fail("resources.gpu", error.description) }
            }
            if let models = r.gpuModels {
                if r.gpu == nil { fail("resources.gpu_models", "needs resources.gpu") }
                if let bad = models.first(where: { $0.isEmpty || $0.contains("|") || $0.contains(",") }) { fail("resources.gpu_models", "'\(bad)' is not a GPU model name such as T4 or V100M16") }
                gpu?.models = models
            }
        }
        if d.resources?.cpu == nil { fail("resources.cpu", "is required, e.g. 250m") } else if resources.cpuMillis == 0 && errors.allSatisfy({ $0.field != "resources.cpu" }) { fail("resources.cpu", "must be more than 0") }
        if d.resources?.memory == nil { fail("resources.memory", "is required, e.g. 128Mi") } else if resources.memoryBytes < 1 << 20 && errors.allSatisfy({ $0.field != "resources.memory" }) { fail("resources.memory", "must be at least 1Mi") }
        let replicas = d.replicas ?? 1
        if !Self.replicaRange.contains(replicas) { fail("replicas", "is \(replicas); must be 0 to 1000") }
        var restart = RestartPolicy.always
        if let text = d.restart {
            if let policy = RestartPolicy(rawValue: text) { restart = policy } else {
                fail("restart", "'\(text)' is not one of \(RestartPolicy.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        guard errors.isEmpty else { throw SpecErrors(errors: errors) }
        self.init(name: name, tenant: tenant, priority: priority, image: image, command: command, env: d.env ?? [:], resources: resources, gpu: gpu, replicas: replicas, restart: restart)
    }

    /// Parses and validates a JSON document.
    public static func fromJSON(_ data: Data) throws(SpecErrors) -> WorkloadSpec {
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: data)
        } catch {
            throw SpecErrors(decoding: error)
        }
        return try WorkloadSpec(validating: document)
    }

    /// Lowercase letters, digits and '-', starting and ending alphanumeric, 1–63 characters.
    static func nameProblem(_ name: String) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-")
        if name.isEmpty || name.count > 63 { return "'\(name)' must be 1 to 63 characters" }
        if !name.allSatisfy(allowed.contains) || name.first == "-" || name.last == "-" {
            return "'\(name)' may use only lowercase letters, digits and '-', and must start and end with a letter or digit"
        }
        return nil
    }

    static func isEnvName(_ key: String) -> Bool {
        guard let first = key.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return key.unicodeScalars.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) }
    }
}

/// One problem with one field of a spec.
public struct SpecError: Hashable, Sendable, CustomStringConvertible {
    public var field: String
    public var message: String
    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }
    public var description: String { "\(field): \(message)" }
}

/// Every problem found in a spec; nothing is stored when this is thrown.
public struct SpecErrors: Error, Hashable, Sendable, CustomStringConvertible {
    public var errors: [SpecError]
    public init(errors: [SpecError]) { self.errors = errors }

    /// Maps a decoder's error to the field it happened at.
    public init(decoding error: any Error) {
        errors = Self.fieldErrors(error)
    }

    static func fieldErrors(_ error: any Error) -> [SpecError] {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        // Decoders may wrap what a Decodable init threw (YAML does): look inside first.
        let underlying: (any Error)? = {
            switch error {
            case DecodingError.dataCorrupted(let c), DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c), DecodingError.keyNotFound(_, let c):
                return c.underlyingError
            default:
                return nil
            }
        }()
        if let underlying, underlying is SpecDecodingError {
            return fieldErrors(underlying)
        }
        switch error {
        case let SpecDecodingError.unknownField(field, known, at):
            let prefix = path(at)
            return [SpecError(field: prefix.isEmpty ? field : "\(prefix).\(field)", message: "is not a known field (known: \(known.joined(separator: ", ")))")]
        case DecodingError.typeMismatch(let type, let context):
            return [SpecError(field: path(context.codingPath), message: "has the wrong type: expected \(type)")]
        case DecodingError.valueNotFound(let type, let context):
            return [SpecError(field: path(context.codingPath), message: "is null: expected \(type)")]
        case DecodingError.keyNotFound(let key, let context):
            return [SpecError(field: path(context.codingPath + [key]), message: "is required")]
        case DecodingError.dataCorrupted(let context):
            return [SpecError(field: path(context.codingPath).isEmpty ? "(document)" : path(context.codingPath), message: "cannot be read: \(context.debugDescription)")]
        default:
            return [SpecError(field: "(document)", message: "\(error)")]
        }
    }

    public var description: String {
        errors.map(\.description).joined(separator: "\n")
    }
}

enum SpecDecodingError: Error {
    case unknownField(String, known: [String], at: [any CodingKey])
}

private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// A typo such as `replicaz` must be an error, not silently ignored.
func rejectUnknownKeys(_ decoder: any Decoder, known: [String]) throws {
    let c = try decoder.container(keyedBy: AnyKey.self)
    for key in c.allKeys where !known.contains(key.stringValue) {
        throw SpecDecodingError.unknownField(key.stringValue, known: known, at: decoder.codingPath)
    }
}

extension KeyedDecodingContainer {
    /// Quantities may be written as text (`250m`) or as bare numbers (`2`).
    func decodeQuantity(_ key: Key) throws -> String? {
        if let text = try? decodeIfPresent(String.self, forKey: key) { return text }
        if let number = try? decodeIfPresent(Double.self, forKey: key) {
            return number == number.rounded() ? String(Int64(number)) : String(number)
        }
        return try decodeIfPresent(String.self, forKey: key)
    }
}
