import BackplaneModel
import Foundation
import WorkloadBalancer

/// A tenant's quota: the most its placed instances may request in all. AWB checks it before any
/// card is looked at; an instance over it stays pending with the reason.
public struct Quota: Codable, Sendable, Hashable {
    public var tenant: String
    public var cpuMillis: Int64
    public var memoryBytes: Int64
    /// Milli-GPUs (1000 per whole GPU); nil: no limit.
    public var gpuMilli: Int64?

    public init(tenant: String, cpuMillis: Int64, memoryBytes: Int64, gpuMilli: Int64? = nil) {
        self.tenant = tenant
        self.cpuMillis = cpuMillis
        self.memoryBytes = memoryBytes
        self.gpuMilli = gpuMilli
    }

    /// As AWB's quota (network and storage I/O are not limited).
    var balancerQuota: TenantQuota {
        var limit = Resources.maximumTotal
        limit.cpuMillis = cpuMillis
        limit.memoryBytes = memoryBytes
        return TenantQuota(limit: limit, gpuMilli: gpuMilli.map { Int(clamping: $0) } ?? .max)
    }

    /// Why a stored record is not a valid quota, or nil.
    var problem: String? {
        if let problem = WorkloadSpec.nameProblem(tenant) { return "tenant: \(problem)" }
        if !(1...Resources.maximumTotal.cpuMillis).contains(cpuMillis) { return "cpu is out of range" }
        if !((1 << 20)...Resources.maximumTotal.memoryBytes).contains(memoryBytes) { return "memory is out of range" }
        if let gpuMilli, !(0...Self.maximumGPUMilli).contains(gpuMilli) { return "gpu is out of range" }
        return nil
    }

    /// 1,000,000 GPUs.
    static let maximumGPUMilli: Int64 = 1_000_000_000

    /// The body of `PUT /v1/quotas/{tenant}`: `{"cpu": "4", "memory": "8Gi", "gpu": "2"}` (cpu and
    /// gpu in cores or with an `m` suffix, memory in bytes or with a binary suffix; numbers are
    /// cores, bytes and GPUs). Every bad field is named.
    static func parse(tenant: String, body: Data) throws -> Quota {
        guard let object = try? JSONDecoder().decode([String: FieldValue].self, from: body) else {
            throw APIError(.badRequest, "the body must be a JSON object such as {\"cpu\": \"4\", \"memory\": \"8Gi\"}", details: ["(body)": "must be a JSON object such as {\"cpu\": \"4\", \"memory\": \"8Gi\"}"])
        }
        var details: [String: String] = [:]
        for key in object.keys.sorted() where !["cpu", "memory", "gpu"].contains(key) {
            details[Quantity.excerpt(key)] = "is not a quota field (cpu, memory, gpu)"
        }
        /// The field in milli-units (cpu, gpu) or bytes (memory), or nil (absent, or named in
        /// details). Exactly the forms and bounds the OpenAPI document gives (``forms``).
        func value(_ field: String, required: Bool) -> Int64? {
            let form = Self.forms[field]!
            switch object[field] ?? .null {
            case .null:
                if required { details[field] = "is required" }
                return nil
            case .text(let text):
                guard text.utf8.count <= 32, text.wholeMatch(of: form.pattern) != nil else {
                    details[field] = "'\(Quantity.excerpt(text))' is not \(form.expected)"
                    return nil
                }
                do {
                    let value = field == "memory" ? try Quantity.parseBytes(text, bound: form.maximum) : try Quantity.parseCPU(text, bound: form.maximum)
                    guard value >= form.minimum else {
                        details[field] = "is \(text); \(form.expected)"
                        return nil
                    }
                    return value
                } catch {
                    details[field] = "\(error)"
                    return nil
                }
            case .number(let number):
                // Numbers are cores or GPUs (cpu: to the milli) and bytes; gpu and memory whole.
                let scaled = field == "memory" ? number : number * 1000
                guard scaled.isFinite, scaled >= Double(form.minimum), scaled <= Double(form.maximum),
                      field == "cpu" || number == number.rounded() else {
                    details[field] = "is \(number); \(form.expected)"
                    return nil
                }
                return Int64(scaled.rounded())
            case .other:
                details[field] = "must be \(form.expected)"
                return nil
            }
        }
        var quota = Quota(tenant: tenant, cpuMillis: 0, memoryBytes: 0)
        if let cpu = value("cpu", required: true) { quota.cpuMillis = cpu }
        if let memory = value("memory", required: true) { quota.memoryBytes = memory }
        quota.gpuMilli = value("gpu", required: false)
        guard details.isEmpty else {
            throw APIError(.badRequest, details.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; "), details: details)
        }
        return quota
    }

    /// The accepted forms of each field, as in the OpenAPI document: a pattern for text, and the
    /// bounds (milli-units or bytes) for both text and numbers.
    struct Form: @unchecked Sendable {  // Regex is immutable once built
        var pattern: Regex<AnyRegexOutput>
        var minimum: Int64
        var maximum: Int64
        var expected: String
    }

    nonisolated(unsafe) static let forms: [String: Form] = [
        "cpu": Form(pattern: try! Regex(#"(?:[1-9][0-9]{0,8}m|[1-9][0-9]{0,5}(?:\.[0-9]{1,3})?|0\.[0-9]{0,2}[1-9])"#), minimum: 1, maximum: Resources.maximum.cpuMillis,
                    expected: "a CPU amount such as \"4\", \"2.5\" or \"500m\" (1m to 1000000 cores), or a number of cores"),
        "memory": Form(pattern: try! Regex(#"(?:[1-9][0-9]{0,5}(?:Mi|Gi|MiB|GiB)|[1-9][0-9]{0,2}(?:Ti|TiB))"#), minimum: 1 << 20, maximum: Resources.maximum.memoryBytes,
                       expected: "a memory amount such as \"8Gi\" (1Mi to 1Pi), or a whole number of bytes"),
        "gpu": Form(pattern: try! Regex(#"(?:[1-9][0-9]{0,5}m|[0-9]{1,6})"#), minimum: 0, maximum: maximumGPUMilli,
                    expected: "GPUs such as \"2\" or \"500m\" (0 to 1000000), or a whole number of GPUs"),
    ]

    /// One field of the body, whatever JSON it holds (never fails to decode).
    enum FieldValue: Decodable {
        case null, text(String), number(Double), other
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null } else if let s = try? c.decode(String.self) { self = .text(s) } else if let b = try? c.decode(Bool.self) { _ = b; self = .other } else if let d = try? c.decode(Double.self) { self = .number(d) } else { self = .other }
        }
    }
}
