import BackplaneModel
import Foundation
import Testing

@Suite("Workload spec")
struct WorkloadSpecTests {
    let valid = #"{"name":"web","image":"busybox","command":["httpd","-f","-p","8080"],"resources":{"cpu":"250m","memory":"64Mi"}}"#

    @Test("a minimal spec gets the documented defaults")
    func defaults() throws {
        let spec = try WorkloadSpec.fromJSON(Data(valid.utf8))
        #expect(spec.tenant == "default" && spec.priority == 500 && spec.replicas == 1 && spec.restart == .always)
        #expect(spec.resources == Resources(cpuMillis: 250, memoryBytes: 64 << 20))
    }

    @Test("one shell line runs under sh -c")
    func shellLine() throws {
        let spec = try WorkloadSpec.fromJSON(Data(#"{"name":"a","image":"busybox","command":"echo hi; sleep 1","resources":{"cpu":1,"memory":"1Gi"}}"#.utf8))
        #expect(spec.command == ["/bin/sh", "-c", "echo hi; sleep 1"])
        #expect(spec.resources.cpuMillis == 1000)
    }

    @Test("each bad field is named", arguments: [
        (#"{"image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"}}"#, "name"),
        (#"{"name":"Web_1","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"}}"#, "name"),
        (#"{"name":"w","tenant":"-x","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"}}"#, "tenant"),
        (#"{"name":"w","priority":1001,"image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"}}"#, "priority"),
        (#"{"name":"w","image":"/srv/ubuntu","command":["x"],"resources":{"cpu":"1","memory":"1Mi"}}"#, "image"),
        (#"{"name":"w","image":"busybox","command":[],"resources":{"cpu":"1","memory":"1Mi"}}"#, "command"),
        (#"{"name":"w","image":"busybox","command":["x"],"env":{"1A":"b"},"resources":{"cpu":"1","memory":"1Mi"}}"#, "env.1A"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"lots","memory":"1Mi"}}"#, "resources.cpu"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"12 parsecs"}}"#, "resources.memory"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1"}}"#, "resources.memory"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi","network":"fast"}}"#, "resources.network"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi","storage_iops":-1}}"#, "resources.storage_iops"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"replicas":-2}"#, "replicas"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"restart":"sometimes"}"#, "restart"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"replicaz":2}"#, "replicaz"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi","gpu":"1500m"}}"#, "resources.gpu"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi","gpu":0}}"#, "resources.gpu"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi","gpu_models":["T4"]}}"#, "resources.gpu_models"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi","gpu":1,"gpu_models":["T4|V100"]}}"#, "resources.gpu_models"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi","gpus":1}}"#, "resources.gpus"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"replicas":"two"}"#, "replicas"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"shards":{"count":0}}"#, "shards.count"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"shards":{"count":99999999999}}"#, "shards.count"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"shards":{}}"#, "shards.count"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"shards":{"count":"many"}}"#, "shards.count"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"shards":{"count":4,"max_shard_bytes":"1k"}}"#, "shards.max_shard_bytes"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"shards":{"count":4,"split_at":1}}"#, "shards.split_at"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"shards":8}"#, "shards"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"vertical":"sometimes"}"#, "vertical"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"vertical":3}"#, "vertical"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"vertical":false}"#, "vertical"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"autoscale":{"min":0,"max":3}}"#, "autoscale.min"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"autoscale":{"min":1}}"#, "autoscale.max"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"autoscale":{"max":0}}"#, "autoscale.max"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"autoscale":{"max":4,"target":5}}"#, "autoscale.target"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"autoscale":{"max":4,"target":101}}"#, "autoscale.target"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"autoscale":{"max":4,"step":1}}"#, "autoscale.step"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"autoscale":7}"#, "autoscale"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"autoscale":{"max":4},"shards":{"count":4}}"#, "autoscale"),
        (#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"autoscale":{"max":99999999999}}"#, "autoscale.max"),
    ])
    func badField(json: String, field: String) {
        do {
            _ = try WorkloadSpec.fromJSON(Data(json.utf8))
            Issue.record("accepted a spec with a bad \(field)")
        } catch {
            #expect(error.errors.map(\.field).contains(field), "\(error)")
        }
    }

    @Test("a sharded workload: shards.count, optional max_shard_bytes; absent means not sharded")
    func shards() throws {
        let spec = try WorkloadSpec.fromJSON(Data(#"{"name":"kv","image":"kv","command":["/backplane-kv"],"resources":{"cpu":"1","memory":"64Mi"},"replicas":3,"shards":{"count":64,"max_shard_bytes":"64Mi"}}"#.utf8))
        #expect(spec.shards == ShardSpec(count: 64, maxShardBytes: 64 << 20))
        #expect(try WorkloadSpec.fromJSON(Data(#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"}}"#.utf8)).shards == nil)
        // A stored record from before sharding decodes without the field.
        let old = try JSONEncoder().encode(WorkloadSpec(name: "w", image: "busybox", command: ["x"], resources: Resources(cpuMillis: 1000, memoryBytes: 1 << 20)))
        #expect(try JSONDecoder().decode(WorkloadSpec.self, from: old).shards == nil)
    }

    @Test("the allocator's fields: vertical (default recommend; a bare YAML off is tested with the API) and autoscale (min 1 and target 70 by default)")
    func allocatorFields() throws {
        let spec = try WorkloadSpec.fromJSON(Data(#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"vertical":"auto","autoscale":{"max":6}}"#.utf8))
        #expect(spec.vertical == .auto && spec.autoscale == Autoscale(min: 1, max: 6, target: 70))
        // min above max: read as max (the API's schema cannot say min ≤ max, and a schema-valid spec is accepted).
        #expect(try WorkloadSpec.fromJSON(Data(#"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"},"autoscale":{"min":5,"max":2}}"#.utf8)).autoscale == Autoscale(min: 2, max: 2))
        let old = try JSONEncoder().encode(WorkloadSpec(name: "w", image: "busybox", command: ["x"], resources: Resources(cpuMillis: 1000, memoryBytes: 1 << 20)))
        let decoded = try JSONDecoder().decode(WorkloadSpec.self, from: old)
        #expect(decoded.vertical == nil && decoded.autoscale == nil, "a record from before the allocator")
    }

    @Test("GPUs: whole devices, a share of one device, and allowed models")
    func gpus() throws {
        let whole = try WorkloadSpec.fromJSON(Data(#"{"name":"t","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi","gpu":2,"gpu_models":["V100M16","V100M32"]}}"#.utf8))
        #expect(whole.gpu == GPUDemand(count: 2, milliPerDevice: 1000, models: ["V100M16", "V100M32"]))
        let share = try WorkloadSpec.fromJSON(Data(#"{"name":"t","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi","gpu":"250m"}}"#.utf8))
        #expect(share.gpu == GPUDemand(count: 1, milliPerDevice: 250))
        #expect(try WorkloadSpec.fromJSON(Data(#"{"name":"t","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"1Mi"}}"#.utf8)).gpu == nil)
    }

    @Test("all problems are reported at once")
    func allAtOnce() {
        do {
            _ = try WorkloadSpec.fromJSON(Data(#"{"name":"W","priority":-1,"image":"/x","command":[]}"#.utf8))
            Issue.record("accepted an invalid spec")
        } catch {
            #expect(Set(error.errors.map(\.field)) == ["name", "priority", "image", "command", "resources.cpu", "resources.memory"])
        }
    }
}

@Suite("Quantities")
struct QuantityTests {
    @Test("CPU", arguments: [("250m", 250), ("2", 2000), ("0.5", 500), ("1.25", 1250)] as [(String, Int64)])
    func cpu(text: String, millis: Int64) throws { #expect(try Quantity.parseCPU(text) == millis) }

    @Test("bytes", arguments: [("128Mi", 128 << 20), ("2GiB", 2 << 30), ("1G", 1_000_000_000), ("512MB", 512_000_000), ("1048576", 1 << 20), ("1.5Gi", 3 << 29)] as [(String, Int64)])
    func bytes(text: String, value: Int64) throws { #expect(try Quantity.parseBytes(text) == value) }

    @Test("bit rates", arguments: [("100Mbps", 100_000_000), ("1Gbps", 1_000_000_000), ("500kbps", 500_000)] as [(String, Int64)])
    func bitRate(text: String, value: Int64) throws { #expect(try Quantity.parseBitRate(text) == value) }

    @Test("garbage and negatives are refused", arguments: ["", "-1", "1x", "m", "abc", "-5Mi"])
    func refused(text: String) {
        #expect(throws: Quantity.ParseError.self) { try Quantity.parseCPU(text) }
        #expect(throws: Quantity.ParseError.self) { try Quantity.parseBytes(text) }
    }

    @Test("formatting", arguments: [(Int64(256 << 20), "256Mi"), (Int64(3 << 29), "1.5Gi"), (Int64(100), "100")])
    func format(value: Int64, text: String) { #expect(Quantity.formatBytes(value) == text) }
}
