import BackplaneModel
import Foundation
import Testing

/// Issue 10: no spec, however hostile, can make parsing or arithmetic trap; every bad field is
/// named at once, with the kind of value it needs.
@Suite("Hostile specs")
struct HostileSpecTests {
    func spec(resources: String, extra: String = "") -> String {
        #"{"name":"w","image":"busybox","command":["x"],"resources":{\#(resources)}\#(extra)}"#
    }

    func errors(_ json: String) -> [SpecError] {
        do {
            _ = try WorkloadSpec.fromJSON(Data(json.utf8))
            return []
        } catch {
            return error.errors
        }
    }

    @Test("a bare GPU number is a whole count; a fractional one is refused (a share is text), as the OpenAPI document says (schemathesis ST201)")
    func gpuNumbers() {
        #expect(errors(spec(resources: #""cpu":"1","memory":"1Mi","gpu":0.99999"#)).map(\.field) == ["resources.gpu"])
        #expect(errors(spec(resources: #""cpu":"1","memory":"1Mi","gpu":0.5"#)).map(\.field) == ["resources.gpu"])
        #expect(errors(spec(resources: #""cpu":"1","memory":"1Mi","gpu":2"#)).isEmpty)
        #expect(errors(spec(resources: #""cpu":"1","memory":"1Mi","gpu":"500m""#)).isEmpty)
    }

    @Test("out-of-range JSON numbers on every resource are refused, naming the field", arguments: [
        (#""cpu":1e19,"memory":"1Mi""#, "resources.cpu"),
        (#""cpu":-1e19,"memory":"1Mi""#, "resources.cpu"),
        (#""cpu":1e300,"memory":"1Mi""#, "resources.cpu"),
        (#""cpu":"1","memory":1e300"#, "resources.memory"),
        (#""cpu":"1","memory":-1e19"#, "resources.memory"),
        (#""cpu":"1","memory":1e19"#, "resources.memory"),
        (#""cpu":"1","memory":"1Mi","gpu":1e19"#, "resources.gpu"),
        (#""cpu":"1","memory":"1Mi","gpu":-1e19"#, "resources.gpu"),
        (#""cpu":"1","memory":"1Mi","network":1e19"#, "resources.network"),
        (#""cpu":"1","memory":"1Mi","network":"1e19bps""#, "resources.network"),
        (#""cpu":"1","memory":"1Mi","storage_iops":1e19"#, "resources.storage_iops"),
        (#""cpu":"1","memory":"1Mi","storage_iops":-1e19"#, "resources.storage_iops"),
        (#""cpu":"1","memory":"1Mi","storage_iops":2.5"#, "resources.storage_iops"),
        (#""cpu":"9223372036854775807m","memory":"1Mi""#, "resources.cpu"),
        (#""cpu":"1","memory":"9223372036854775807""#, "resources.memory"),
        (#""cpu":"1","memory":"9223372036854775807Ki""#, "resources.memory"),
        (#""cpu":"1","memory":"1Mi","storage_iops":9223372036854775807"#, "resources.storage_iops"),
        (#""cpu":"NaN","memory":"1Mi""#, "resources.cpu"),
        (#""cpu":"inf","memory":"1Mi""#, "resources.cpu"),
        (#""cpu":"0x1p70","memory":"1Mi""#, "resources.cpu"),
    ])
    func outOfRange(resources: String, field: String) {
        let e = errors(spec(resources: resources))
        #expect(e.map(\.field).contains(field), "\(e)")
    }

    @Test("replicas and priority out of range or not whole numbers are refused", arguments: [
        (#","replicas":1e19"#, "replicas"), (#","replicas":-1e19"#, "replicas"), (#","replicas":2.5"#, "replicas"),
        (#","replicas":1001"#, "replicas"), (#","priority":1e19"#, "priority"), (#","priority":"high""#, "priority"),
    ])
    func counts(extra: String, field: String) {
        let e = errors(spec(resources: #""cpu":"1","memory":"1Mi""#, extra: extra))
        #expect(e.map(\.field) == [field], "\(e)")
    }

    @Test("the maximum per replica times 2 replicas is refused when it would overflow; the maximum itself is accepted")
    func totals() throws {
        // Accepted on the old code, then trapped in Resources.+ on every start.
        for resources in [#""cpu":"9223372036854775807m","memory":"1Mi""#, #""cpu":"1","memory":"9223372036854775807""#, #""cpu":"1","memory":"1Mi","storage_iops":9223372036854775807"#] {
            #expect(!errors(spec(resources: resources, extra: #","replicas":2"#)).isEmpty, "\(resources)")
        }
        let max = Resources.maximum
        let json = spec(resources: #""cpu":"\#(max.cpuMillis)m","memory":"\#(max.memoryBytes)","network":"\#(max.networkBitsPerSecond)bps","storage_iops":\#(max.storageIOPS)"#, extra: #","replicas":1000"#)
        let big = try WorkloadSpec.fromJSON(Data(json.utf8))
        #expect(big.resources == max && big.replicas == 1000)
        let (total, overflow) = big.resources.multipliedReportingOverflow(by: 1000)
        #expect(!overflow && total == Resources.maximumTotal)
    }

    @Test("several wrong types are all listed, each with the kind of value it needs")
    func allWrongTypes() {
        let e = errors(#"{"name":5,"priority":"high","image":["busybox"],"command":{"a":1},"replicas":"two","restart":false,"resources":{"cpu":true,"memory":{"a":1},"gpu":[1],"storage_iops":"many"}}"#)
        let byField = Dictionary(e.map { ($0.field, $0.message) }, uniquingKeysWith: { a, b in a + "; " + b })
        #expect(Set(byField.keys) == ["name", "priority", "image", "command", "replicas", "restart", "resources.cpu", "resources.memory", "resources.gpu", "resources.storage_iops"], "\(e)")
        #expect(byField["resources.cpu"]?.contains("CPU amount") == true)
        #expect(byField["resources.memory"]?.contains("size") == true)
        #expect(byField["resources.gpu"]?.contains("GPU amount") == true && byField["resources.gpu"]?.contains("CPU") == false, "\(byField)")
        #expect(byField["replicas"]?.contains("whole number") == true)
    }

    @Test("a bad GPU value says GPU, never CPU", arguments: ["lots", "1e19", "-1", "1500m", "0", "65", "0.3m"])
    func gpuMessage(text: String) {
        let e = errors(spec(resources: #""cpu":"1","memory":"1Mi","gpu":"\#(text)""#))
        let gpu = e.first { $0.field == "resources.gpu" }
        #expect(gpu != nil, "\(e)")
        #expect(gpu?.message.contains("GPU") == true && gpu?.message.contains("CPU") == false, "\(gpu?.message ?? "")")
    }

    @Test("a 10 KB name is refused and its message stays short")
    func longName() {
        let e = errors(#"{"name":"\#(String(repeating: "a", count: 10_000))","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"}}"#)
        #expect(e.map(\.field) == ["name"])
        #expect((e.first?.message.utf8.count ?? 0) < 300)
    }

    @Test("an element of command, env or gpu_models that is not text is named on its own, and every bad field is listed")
    func elementsNamed() {
        let e = errors(#"{"name":"w","image":"busybox","command":["sh",5],"env":{"PORT":8080,"1A":"x","OK":"y"},"resources":{"cpu":"1","memory":"1Mi","gpu":1,"gpu_models":["T4",true]}}"#)
        let byField = Dictionary(e.map { ($0.field, $0.message) }, uniquingKeysWith: { a, b in a + "; " + b })
        #expect(Set(byField.keys) == ["command[1]", "env.PORT", "env.1A", "resources.gpu_models[1]"], "\(e)")
        #expect(byField["command[1]"] == "is 5: expected text")
        #expect(byField["resources.gpu_models[1]"] == "is true: expected text")
    }

    /// Stands in for YAML's decoder: JSON strings spelled like YAML's plain booleans, nulls and
    /// numbers are reported as typed scalars, as `WorkloadSpecYAML` reports unquoted ones.
    static let yamlLike = WorkloadSpec.Document.TypedScalars { decoder in
        switch try? decoder.singleValueContainer().decode(String.self) {
        case "false", "yes"?: .boolean
        case "~"?: .null
        case "12"?: .integer
        case "1.5"?: .float
        default: nil
        }
    }

    @Test("a decoder that reports typed scalars makes every text field refuse them, naming the field and the kind")
    func typedScalarsRefused() throws {
        let json = #"{"name":"12","tenant":"false","image":"1.5","restart":"yes","command":["sh","~"],"env":{"DEBUG":"false","HOME":"/root"},"resources":{"cpu":"250m","memory":"1Mi","gpu":1,"gpu_models":["12"]}}"#
        let decoder = JSONDecoder()
        decoder.userInfo[WorkloadSpec.Document.TypedScalars.key] = Self.yamlLike
        let document = try decoder.decode(WorkloadSpec.Document.self, from: Data(json.utf8))
        let e: [SpecError]
        do {
            _ = try WorkloadSpec(validating: document)
            e = []
        } catch {
            e = error.errors
        }
        let byField = Dictionary(e.map { ($0.field, $0.message) }, uniquingKeysWith: { a, b in a + "; " + b })
        #expect(Set(byField.keys) == ["name", "tenant", "image", "restart", "command[1]", "env.DEBUG", "resources.gpu_models[0]"], "\(e)")
        #expect(byField["tenant"] == "is false, which YAML reads as a boolean (quote it to mean text): expected text such as team-a")
        #expect(byField["name"]?.contains("an integer") == true && byField["image"]?.contains("a number") == true)
        #expect(byField["command[1]"]?.contains("is ~, which YAML reads as null") == true)

        // Without the report (JSON), the same strings are text.
        let spec = try WorkloadSpec.fromJSON(Data(#"{"name":"w","tenant":"false","image":"busybox","command":["sh","~"],"env":{"DEBUG":"false"},"resources":{"cpu":"250m","memory":"1Mi"}}"#.utf8))
        #expect(spec.tenant == "false" && spec.command == ["sh", "~"] && spec.env == ["DEBUG": "false"])
    }

    @Test("a built spec outside today's rules has problems (what quarantines a stored record)")
    func storedProblems() {
        var spec = WorkloadSpec(name: "w", image: "busybox", command: ["x"], resources: Resources(cpuMillis: 250, memoryBytes: 1 << 20))
        #expect(spec.problems.isEmpty)
        spec.resources.cpuMillis = .max
        spec.replicas = 2
        #expect(spec.problems.map(\.field) == ["resources.cpu"])
        spec.resources.cpuMillis = 1
        spec.gpu = GPUDemand(count: 1_000_000, milliPerDevice: 1000)
        #expect(spec.problems.map(\.field) == ["resources.gpu"])
    }
}

@Suite("Quantity bounds and saturating arithmetic")
struct QuantityBoundsTests {
    @Test("no text makes a parser trap; huge, negative and non-decimal amounts are refused", arguments: [
        "1e19", "1e300", "-1e19", "9223372036854775807m", "9223372036854775808", "-9223372036854775808m", "NaN", "nan", "inf", "-inf",
        "0x10", "1e99999", "١٢", "+", "-", ".", "e5", "1e", "1..2", String(repeating: "9", count: 5000), "1e19Gi", "18446744073709551616Ti",
    ])
    func hostile(text: String) {
        #expect(throws: Quantity.ParseError.self) { try Quantity.parseCPU(text) }
        #expect(throws: Quantity.ParseError.self) { try Quantity.parseBytes(text) }
        #expect(throws: Quantity.ParseError.self) { try Quantity.parseBitRate(text + "bps") }
        #expect(throws: Quantity.ParseError.self) { try GPUDemand.parse(text) }
    }

    @Test("the maxima themselves parse")
    func maxima() throws {
        #expect(try Quantity.parseCPU("1000000") == Resources.maximum.cpuMillis)
        #expect(try Quantity.parseBytes("1Pi") == Resources.maximum.memoryBytes)
        #expect(try Quantity.parseBitRate("10Tbps") == Resources.maximum.networkBitsPerSecond)
        #expect(throws: Quantity.ParseError.self) { try Quantity.parseCPU("1000001") }
        #expect(throws: Quantity.ParseError.self) { try Quantity.parseBytes("1025Ti") }
    }

    @Test("+, - and * saturate instead of trapping")
    func saturating() {
        let top = Resources(cpuMillis: .max, memoryBytes: .max, networkBitsPerSecond: .max, storageIOPS: .max)
        let bottom = Resources(cpuMillis: .min, memoryBytes: .min, networkBitsPerSecond: .min, storageIOPS: .min)
        let one = Resources(cpuMillis: 1, memoryBytes: 1, networkBitsPerSecond: 1, storageIOPS: 1)
        #expect(top + one == top)
        #expect(bottom - one == bottom)
        #expect(top * 2 == top && top * -2 == bottom && bottom * -1 == top)
        #expect(one + one == Resources(cpuMillis: 2, memoryBytes: 2, networkBitsPerSecond: 2, storageIOPS: 2))
        #expect(top.multipliedReportingOverflow(by: 2).overflow && !one.multipliedReportingOverflow(by: 1000).overflow)
        #expect(Int.max.saturatingMultiply(3) == .max && Int.min.saturatingSubtract(1) == .min && Int64(5).saturatingAdd(-7) == -2)
    }
}
