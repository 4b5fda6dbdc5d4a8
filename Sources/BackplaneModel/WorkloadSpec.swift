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
    /// The name of an image in the cards' image store: `busybox` (built in) or one an admin
    /// imported with `backplane image import NAME DIR`. Never a host path: an API caller cannot
    /// choose what of the host a container sees.
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
    /// Restarts the instance when it fails (run by its card).
    public var liveness: Probe?
    /// Whether the instance is ready for work (shown per instance).
    public var readiness: Probe?
    /// A sharded workload: its replicas own the shards of its key space between them.
    public var shards: ShardSpec?
    /// Whether the allocator resizes its instances in place (nil: `recommend`).
    public var vertical: VerticalMode?
    /// Replicas the allocator sets from the forecast (nil: `replicas` as given).
    public var autoscale: Autoscale?

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
    ///
    /// Decoding never stops at the first bad field: a field of the wrong type or an unknown
    /// field is left nil and recorded in ``problems``, and ``WorkloadSpec/init(validating:)``
    /// reports those together with every other problem. Only a document that is not a map at
    /// all fails to decode.
    public struct Document: Hashable, Sendable, Decodable {
        public struct ResourcesDocument: Hashable, Sendable, Decodable {
            public var cpu: String?
            public var memory: String?
            public var network: String?
            public var storageIOPS: Int64?
            public var gpu: String?
            public var gpuModels: [String]?
            /// Fields that could not be read (named `resources.<field>`).
            public var problems: [SpecError] = []
            enum CodingKeys: String, CodingKey, CaseIterable {
                case cpu, memory, network, gpu
                case storageIOPS = "storage_iops"
                case gpuModels = "gpu_models"
            }
            public init(from decoder: any Decoder) throws {
                var reader = try FieldReader<CodingKeys>(decoder, prefix: "resources.")
                cpu = reader.quantity(.cpu, expected: "a CPU amount such as 250m, 0.5 or 2")
                memory = reader.quantity(.memory, expected: "a size such as 128Mi, 2GiB, 1G or 1048576")
                network = reader.quantity(.network, expected: "a bit rate such as 100Mbps, 1Gbps or 500kbps")
                storageIOPS = reader.read(.storageIOPS, Int64.self, expected: "a whole number of IOPS from 0 to \(Resources.maximum.storageIOPS)")
                // A bare number is a whole count of GPUs; a share is text ("500m", "0.5"), as the
                // OpenAPI document says (integer or text).
                if let number = try? reader.container.decodeIfPresent(Double.self, forKey: .gpu), number != number.rounded() {
                    reader.fail(.gpu, expected: "a whole number of GPUs, or a share as text such as \"500m\" or \"0.5\"")
                    gpu = nil
                } else {
                    gpu = reader.quantity(.gpu, expected: "a GPU amount such as 1, 2 or 500m")
                }
                gpuModels = reader.textList(.gpuModels, expected: "a list of GPU model names such as [T4, V100M16]")
                problems = reader.problems
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
        public var probes: ProbesDocument?
        public var shards: ShardsDocument?
        public var vertical: String?
        public var autoscale: AutoscaleDocument?
        /// Fields that could not be read: wrong types, unknown fields (see the type's comment).
        public var problems: [SpecError] = []

        enum CodingKeys: String, CodingKey, CaseIterable {
            case name, tenant, priority, image, command, env, resources, replicas, restart, probes, shards, vertical, autoscale
        }

        /// `autoscale: {min: 1, max: 10, target: 70}`.
        public struct AutoscaleDocument: Hashable, Sendable, Decodable {
            public var min: Int?
            public var max: Int?
            public var target: Int?
            public var problems: [SpecError] = []
            enum CodingKeys: String, CodingKey, CaseIterable { case min, max, target }
            public init(from decoder: any Decoder) throws {
                var reader = try FieldReader<CodingKeys>(decoder, prefix: "autoscale.")
                min = reader.read(.min, Int.self, expected: "a whole number of replicas from 1 to 1000")
                max = reader.read(.max, Int.self, expected: "a whole number of replicas from 1 to 1000")
                target = reader.read(.target, Int.self, expected: "a whole percentage from 10 to 100 (of the requested CPU)")
                problems = reader.problems
            }
        }

        /// `shards: {count: N, max_shard_bytes: 64Mi}`.
        public struct ShardsDocument: Hashable, Sendable, Decodable {
            public var count: Int?
            public var maxShardBytes: String?
            public var problems: [SpecError] = []
            enum CodingKeys: String, CodingKey, CaseIterable {
                case count
                case maxShardBytes = "max_shard_bytes"
            }
            public init(from decoder: any Decoder) throws {
                var reader = try FieldReader<CodingKeys>(decoder, prefix: "shards.")
                count = reader.read(.count, Int.self, expected: "a whole number of shards from 1 to \(ShardSpec.countRange.upperBound)")
                maxShardBytes = reader.quantity(.maxShardBytes, expected: "a size such as 64Mi or 1Gi")
                problems = reader.problems
            }
        }

        /// `probes: {liveness: {...}, readiness: {...}}`.
        public struct ProbesDocument: Hashable, Sendable, Decodable {
            public var liveness: ProbeDocument?
            public var readiness: ProbeDocument?
            public var problems: [SpecError] = []
            enum CodingKeys: String, CodingKey, CaseIterable { case liveness, readiness }
            public init(from decoder: any Decoder) throws {
                var reader = try FieldReader<CodingKeys>(decoder, prefix: "probes.")
                for key in CodingKeys.allCases where reader.holdsValue(key) {
                    do {
                        let probe = try reader.container.decode(ProbeDocument.self, forKey: key)
                        reader.problems += probe.problems
                        if key == .liveness { liveness = probe } else { readiness = probe }
                    } catch {
                        reader.fail(key, expected: "a map with one of exec, tcp or http, and optionally period, timeout, failure_threshold, initial_delay")
                    }
                }
                problems = reader.problems
            }
        }

        /// One probe: exactly one of `exec: [cmd, ...]`, `tcp: PORT`, `http: {port, path}`;
        /// `period`, `timeout`, `initial_delay` in seconds; `failure_threshold`.
        public struct ProbeDocument: Hashable, Sendable, Decodable {
            public var probe: Probe?
            public var problems: [SpecError] = []
            enum CodingKeys: String, CodingKey, CaseIterable {
                case exec, tcp, http, period, timeout
                case failureThreshold = "failure_threshold"
                case initialDelay = "initial_delay"
            }
            struct HTTPDocument: Decodable {
                var port: Int
                var path: String?
            }
            public init(from decoder: any Decoder) throws {
                let prefix = "probes.\(decoder.codingPath.last?.stringValue ?? "probe")."
                var reader = try FieldReader<CodingKeys>(decoder, prefix: prefix)
                let exec = reader.textList(.exec, expected: "a command list such as [\"cat\", \"/tmp/healthy\"]")
                let tcp = reader.read(.tcp, Int.self, expected: "a port number from 1 to 65535")
                let http = reader.read(.http, HTTPDocument.self, expected: "a map with port (1 to 65535) and optionally path (default /)")
                let period = reader.read(.period, Int.self, expected: "whole seconds from 1 to 3600")
                let timeout = reader.read(.timeout, Int.self, expected: "whole seconds from 1 to 600")
                let threshold = reader.read(.failureThreshold, Int.self, expected: "a whole number from 1 to 100")
                let delay = reader.read(.initialDelay, Int.self, expected: "whole seconds from 0 to 3600")
                let checks = [exec.map { Probe.Check.exec($0) }, tcp.map { Probe.Check.tcp(port: $0) }, http.map { Probe.Check.http(port: $0.port, path: $0.path ?? "/") }].compactMap { $0 }
                if checks.count == 1 {
                    probe = Probe(check: checks[0], periodSeconds: period ?? 5, timeoutSeconds: timeout ?? 1, failureThreshold: threshold ?? 3, initialDelaySeconds: delay ?? 0)
                } else if reader.problems.isEmpty {
                    reader.problems.append(SpecError(field: String(prefix.dropLast()), message: checks.isEmpty ? "needs one of exec, tcp or http" : "has more than one of exec, tcp and http; give one"))
                }
                problems = reader.problems
            }
        }

        public init(from decoder: any Decoder) throws {
            var reader = try FieldReader<CodingKeys>(decoder, prefix: "")
            name = reader.text(.name, expected: "text such as web-1")
            tenant = reader.text(.tenant, expected: "text such as team-a")
            priority = reader.read(.priority, Int.self, expected: "a whole number from 0 to 1000")
            image = reader.text(.image, expected: "text: an image name such as busybox")
            if let line = try? reader.container.decodeIfPresent(Text.self, forKey: .command) {
                command = ["/bin/sh", "-c", line.value]
            } else {
                command = reader.textList(.command, expected: "a list of text such as [\"httpd\", \"-f\"], or one shell line")
            }
            env = reader.textMap(.env, expected: "a map of variable names to text values")
            if reader.container.contains(.resources) {
                do {
                    resources = try reader.container.decodeIfPresent(ResourcesDocument.self, forKey: .resources)
                    reader.problems += resources?.problems ?? []
                } catch {
                    reader.fail(.resources, expected: "a map with cpu, memory and optionally network, storage_iops, gpu, gpu_models")
                }
            }
            replicas = reader.read(.replicas, Int.self, expected: "a whole number from 0 to 1000")
            restart = reader.text(.restart, expected: "one of \(RestartPolicy.allCases.map(\.rawValue).joined(separator: ", "))")
            if reader.holdsValue(.shards) {
                do {
                    shards = try reader.container.decode(ShardsDocument.self, forKey: .shards)
                    reader.problems += shards?.problems ?? []
                } catch {
                    reader.fail(.shards, expected: "a map with count and optionally max_shard_bytes")
                }
            }
            // YAML 1.1 reads a bare `off` as false: that is what anyone writing it means. Only
            // in YAML (a JSON `false` is refused, as the API's schema says).
            let yaml = decoder.userInfo[TypedScalars.key] != nil
            if yaml, reader.container.contains(.vertical), (try? reader.container.decode(String.self, forKey: .vertical))?.lowercased() == "off" {
                vertical = VerticalMode.off.rawValue
            } else {
                vertical = reader.text(.vertical, expected: "one of \(VerticalMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if reader.holdsValue(.autoscale) {
                do {
                    autoscale = try reader.container.decode(AutoscaleDocument.self, forKey: .autoscale)
                    reader.problems += autoscale?.problems ?? []
                } catch {
                    reader.fail(.autoscale, expected: "a map with min, max and target")
                }
            }
            if reader.holdsValue(.probes) {
                do {
                    probes = try reader.container.decode(ProbesDocument.self, forKey: .probes)
                    reader.problems += probes?.problems ?? []
                } catch {
                    reader.fail(.probes, expected: "a map with liveness and/or readiness")
                }
            }
            problems = reader.problems
        }
    }

    /// Validates a document. Throws ``SpecErrors`` listing every bad field at once.
    public init(validating d: Document) throws(SpecErrors) {
        var errors: [SpecError] = d.problems
        func fail(_ field: String, _ message: String) { errors.append(SpecError(field: field, message: message)) }
        // A list field is also unread when one of its elements (`command[1]`) could not be read.
        func unread(_ field: String) -> Bool { !d.problems.contains { $0.field == field || $0.field.hasPrefix(field + "[") } }

        if d.name == nil && unread("name") { fail("name", "is required") }
        if d.image == nil && unread("image") { fail("image", "is required: an image name such as busybox (or one imported with `backplane image import`)") }
        if (d.command ?? []).isEmpty && unread("command") { fail("command", "is required: a list such as [\"httpd\", \"-f\"] or one shell line") }
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
            if let iops = r.storageIOPS { resources.storageIOPS = iops }
            if let text = r.gpu {
                do { gpu = try GPUDemand.parse(text) } catch { fail("resources.gpu", error.description) }
            }
            if let models = r.gpuModels {
                if r.gpu == nil && unread("resources.gpu") { fail("resources.gpu_models", "needs resources.gpu") }
                gpu?.models = models
                if gpu == nil, let problem = GPUDemand(count: 1, models: models).problem { fail("resources.gpu_models", problem) }
            }
        }
        if d.resources?.cpu == nil && unread("resources.cpu") && unread("resources") { fail("resources.cpu", "is required, e.g. 250m") }
        if d.resources?.memory == nil && unread("resources.memory") && unread("resources") { fail("resources.memory", "is required, e.g. 128Mi") }
        var restart = RestartPolicy.always
        if let text = d.restart {
            if let policy = RestartPolicy(rawValue: text) { restart = policy } else {
                fail("restart", "'\(Quantity.excerpt(text))' is not one of \(RestartPolicy.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        var spec = WorkloadSpec(
            name: d.name ?? "", tenant: d.tenant ?? Self.defaultTenant, priority: d.priority ?? Self.defaultPriority, image: d.image ?? "",
            command: d.command ?? [], env: d.env ?? [:], resources: resources, gpu: gpu, replicas: d.replicas ?? 1, restart: restart)
        spec.liveness = d.probes?.liveness?.probe
        spec.readiness = d.probes?.readiness?.probe
        if let shards = d.shards {
            if shards.count == nil && unread("shards.count") { fail("shards.count", "is required: how many shards the key space starts in, e.g. 64") }
            var limit: Int64?
            if let text = shards.maxShardBytes {
                do { limit = try Quantity.parseBytes(text) } catch { fail("shards.max_shard_bytes", error.description) }
            }
            if let count = shards.count { spec.shards = ShardSpec(count: count, maxShardBytes: limit) }
        }
        if let text = d.vertical {
            if let mode = VerticalMode(rawValue: text) { spec.vertical = mode } else {
                fail("vertical", "'\(Quantity.excerpt(text))' is not one of \(VerticalMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        if let a = d.autoscale {
            if a.max == nil && unread("autoscale.max") { fail("autoscale.max", "is required: the most replicas the allocator may run, e.g. 10") }
            // A min above max is read as max: JSON Schema cannot say min ≤ max, and the API's
            // document is its whole contract (a schema-valid spec is accepted).
            if let max = a.max { spec.autoscale = Autoscale(min: Swift.min(a.min ?? 1, max), max: max, target: a.target ?? Autoscale.defaultTarget) }
        }
        // Value rules, for the fields that were read and parsed (one message per field).
        let reported = Set(errors.map(\.field))
        let rules = spec.problems.filter { e in
            !reported.contains(e.field) && !reported.contains(where: { $0.hasPrefix(e.field + "[") })
                && !(e.field == "resources.gpu_models" && reported.contains("resources.gpu"))
                && !(e.field == "resources" && reported.contains { $0.hasPrefix("resources") })
        }
        errors += rules
        guard errors.isEmpty else { throw SpecErrors(errors: errors) }
        self = spec
    }

    /// Every rule a stored or built spec must satisfy, one ``SpecError`` per offending field (the
    /// same rules ``init(validating:)`` applies). A stored record with problems is quarantined.
    public var problems: [SpecError] {
        var errors: [SpecError] = []
        func fail(_ field: String, _ message: String) { errors.append(SpecError(field: field, message: message)) }
        if let problem = Self.nameProblem(name) { fail("name", problem) }
        if let problem = Self.nameProblem(tenant) { fail("tenant", problem) }
        if !Self.priorityRange.contains(priority) { fail("priority", "is \(priority); must be 0 to 1000") }
        if let problem = Self.imageNameProblem(image) { fail("image", problem) }
        if command.isEmpty || command[0].isEmpty { fail("command", "is required: a list such as [\"httpd\", \"-f\"] or one shell line") }
        errors += liveness?.problems(prefix: "probes.liveness.") ?? []
        errors += readiness?.problems(prefix: "probes.readiness.") ?? []
        for key in env.keys.sorted() where !Self.isEnvName(key) {
            fail("env.\(Quantity.excerpt(key))", "is not a valid variable name (letters, digits and _, not starting with a digit, at most 255 characters)")
        }
        let max = Resources.maximum
        if resources.cpuMillis <= 0 || resources.cpuMillis > max.cpuMillis {
            fail("resources.cpu", resources.cpuMillis <= 0 ? "must be more than 0" : "is \(resources.cpuMillis)m; at most \(Quantity.formatCPU(max.cpuMillis)) cores")
        }
        if resources.memoryBytes < 1 << 20 || resources.memoryBytes > max.memoryBytes {
            fail("resources.memory", resources.memoryBytes < 1 << 20 ? "must be at least 1Mi" : "is \(resources.memoryBytes) bytes; at most \(Quantity.formatBytes(max.memoryBytes))")
        }
        if resources.networkBitsPerSecond < 0 || resources.networkBitsPerSecond > max.networkBitsPerSecond {
            fail("resources.network", "is \(resources.networkBitsPerSecond)bps; must be 0 to \(Quantity.formatBitRate(max.networkBitsPerSecond))")
        }
        if resources.storageIOPS < 0 || resources.storageIOPS > max.storageIOPS {
            fail("resources.storage_iops", "is \(resources.storageIOPS); must be 0 to \(max.storageIOPS)")
        }
        if let gpu, let problem = gpu.problem {
            fail(problem.contains("model") ? "resources.gpu_models" : "resources.gpu", problem)
        }
        if !Self.replicaRange.contains(replicas) { fail("replicas", "is \(replicas); must be 0 to 1000") }
        if let shards {
            if !ShardSpec.countRange.contains(shards.count) { fail("shards.count", "is \(shards.count); must be \(ShardSpec.countRange.lowerBound) to \(ShardSpec.countRange.upperBound)") }
            if let limit = shards.maxShardBytes, limit < 1 << 20 { fail("shards.max_shard_bytes", "is \(limit) bytes; at least 1Mi") }
        }
        if let a = autoscale {
            if !(1...1000).contains(a.min) { fail("autoscale.min", "is \(a.min); must be 1 to 1000 (at 0 replicas there is no usage to scale up from)") }
            if !(1...1000).contains(a.max) { fail("autoscale.max", "is \(a.max); must be 1 to 1000") } else if a.min > a.max {
                fail("autoscale.min", "is \(a.min), more than autoscale.max (\(a.max))")
            }
            if !Autoscale.targetRange.contains(a.target) { fail("autoscale.target", "is \(a.target)%; must be \(Autoscale.targetRange.lowerBound) to \(Autoscale.targetRange.upperBound) (percent of the requested CPU)") }
            if shards != nil { fail("autoscale", "is not for sharded workloads: their replicas own shards (split and migrate them instead)") }
        }
        let (total, overflow) = resources.multipliedReportingOverflow(by: Int64(clamping: autoscale.map { Swift.max(replicas, $0.max) } ?? replicas))
        if overflow || !total.dimensions(outside: .maximumTotal).isEmpty, errors.isEmpty {
            fail("resources", "× \(replicas) replicas exceeds what one workload may ask for in all (\(Resources.maximumTotal))")
        }
        return errors
    }

    /// The longest image name accepted.
    public static let maximumImageLength = 128

    /// Why `image` is not an image name (lowercase letters, digits, '.', '_' and '-', starting
    /// with a letter or digit, at most 128 characters), or nil. A path is refused with the reason.
    public static func imageNameProblem(_ image: String) -> String? {
        if image.hasPrefix("/") || image.contains("/") {
            return "'\(Quantity.excerpt(image))' is a path; images come from the cards' image store: 'busybox' or a name an admin imported with `backplane image import NAME DIR`"
        }
        guard !image.isEmpty, image.utf8.count <= maximumImageLength else {
            return image.isEmpty ? "is empty: an image name such as busybox" : "is \(image.utf8.count) bytes long; at most \(maximumImageLength) characters"
        }
        let bytes = Array(image.utf8)
        func isLowerAlnum(_ b: UInt8) -> Bool { (b >= 97 && b <= 122) || (b >= 48 && b <= 57) }
        guard isLowerAlnum(bytes[0]), bytes.allSatisfy({ isLowerAlnum($0) || $0 == 46 || $0 == 95 || $0 == 45 }) else {
            return "'\(Quantity.excerpt(image))' is not an image name (lowercase letters, digits, '.', '_' and '-', starting with a letter or digit)"
        }
        return nil
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

    /// The longest name or tenant.
    public static let maximumNameLength = 63

    /// Lowercase letters, digits and '-', starting and ending alphanumeric, 1–63 characters.
    /// Returns what is wrong with `name`, or nil.
    public static func nameProblem(_ name: String) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-")
        if name.isEmpty || name.count > maximumNameLength { return "'\(Quantity.excerpt(name))' must be 1 to \(maximumNameLength) characters" }
        if !name.allSatisfy(allowed.contains) || name.first == "-" || name.last == "-" {
            return "'\(Quantity.excerpt(name))' may use only lowercase letters, digits and '-', and must start and end with a letter or digit"
        }
        return nil
    }

    static func isEnvName(_ key: String) -> Bool {
        guard let first = key.unicodeScalars.first, !("0"..."9").contains(first), key.utf8.count <= 255 else { return false }
        return key.unicodeScalars.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) }
    }
}

/// Whether the allocator changes a workload's instances' CPU and memory limits in place
/// (`runc update`), as Kubernetes' VPA update modes: `auto` applies, `recommend` only shows the
/// recommendation (`backplane plan`), `off` leaves the workload out.
public enum VerticalMode: String, Hashable, Sendable, Codable, CaseIterable {
    case auto, recommend, off
}

/// Replicas set by the allocator from the workload's CPU forecast (Kubernetes' HPA, but on the
/// forecast): as many as keep the forecast at `target` percent of the replicas' requested CPU,
/// between `min` and `max`.
public struct Autoscale: Hashable, Sendable, Codable {
    public var min: Int
    public var max: Int
    /// Percent of each replica's requested CPU the forecast should use.
    public var target: Int
    public static let defaultTarget = 70
    public static let targetRange = 10...100
    public init(min: Int, max: Int, target: Int = Autoscale.defaultTarget) {
        self.min = min
        self.max = max
        self.target = target
    }
}

/// How a sharded workload's key space is cut (ARCHITECTURE.md, "Sharding and migration").
public struct ShardSpec: Hashable, Sendable, Codable {
    /// How many shards the key space starts in (split and merge change it later).
    public var count: Int
    /// A shard larger than this is reported as due for a split (`backplane shards` marks it).
    public var maxShardBytes: Int64?
    public static let countRange = 1...4096
    public init(count: Int, maxShardBytes: Int64? = nil) {
        self.count = count
        self.maxShardBytes = maxShardBytes
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

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Reads a document's fields one by one, recording every field that is unknown or of the wrong
/// kind instead of stopping at the first.
struct FieldReader<Key: CodingKey & CaseIterable & RawRepresentable> where Key.RawValue == String {
    let container: KeyedDecodingContainer<Key>
    let raw: KeyedDecodingContainer<AnyKey>
    let prefix: String
    var problems: [SpecError] = []

    init(_ decoder: any Decoder, prefix: String) throws {
        container = try decoder.container(keyedBy: Key.self)
        raw = try decoder.container(keyedBy: AnyKey.self)
        self.prefix = prefix
        let known = Key.allCases.map(\.rawValue)
        // A typo such as `replicaz` must be an error, not silently ignored.
        for key in raw.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) where !known.contains(key.stringValue) {
            problems.append(SpecError(field: prefix + Quantity.excerpt(key.stringValue), message: "is not a known field (known: \(known.joined(separator: ", ")))"))
        }
    }

    /// The field, or nil when absent, null or of the wrong kind (then recorded as a problem).
    mutating func read<T: Decodable>(_ key: Key, _ type: T.Type, expected: String) -> T? {
        do {
            return try container.decodeIfPresent(T.self, forKey: key)
        } catch {
            fail(key, expected: expected)
            return nil
        }
    }

    /// A text field: nil when absent or null; anything else that is not text is recorded.
    mutating func text(_ key: Key, expected: String) -> String? {
        read(key, Text.self, expected: expected)?.value
    }

    /// A list of text. An element that is not text is recorded under its own name
    /// (`command[1]`), and then the whole list is nil.
    mutating func textList(_ key: Key, expected: String) -> [String]? {
        guard holdsValue(key) else { return nil }
        guard var list = try? container.nestedUnkeyedContainer(forKey: key) else {
            fail(key, expected: expected)
            return nil
        }
        var values: [String] = []
        var complete = true
        while !list.isAtEnd {
            let field = "\(prefix)\(key.rawValue)[\(list.currentIndex)]"
            guard let element = try? list.superDecoder() else {
                problems.append(SpecError(field: field, message: "cannot be read: expected text"))
                return nil
            }
            if let text = try? Text(from: element) {
                values.append(text.value)
            } else {
                problems.append(SpecError(field: field, message: "\(Self.describe(element)): expected text"))
                complete = false
            }
        }
        return complete ? values : nil
    }

    /// A map of names to text. A value that is not text is recorded under its name
    /// (`env.PORT`); the others are returned, so that their names are still checked.
    mutating func textMap(_ key: Key, expected: String) -> [String: String]? {
        guard holdsValue(key) else { return nil }
        guard let map = try? container.nestedContainer(keyedBy: AnyKey.self, forKey: key) else {
            fail(key, expected: expected)
            return nil
        }
        var values: [String: String] = [:]
        for name in map.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) {
            let field = "\(prefix)\(key.rawValue).\(Quantity.excerpt(name.stringValue))"
            guard let element = try? map.superDecoder(forKey: name) else {
                problems.append(SpecError(field: field, message: "cannot be read: expected text"))
                continue
            }
            if let text = try? Text(from: element) {
                values[name.stringValue] = text.value
            } else {
                problems.append(SpecError(field: field, message: "\(Self.describe(element)): expected text"))
            }
        }
        return values
    }

    /// Present and not null (null reads as absent, in JSON and YAML alike).
    func holdsValue(_ key: Key) -> Bool {
        container.contains(key) && (try? container.decodeNil(forKey: key)) == false
    }

    /// Quantities may be written as text (`250m`) or as bare numbers (`2`, `1e19`; in YAML
    /// also `0.5` unquoted): both are returned as text for the quantity parser, which bounds them.
    mutating func quantity(_ key: Key, expected: String) -> String? {
        if let text = try? container.decodeIfPresent(Text.self, forKey: key) { return text.value }
        if let number = try? container.decodeIfPresent(Double.self, forKey: key) {
            return Self.text(number)
        }
        return text(key, expected: expected)
    }

    /// `2` for 2.0, `0.5`, `1e+19`: never converts an out-of-range double to an integer.
    static func text(_ number: Double) -> String {
        number.isFinite && number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : "\(number)"
    }

    mutating func fail(_ key: Key, expected: String) {
        problems.append(SpecError(field: prefix + key.rawValue, message: "\(describe(key)): expected \(expected)"))
    }

    /// What the field holds, for messages: `is 'lots'`, `is 1e+19`, `is a list`.
    func describe(_ key: Key) -> String {
        guard let value = try? container.superDecoder(forKey: key) else { return "has the wrong type" }
        return Self.describe(value)
    }

    /// What a value holds, for messages. A YAML scalar that is not text says so and how to make
    /// it text: `is false, which YAML reads as a boolean (quote it to mean text)`.
    static func describe(_ value: any Decoder) -> String {
        if let kind = WorkloadSpec.Document.TypedScalars.kind(of: value) {
            let written = (try? value.singleValueContainer().decode(String.self)).map { Quantity.excerpt($0) } ?? ""
            return "is \(written.isEmpty ? "empty" : written), which YAML reads as \(kind.description) (quote it to mean text)"
        }
        if let scalar = try? value.singleValueContainer() {
            if scalar.decodeNil() { return "is null" }
            if let s = try? scalar.decode(String.self) { return "is '\(Quantity.excerpt(s))'" }
            if let b = try? scalar.decode(Bool.self) { return "is \(b)" }
            if let d = try? scalar.decode(Double.self) { return "is \(text(d))" }
        }
        if (try? value.unkeyedContainer()) != nil { return "is a list" }
        if (try? value.container(keyedBy: AnyKey.self)) != nil { return "is a map" }
        return "has the wrong type"
    }
}

extension WorkloadSpec.Document {
    /// Tells the spec's decoding which scalars are not text although the decoder would hand them
    /// over as text.
    ///
    /// JSON types its scalars, so `"tenant": false` fails to decode as text. YAML's plain scalars
    /// reach a `Decoder` untyped: `tenant: false` decodes as the text "false". A YAML decoder
    /// passes a `TypedScalars` in `userInfo` under ``key``; every text field (and every element
    /// of `command`, `env` and `resources.gpu_models`) then refuses, as JSON would, a value whose
    /// ``kind`` is not nil, naming the field and the kind. Quoted, the same characters are text.
    public struct TypedScalars: Sendable {
        /// What YAML's core schema makes of a plain scalar.
        public enum Kind: Sendable, CustomStringConvertible {
            case boolean, null, integer, float
            public var description: String {
                switch self {
                case .boolean: "a boolean"
                case .null: "null"
                case .integer: "an integer"
                case .float: "a number"
                }
            }
        }

        /// The `userInfo` key.
        public static let key = CodingUserInfoKey(rawValue: "BackplaneModel.WorkloadSpec.Document.TypedScalars")!

        /// The kind of the scalar the decoder stands at, or nil when it is text or not a scalar.
        public var kind: @Sendable (any Decoder) -> Kind?

        public init(kind: @escaping @Sendable (any Decoder) -> Kind?) {
            self.kind = kind
        }

        static func kind(of decoder: any Decoder) -> Kind? {
            (decoder.userInfo[key] as? TypedScalars)?.kind(decoder)
        }
    }
}

/// A text value of a spec: refuses what ``WorkloadSpec/Document/TypedScalars`` says is not text.
struct Text: Decodable {
    var value: String

    init(from decoder: any Decoder) throws {
        if let kind = WorkloadSpec.Document.TypedScalars.kind(of: decoder) {
            throw DecodingError.typeMismatch(String.self, .init(codingPath: decoder.codingPath, debugDescription: "found \(kind.description), not text"))
        }
        value = try decoder.singleValueContainer().decode(String.self)
    }
}
