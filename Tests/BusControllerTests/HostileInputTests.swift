import BackplaneModel
import ClusterStore
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import Synchronization
import Testing
import WorkloadBalancer
@testable import BusController

/// Issue 10: input that cannot hurt the BMC. Each case here trapped, answered 500 or 404, or
/// hung on the code before.
@Suite("Hostile input to the BMC")
struct HostileInputTests {
    func withAPI(metrics: BusMetrics = BusMetrics(), store: InMemoryClusterStore = InMemoryClusterStore(), _ body: @Sendable (any TestClientProtocol, BusManagementController) async throws -> Void) async throws {
        let bmc = BusManagementController(configuration: .init(listen: .tcp(host: "127.0.0.1", port: 0), token: "t"), store: store, group: MultiThreadedEventLoopGroup.singleton)
        try await APIServer(bmc: bmc, metrics: metrics).testAsBusAdmin { client in try await body(client, bmc) }
    }

    struct Envelope: Decodable {
        struct Inner: Decodable { var code: String; var message: String; var details: [String: String] }
        var error: Inner
    }

    func envelope(_ response: TestResponse) throws -> Envelope.Inner {
        #expect(response.headers[.contentType] == "application/json")
        return try JSONDecoder().decode(Envelope.self, from: Data(response.body.readableBytesView)).error
    }

    static func spec(_ resources: String, replicas: Int = 1) -> String {
        #"{"name":"w","image":"busybox","command":["x"],"replicas":\#(replicas),"resources":{\#(resources)}}"#
    }

    @Test("out-of-range numbers on every resource field are a 400 naming the field, and nothing is stored", arguments: [
        (#""cpu":1e19,"memory":"64Mi""#, "resources.cpu"), (#""cpu":-1e19,"memory":"64Mi""#, "resources.cpu"),
        (#""cpu":1,"memory":1e300"#, "resources.memory"), (#""cpu":1,"memory":"64Mi","gpu":1e19"#, "resources.gpu"),
        (#""cpu":1,"memory":"64Mi","network":1e19"#, "resources.network"), (#""cpu":1,"memory":"64Mi","storage_iops":1e19"#, "resources.storage_iops"),
    ])
    func outOfRange(resources: String, field: String) async throws {
        try await withAPI { client, bmc in
            try await client.execute(uri: "/v1/workloads", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: Self.spec(resources))) { response in
                #expect(response.status == .badRequest)
                let e = try envelope(response)
                #expect(e.code == "invalid_spec" && e.details.keys.contains(field), "\(e)")
            }
            #expect(try await bmc.registry.read().snapshot.workloads.isEmpty)
        }
    }

    @Test("a spec whose total over 2 replicas overflows is refused (it was stored, then trapped the BMC on every start)", arguments: [
        #""cpu":"9223372036854775807m","memory":"64Mi""#, #""cpu":1,"memory":"9223372036854775807""#, #""cpu":1,"memory":"64Mi","storage_iops":9223372036854775807"#,
    ])
    func overflowingTotal(resources: String) async throws {
        try await withAPI { client, bmc in
            try await client.execute(uri: "/v1/workloads", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: Self.spec(resources, replicas: 2))) { response in
                #expect(response.status == .badRequest)
            }
            #expect(try await bmc.registry.read().snapshot.workloads.isEmpty)
        }
    }

    @Test("several wrong types: every field is in details, with the right kind of value")
    func everyField() async throws {
        try await withAPI { client, _ in
            let body = #"{"name":5,"image":"busybox","command":["x"],"replicas":"two","resources":{"cpu":"1","memory":"64Mi","gpu":"lots"}}"#
            try await client.execute(uri: "/v1/workloads", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)) { response in
                let e = try envelope(response)
                #expect(Set(e.details.keys) == ["name", "replicas", "resources.gpu"], "\(e)")
                #expect(e.details["resources.gpu"]?.contains("GPU") == true && e.details["resources.gpu"]?.contains("CPU") == false)
            }
        }
    }

    @Test("a YAML syntax error gives its line and column")
    func yamlSyntax() async throws {
        try await withAPI { client, _ in
            let yaml = "name: web\nimage: busybox\ncommand: [httpd\nresources: {cpu: 1, memory: 64Mi}\n"
            try await client.execute(uri: "/v1/workloads", method: .post, headers: [.contentType: "application/yaml"], body: ByteBuffer(string: yaml)) { response in
                #expect(response.status == .badRequest)
                let e = try envelope(response)
                #expect(e.details["line"] != nil && e.details["column"] != nil, "\(e)")
                #expect(e.message.contains("line \(e.details["line"] ?? "?"), column"), "\(e.message)")
            }
            let deep = "name: " + String(repeating: "[", count: 100_000)
            try await client.execute(uri: "/v1/workloads", method: .post, headers: [.contentType: "application/yaml"], body: ByteBuffer(string: deep)) { response in
                #expect(response.status == .badRequest)
            }
        }
    }

    @Test("YAML: an unquoted boolean, null or number in a text field is refused, naming each field and kind; quoted, it is text (schemathesis ST201: `tenant: false`)")
    func yamlTypedScalars() async throws {
        try await withAPI { client, bmc in
            let typed = "name: web\ntenant: false\nimage: busybox\ncommand: [sh, 12]\nenv: {PORT: 8080, DEBUG: yes, HOME: /root}\nrestart: ~\nresources: {cpu: 0.5, memory: 1048576, gpu: 1, gpu_models: [1.5]}\n"
            try await client.execute(uri: "/v1/workloads", method: .post, headers: [.contentType: "application/yaml"], body: ByteBuffer(string: typed)) { response in
                #expect(response.status == .badRequest)
                let e = try envelope(response)
                #expect(e.code == "invalid_spec")
                #expect(Set(e.details.keys) == ["tenant", "command[1]", "env.PORT", "env.DEBUG", "resources.gpu_models[0]"], "\(e)")
                #expect(e.details["tenant"] == "is false, which YAML reads as a boolean (quote it to mean text): expected text such as team-a")
                #expect(e.details["command[1]"]?.contains("an integer") == true && e.details["resources.gpu_models[0]"]?.contains("a number") == true)
            }
            #expect(try await bmc.registry.read().snapshot.workloads.isEmpty)

            // The JSON path refuses the same boolean.
            let json = #"{"name":"web","tenant":false,"image":"busybox","command":["sh"],"resources":{"cpu":"1","memory":"64Mi"}}"#
            try await client.execute(uri: "/v1/workloads", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: json)) { response in
                #expect(response.status == .badRequest)
                let e = try envelope(response)
                #expect(e.details["tenant"]?.contains("is false") == true, "\(e)")
            }

            let quoted = "name: web\ntenant: 'false'\nimage: busybox\ncommand: [sh, \"12\"]\nenv: {PORT: '8080', DEBUG: \"yes\", HOME: /root}\nrestart: ~\nresources: {cpu: 0.5, memory: 1048576, gpu: 1, gpu_models: ['1.5']}\n"
            try await client.execute(uri: "/v1/workloads", method: .post, headers: [.contentType: "application/yaml"], body: ByteBuffer(string: quoted)) { response in
                #expect(response.status == .created, "\(String(buffer: response.body))")
            }
            let stored = try #require(try await bmc.registry.read().snapshot.workloads.first)
            #expect(stored.tenant == "false" && stored.command == ["sh", "12"] && stored.env == ["PORT": "8080", "DEBUG": "yes", "HOME": "/root"])
            #expect(stored.gpu?.models == ["1.5"] && stored.restart == .always)
            #expect(stored.resources.cpuMillis == 500 && stored.resources.memoryBytes == 1 << 20, "quantities still take numbers")
        }
    }

    // A plain scalar is refused as text only when YAML 1.2's core schema and YAML 1.1 (PyYAML,
    // what most writers follow) both read it as typed; forms they disagree on (`0o17`, `1e5`, `08`)
    // are text, because a YAML 1.1 writer emits such strings unquoted (schemathesis ST202 found
    // `env: {M: 1e100}` refused).
    @Test("YAML: which unquoted scalars a text field refuses (typed in both YAML 1.2 core and YAML 1.1)", arguments: [
        ("false", "a boolean"), ("True", "a boolean"), ("yes", "a boolean"), ("OFF", "a boolean"), ("~", "null"), ("null", "null"),
        ("12", "an integer"), ("-7", "an integer"), ("0x1F", "an integer"), ("0b101", "an integer"), ("1_000", "an integer"),
        ("1.5", "a number"), (".inf", "a number"), ("-.inf", "a number"), (".nan", "a number"),
        ("0o17", nil), ("1e5", nil), ("08", nil), ("1e100", nil),
        ("web", nil), ("'false'", nil), ("\"12\"", nil), ("!!str 12", nil), ("2026-01-01", nil), ("y", nil), ("nan", nil), ("1e5x", nil),
    ] as [(String, String?)])
    func yamlScalarKinds(scalar: String, kind: String?) throws {
        let yaml = "name: web\nimage: busybox\ncommand: [sh, \(scalar)]\nresources: {cpu: 1, memory: 64Mi}\n"
        do {
            let spec = try APIServer.parseSpec(ByteBuffer(string: yaml), contentType: "application/yaml")
            #expect(kind == nil, "\(scalar) was read as the text \(spec.command[1])")
        } catch let error as APIError {
            #expect(kind != nil && error.details["command[1]"]?.contains("which YAML reads as \(kind ?? "")") == true, "\(scalar): \(error)")
        }
    }

    @Test("the audit log keeps every change asked of the API, refused ones included, and nothing else")
    func auditLog() async throws {
        try await withAPI { client, bmc in
            let good = #"{"name":"web","image":"busybox","command":["sh"],"resources":{"cpu":"1","memory":"64Mi"}}"#
            try await client.execute(uri: "/v1/workloads", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: good)) { #expect($0.status == .created) }
            try await client.execute(uri: "/v1/workloads", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"name":"web","image":"/tmp/evil"}"#)) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/v1/workloads/nope?tenant=team-a", method: .delete) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/v1/workloads", method: .get) { #expect($0.status == .ok) }  // a read: not audited
            try await client.execute(uri: "/v1/no-such-route", method: .post) { #expect($0.status == .notFound) }  // no route: not audited
            try await client.execute(uri: "/v1/audit", method: .get) { response in
                let entries = try JSONDecoder().decode([AuditEntry].self, from: Data(response.body.readableBytesView))
                #expect(entries.map(\.status) == [201, 400, 404], "\(entries)")
                #expect(entries.map(\.method) == ["POST", "POST", "DELETE"])
                #expect(entries.last?.target == "/v1/workloads/nope?tenant=team-a" && entries.last?.route.hasPrefix("/v1/workloads/") == true && entries.last?.route.contains("nope") == false, "the route, not the name: \(String(describing: entries.last))")
                #expect(entries.allSatisfy { $0.who.count == 16 && $0.role == "bus-admin" && $0.tenant == nil }, "the bus-admin token's id: \(entries.map(\.who))")
            }
            try await client.execute(uri: "/v1/audit?limit=1", method: .get) { response in
                let entries = try JSONDecoder().decode([AuditEntry].self, from: Data(response.body.readableBytesView))
                #expect(entries.map(\.status) == [404], "the newest one")
            }
            try await client.execute(uri: "/v1/audit?since=10000000000", method: .get) { response in
                let entries = try JSONDecoder().decode([AuditEntry].self, from: Data(response.body.readableBytesView))
                #expect(entries.isEmpty)
            }
            // 99999999999 s as nanoseconds does not fit a UInt64: it trapped the BMC (schemathesis).
            for bad in ["since=yesterday", "since=-1", "since=99999999999", "since=1e300", "since=nan", "limit=0", "limit=10001", "limit=1.5", "limit=99999999999999999999"] {
                try await client.execute(uri: "/v1/audit?\(bad)", method: .get) { response in
                    #expect(response.status == .badRequest, "\(bad)")
                    let details = try envelope(response).details
                    #expect(details.count == 1, "\(bad): \(details)")
                }
            }
            _ = bmc
        }
    }

    @Test("tenant quotas: set (strings or numbers), list, delete; every bad field and tenant is named and nothing changes")
    func quotas() async throws {
        try await withAPI { client, bmc in
            try await client.execute(uri: "/v1/quotas/team-a", method: .put, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"cpu": "2", "memory": "4Gi", "gpu": "500m"}"#)) { response in
                #expect(response.status == .ok, "\(String(buffer: response.body))")
                let q = try JSONDecoder().decode(Quota.self, from: Data(response.body.readableBytesView))
                #expect(q == Quota(tenant: "team-a", cpuMillis: 2000, memoryBytes: 4 << 30, gpuMilli: 500))
            }
            try await client.execute(uri: "/v1/quotas/team-b", method: .put, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"cpu": 0.5, "memory": 1073741824}"#)) { response in
                #expect(response.status == .ok, "\(String(buffer: response.body))")
            }
            try await client.execute(uri: "/v1/quotas", method: .get) { response in
                let all = try JSONDecoder().decode([Quota].self, from: Data(response.body.readableBytesView))
                #expect(all == [Quota(tenant: "team-a", cpuMillis: 2000, memoryBytes: 4 << 30, gpuMilli: 500), Quota(tenant: "team-b", cpuMillis: 500, memoryBytes: 1 << 30)])
            }
            let bad: [(String, String, [String])] = [
                ("team-a", #"{"cpu": "lots", "memory": 12, "gpu": true, "disk": 1}"#, ["cpu", "memory", "gpu", "disk"]),
                ("team-a", #"{"memory": "1Gi"}"#, ["cpu"]),
                ("team-a", #"{"cpu": 1e300, "memory": "1e300Gi"}"#, ["cpu", "memory"]),
                ("team-a", #"{"cpu": -1, "memory": "0"}"#, ["cpu", "memory"]),
                ("team-a", #"[1, 2]"#, ["(body)"]),
                ("Team_A", #"{"cpu": "1", "memory": "1Gi"}"#, ["tenant"]),
            ]
            for (tenant, body, fields) in bad {
                try await client.execute(uri: "/v1/quotas/\(tenant)", method: .put, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)) { response in
                    #expect(response.status == .badRequest, "\(body)")
                    let e = try envelope(response)
                    #expect(Set(e.details.keys) == Set(fields), "\(body): \(e)")
                }
            }
            #expect(try await bmc.registry.read().snapshot.quotas["team-a"]?.cpuMillis == 2000, "nothing changed")
            try await client.execute(uri: "/v1/quotas/team-a", method: .delete) { #expect($0.status == .noContent) }
            try await client.execute(uri: "/v1/quotas/team-a", method: .delete) { #expect($0.status == .notFound) }
            #expect(try await bmc.registry.read().snapshot.quotas.keys.sorted() == ["team-b"])
        }
    }

    // The security issue's attack: `image: /tmp/<a directory a local user owns>` ran a container
    // on that host directory. A workload names an image from the cards' store, never a path.
    @Test("an image that is a host path (or not an image name) is refused naming image; nothing is stored")
    func hostPathImage() async throws {
        try await withAPI { client, bmc in
            for (image, words) in [("/tmp/evil", "is a path"), ("../etc", "is a path"), ("busybox/../..", "is a path"), ("Busybox", "not an image name"), (String(repeating: "a", count: 129), "at most 128")] {
                let json = #"{"name":"web","image":"\#(image)","command":["sh"],"resources":{"cpu":"1","memory":"64Mi"}}"#
                try await client.execute(uri: "/v1/workloads", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: json)) { response in
                    #expect(response.status == .badRequest, "\(image)")
                    let e = try envelope(response)
                    #expect(e.details["image"]?.contains(words) == true, "\(image): \(e)")
                }
            }
            #expect(try await bmc.registry.read().snapshot.workloads.isEmpty)
        }
    }

    // Yams looks a key up by a plain scalar of its text, which YAML types (`On` is a boolean), so
    // a quoted key `'On'` was never found (schemathesis ST202: env key 'On' refused as "expected text").
    @Test("YAML: quoted keys that would be typed unquoted ('On', 'true', 'null', 'yes') are found, in env and at the top")
    func yamlQuotedKeys() throws {
        let yaml = "'name': web\n\"image\": busybox\ncommand: [sh]\nresources: {cpu: 1, memory: 64Mi}\nenv: {'On': a, \"true\": b, 'yes': c, 'null': d, 'OFF': f, plain: g}\n"
        let spec = try APIServer.parseSpec(ByteBuffer(string: yaml), contentType: "application/yaml")
        #expect(spec.name == "web" && spec.image == "busybox")
        #expect(spec.env == ["On": "a", "true": "b", "yes": "c", "null": "d", "OFF": "f", "plain": "g"])
    }

    @Test("YAML: aliases that expand a document past twice its length are refused at once (billion laughs)")
    func yamlAliasBomb() throws {
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 { yaml += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n" }
        yaml += "name: web\nimage: busybox\ncommand: *a9\nresources: {cpu: 1, memory: 64Mi}\n"
        #expect(throws: APIError.self) { try APIServer.parseSpec(ByteBuffer(string: yaml), contentType: "application/yaml") }
        do {
            _ = try APIServer.parseSpec(ByteBuffer(string: yaml), contentType: "application/yaml")
        } catch let error as APIError {
            #expect(error.details["(document)"]?.contains("expands through aliases") == true, "\(error)")
        }
    }

    /// The request schema of `POST /v1/workloads`, from the served document.
    static func specSchema() throws -> [String: Any] {
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.text.utf8)) as? [String: Any])
        #expect(doc["openapi"] as? String == "3.1.0")
        let schemas = try #require((doc["components"] as? [String: Any])?["schemas"] as? [String: Any])
        return try #require(schemas["WorkloadSpecDocument"] as? [String: Any])
    }

    /// JSON Schema's `pattern` and length bounds. JSON Schema's `$` (ECMA-262) is the end of the
    /// text, never before a final line break as ICU's is: the match must cover the whole text.
    static func matches(_ text: String, _ schema: [String: Any]) throws -> Bool {
        let regex = try NSRegularExpression(pattern: try #require(schema["pattern"] as? String))
        let whole = NSRange(text.startIndex..., in: text)
        let length = text.unicodeScalars.count
        return regex.firstMatch(in: text, range: whole)?.range == whole
            && length >= (schema["minLength"] as? Int ?? 0) && length <= (schema["maxLength"] as? Int ?? .max)
    }

    @Test("the OpenAPI document's env name rule (3.1 propertyNames) is the server's (schemathesis ST202)", arguments: [
        "A", "_", "PATH", "a_1", "_9", String(repeating: "V", count: 255),
        "1A", "", "A-B", "A B", "A\n", "Ä", "a.b", String(repeating: "V", count: 256),
    ])
    func envNamesDocumented(name: String) throws {
        let env = try #require((try Self.specSchema()["properties"] as? [String: Any])?["env"] as? [String: Any])
        let documented = try Self.matches(name, try #require(env["propertyNames"] as? [String: Any]))
        let body = try JSONSerialization.data(withJSONObject: ["name": "w", "image": "busybox", "command": ["x"], "env": [name: "v"], "resources": ["cpu": "1", "memory": "64Mi"]])
        let accepted = (try? APIServer.parseSpec(ByteBuffer(bytes: body), contentType: "application/json")) != nil
        #expect(documented == accepted, "\(name.debugDescription): documented \(documented), accepted \(accepted)")
    }

    @Test("the OpenAPI document's GPU model rule is the server's, line breaks included", arguments: [
        "T4", "V100M16", "a b", String(repeating: "m", count: 63),
        "", "T4|V100", "a,b", "a\nb", "a\rb", "\u{0B}@ya", "a\u{0C}", "a\u{85}", "a\u{2028}", "a\u{2029}", String(repeating: "m", count: 64),
    ])
    func gpuModelsDocumented(model: String) throws {
        let resources = try #require((try Self.specSchema()["properties"] as? [String: Any])?["resources"] as? [String: Any])
        let gpuModels = try #require((resources["properties"] as? [String: Any])?["gpu_models"] as? [String: Any])
        let documented = try Self.matches(model, try #require(gpuModels["items"] as? [String: Any]))
        let body = try JSONSerialization.data(withJSONObject: ["name": "w", "image": "busybox", "command": ["x"], "resources": ["cpu": "1", "memory": "64Mi", "gpu": 1, "gpu_models": [model]]])
        let accepted = (try? APIServer.parseSpec(ByteBuffer(bytes: body), contentType: "application/json")) != nil
        #expect(documented == accepted, "\(model.debugDescription): documented \(documented), accepted \(accepted)")
    }

    @Test("every quantity the OpenAPI document's patterns allow is accepted (schemathesis ST202: network 200611Gbps)", arguments: [
        ("network", "10000Gbps"), ("network", "9999Gbps"), ("network", "999999Mbps"), ("network", "999999kbps"), ("network", "200611Gbps"), ("network", "10001Gbps"),
        ("memory", "999999Gi"), ("memory", "999TiB"), ("memory", "1Mi"), ("cpu", "999999999m"), ("cpu", "999999.999"), ("cpu", "0.001"),
    ])
    func quantitiesDocumented(field: String, value: String) throws {
        let resources = try #require((try Self.specSchema()["properties"] as? [String: Any])?["resources"] as? [String: Any])
        let schema = try #require((resources["properties"] as? [String: Any])?[field] as? [String: Any])
        let documented = try Self.matches(value, (schema["oneOf"] as? [[String: Any]])?.first ?? schema)
        var body: [String: Any] = ["cpu": "1", "memory": "64Mi"]
        body[field] = value
        let data = try JSONSerialization.data(withJSONObject: ["name": "w", "image": "busybox", "command": ["x"], "resources": body])
        let accepted = (try? APIServer.parseSpec(ByteBuffer(bytes: data), contentType: "application/json")) != nil
        #expect(!documented || accepted, "\(field) \(value) is documented but refused")
        if value == "200611Gbps" || value == "10001Gbps" { #expect(!documented && !accepted) }
    }

    @Test("gpu_models needs gpu unless null, in the server and in the document's dependentSchemas (schemathesis ST202)")
    func gpuModelsNeedGPU() throws {
        let resources = try #require((try Self.specSchema()["properties"] as? [String: Any])?["resources"] as? [String: Any])
        let rule = try #require((resources["dependentSchemas"] as? [String: Any])?["gpu_models"] as? [String: Any])
        let branches = try #require(rule["anyOf"] as? [[String: Any]])
        #expect(branches.contains { ($0["required"] as? [String]) == ["gpu"] })
        func accepted(_ resources: String) -> Bool {
            (try? APIServer.parseSpec(ByteBuffer(string: #"{"name":"w","image":"busybox","command":["x"],"resources":{"cpu":"1","memory":"64Mi"\#(resources)}}"#), contentType: "application/json")) != nil
        }
        #expect(!accepted(#","gpu_models":["T4"]"#))
        #expect(!accepted(#","gpu":null,"gpu_models":["T4"]"#))
        #expect(accepted(#","gpu":1,"gpu_models":["T4"]"#))
        #expect(accepted(#","gpu_models":null"#))
    }

    @Test("a body over 1 MiB is a 413 with the envelope, declared or not")
    func tooLarge() async throws {
        try await withAPI { client, _ in
            let big = ByteBuffer(repeating: UInt8(ascii: " "), count: APIServer.bodyLimit + 1)
            try await client.execute(uri: "/v1/workloads", method: .post, headers: [.contentType: "application/json"], body: big) { response in
                #expect(response.status == .contentTooLarge)
                #expect((try? envelope(response))?.code == "payload_too_large")
            }
            try await client.execute(uri: "/v1/workloads/web/scale", method: .post, body: big) { response in
                #expect(response.status == .contentTooLarge)
                #expect(response.headers[.connection] == "close")
            }
        }
    }

    @Test("a known path with another method is a 405 with Allow; an unknown path a 404; both enveloped", arguments: [
        (HTTPRequest.Method.put, "/v1/workloads", "GET, HEAD, POST"), (.patch, "/v1/workloads/web", "GET, HEAD, DELETE"),
        (.options, "/v1/cards", "GET, HEAD"), (.delete, "/v1/cards", "GET, HEAD"), (.get, "/v1/workloads/web/scale", "POST"),
        (.put, "/v1/openapi.json", "GET, HEAD"), (.post, "/metrics", "GET, HEAD"),
    ])
    func methodNotAllowed(method: HTTPRequest.Method, path: String, allow: String) async throws {
        try await withAPI { client, _ in
            try await client.execute(uri: path, method: method) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == allow)
                #expect((try? envelope(response))?.code == "method_not_allowed")
            }
            try await client.execute(uri: path + "/nothing/here", method: method) { response in
                #expect(response.status == .notFound)
                #expect((try? envelope(response))?.code == "not_found")
            }
        }
    }

    @Test("CONNECT is answered at once (405) and closes the connection")
    func connect() async throws {
        try await withAPI { client, _ in
            try await client.execute(uri: "/v1/workloads", method: .connect) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.connection] == "close")
            }
        }
    }

    @Test("names beyond the name rule anywhere in a path or query are a 400, never a 500", arguments: [
        (HTTPRequest.Method.delete, "/v1/workloads/\(String(repeating: "a", count: 10_000))", "name"),
        (.get, "/v1/workloads/\(String(repeating: "a", count: 64))", "name"),
        (.get, "/v1/workloads/web?tenant=\(String(repeating: "t", count: 10_000))", "tenant"),
        (.post, "/v1/workloads/\(String(repeating: "a", count: 10_000))/scale", "name"),
        (.get, "/v1/workloads/\(String(repeating: "a", count: 10_000))/forecast", "name"),
        (.get, "/v1/instances/\(String(repeating: "a", count: 10_000))/logs", "id"),
        (.post, "/v1/cards/\(String(repeating: "c", count: 10_000))/drain", "id"),
    ])
    func longNames(method: HTTPRequest.Method, path: String, field: String) async throws {
        try await withAPI { client, _ in
            try await client.execute(uri: path, method: method, body: ByteBuffer(string: #"{"replicas":1}"#)) { response in
                #expect(response.status == .badRequest)
                let e = try envelope(response)
                #expect(e.details.keys.contains(field), "\(e)")
                #expect(e.message.utf8.count < 400)
            }
        }
    }

    @Test("a stored record that no longer validates is quarantined: out of the snapshot, listed by the API, reported once, never fatal")
    func quarantine() async throws {
        let store = InMemoryClusterStore()
        let registry = Registry(store: store)
        _ = try await store.put("/workloads/default/garbage", Array("{not json".utf8))
        var huge = WorkloadSpec(name: "huge", image: "busybox", command: ["x"], resources: Resources(cpuMillis: .max, memoryBytes: 1 << 20), replicas: 2)
        _ = try await store.put("/workloads/default/huge", Array(try JSONEncoder().encode(huge)))
        huge.name = "elsewhere"
        huge.resources.cpuMillis = 100
        _ = try await store.put("/workloads/default/misfiled", Array(try JSONEncoder().encode(huge)))
        try await registry.putWorkload(WorkloadSpec(name: "fine", image: "busybox", command: ["x"], resources: Resources(cpuMillis: 100, memoryBytes: 1 << 20)))
        let reported = Mutex<[String]>([])
        registry.quarantine.observe { q in reported.withLock { $0.append(q.name) } }

        let state = try await registry.read()
        #expect(state.snapshot.workloads.map(\.name) == ["fine"])
        #expect(Set(state.quarantined.map(\.name)) == ["garbage", "huge", "misfiled"])
        #expect(state.quarantined.first { $0.name == "huge" }?.reason.contains("resources.cpu") == true)
        _ = try await registry.read()
        #expect(reported.withLock { $0.sorted() } == ["garbage", "huge", "misfiled"], "each record is reported once")
        let changes = Reconciler().reconcile(state.snapshot, now: BusManagementController.wallClock())
        #expect(changes.upserts.allSatisfy { $0.instance.workload == "fine" })
        #expect(try await registry.workload(tenant: "default", name: "garbage") == nil)

        try await withAPI(store: store) { client, _ in
            try await client.execute(uri: "/v1/workloads", method: .get) { response in
                #expect(response.status == .ok)
                let list = try JSONDecoder().decode([APIServer.WorkloadStatus].self, from: Data(response.body.readableBytesView))
                #expect(list.filter { $0.state == .quarantined }.map(\.name).sorted() == ["garbage", "huge", "misfiled"])
                #expect(list.filter { $0.state == .active }.map(\.name) == ["fine"])
            }
            try await client.execute(uri: "/v1/workloads/huge/scale", method: .post, body: ByteBuffer(string: #"{"replicas":1}"#)) { response in
                #expect(response.status == .conflict)
            }
            try await client.execute(uri: "/v1/workloads/garbage", method: .delete) { response in
                #expect(response.status == .noContent)
            }
        }
    }

    @Test("reconciling huge but valid workloads does not trap (DRF and placement sums saturate)")
    func hugeButValid() throws {
        let max = Resources.maximum
        let workloads = (0..<12).map { i in
            WorkloadSpec(name: "big-\(i)", tenant: "t\(i % 3)", image: "busybox", command: ["x"], resources: max, replicas: 100)
        }
        let cards = (0..<4).map { i in
            Card(id: CardID(0x1_000000 + UInt64(i)), name: "c\(i)", state: .ready, capacity: Resources(cpuMillis: .max / 2, memoryBytes: .max / 2, networkBitsPerSecond: .max / 2, storageIOPS: .max / 2))
        }
        let snapshot = Reconciler.Snapshot(workloads: workloads, instances: [], cards: cards)
        let changes = Reconciler().reconcile(snapshot, now: BusManagementController.wallClock())
        #expect(changes.upserts.count == 1200)
        let usage = TenantUsage(resources: Resources(cpuMillis: .max, memoryBytes: .max, networkBitsPerSecond: .max, storageIOPS: .max), gpuMilli: .max)
        let demands = changes.upserts.prefix(50).map { Reconciler.demand($0.instance) }
        let ordered = DominantResourceFairness.order(demands, usage: ["t0": usage], capacity: cards.reduce(.zero) { $0 + $1.capacity }, gpuCapacityMilli: 0)
        #expect(ordered.count == 50)
    }

    @Test("GET /metrics is Prometheus text counting requests by route, method and status")
    func metrics() async throws {
        let metrics = BusMetrics()
        try await withAPI(metrics: metrics) { client, _ in
            try await client.execute(uri: "/v1/workloads", method: .get) { _ in }
            try await client.execute(uri: "/v1/workloads", method: .put) { _ in }
            try await client.execute(uri: "/v1/\(String(repeating: "x", count: 100))", method: .get) { _ in }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
                let text = String(buffer: response.body)
                #expect(text.contains(#"backplane_api_requests_total{route="/v1/workloads",method="GET",status="200"} 1"#), "\(text)")
                #expect(text.contains(#"route="unmatched",method="PUT",status="405""#), "\(text)")
                #expect(!text.contains("xxxxxxxx"), "raw paths never become labels")
                #expect(text.contains("backplane_api_request_duration_seconds_bucket"))
            }
        }
    }

    @Test("the route table, the router and the OpenAPI document agree")
    func routesDocumented() async throws {
        let doc = try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.text.utf8)) as? [String: Any]
        let paths = doc?["paths"] as? [String: [String: Any]] ?? [:]
        for route in APIServer.routes {
            let path = route.path.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
            #expect(paths["/" + path]?[route.method.rawValue.lowercased()] != nil, "\(route.method) \(path) is not documented")
        }
        let documented = paths.reduce(0) { $0 + $1.value.keys.filter { ["get", "post", "delete", "put", "patch"].contains($0) }.count }
        #expect(documented == APIServer.routes.count)
    }
}
