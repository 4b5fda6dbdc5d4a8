import BackplaneModel
import Foundation
import Testing
@testable import CardOS

@Suite("instance probes")
struct ProbeTests {
    /// A one-shot loopback server answering every connection with `answer`.
    func server(answer: String) throws -> (port: Int, fd: Int32, thread: Thread) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(fd, 8)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread {
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return }
            var buffer = [UInt8](repeating: 0, count: 1024)
            _ = recv(client, &buffer, 1024, 0)
            _ = answer.withCString { send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            close(client)
        }
        thread.start()
        return (port, fd, thread)
    }

    @Test("tcp passes on a listening port and fails on a closed one, naming it")
    func tcp() async throws {
        let s = try server(answer: "")
        defer { close(s.fd) }
        #expect(await HostProbe.connect(port: s.port, request: nil, timeout: .seconds(2)) == nil)
        let closed = await HostProbe.connect(port: 1, request: nil, timeout: .seconds(1))
        #expect(closed?.contains(":1") == true, "\(String(describing: closed))")
    }

    @Test("http passes on 2xx/3xx and fails on 5xx with the status")
    func http() async throws {
        let ok = try server(answer: "HTTP/1.1 204 No Content\r\n\r\n")
        defer { close(ok.fd) }
        #expect(await HostProbe.connect(port: ok.port, request: "GET / HTTP/1.0\r\n\r\n", timeout: .seconds(2)) == nil)
        let bad = try server(answer: "HTTP/1.1 503 Busy\r\n\r\n")
        defer { close(bad.fd) }
        #expect(await HostProbe.connect(port: bad.port, request: "GET / HTTP/1.0\r\n\r\n", timeout: .seconds(2)) == "HTTP status 503 from :\(bad.port)")
    }

    @Test("liveness: the runner calls for a restart after failure_threshold failures in a row, with the reason")
    func livenessThreshold() async throws {
        let calls = Calls()
        let (failed, failedSink) = AsyncStream.makeStream(of: String.self)
        let runner = ProbeRunner { _, reason in failedSink.yield(reason) }
        async let probing: Void = runner.run()
        let handle = ContainerHandle(id: "w-0", incarnation: 1, containerID: "w-0.1", pid: 1, cgroupPath: "", stdoutPath: "", stderrPath: "")
        let probe = Probe(check: .exec(["check"]), periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 2)
        // Passes once, then fails: a restart after the second failure.
        runner.watch(handle, liveness: probe, readiness: nil) { _, _ in calls.next() == 0 }
        var it = failed.makeAsyncIterator()
        let reason = await it.next()
        #expect(reason?.contains("liveness probe (exec check) failed 2 time(s)") == true, "\(String(describing: reason))")
        #expect(calls.count == 3)
        runner.stopAll()
        await probing
    }

    func spec(_ json: String) throws -> WorkloadSpec {
        try WorkloadSpec(validating: JSONDecoder().decode(WorkloadSpec.Document.self, from: Data(json.utf8)))
    }

    @Test("probes in a spec: parsed with defaults; every bad probe field is named")
    func specs() throws {
        let good = try spec("""
        {"name": "web", "image": "busybox", "command": ["httpd", "-f"], "resources": {"cpu": "100m", "memory": "16Mi"},
         "probes": {"liveness": {"exec": ["cat", "/tmp/ok"], "period": 2, "failure_threshold": 4},
                    "readiness": {"http": {"port": 8080, "path": "/ready"}}}}
        """)
        #expect(good.liveness == Probe(check: .exec(["cat", "/tmp/ok"]), periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 4))
        #expect(good.readiness?.check == .http(port: 8080, path: "/ready"))
        do {
            _ = try spec("""
            {"name": "web", "image": "busybox", "command": ["httpd"], "resources": {"cpu": "100m", "memory": "16Mi"},
             "probes": {"liveness": {"tcp": 70000, "period": 0}, "readiness": {"tcp": 80, "http": {"port": 80}}, "startup": {"tcp": 1}}}
            """)
            Issue.record("a bad probe was accepted")
        } catch let error as SpecErrors {
            let fields = Set(error.errors.map(\.field))
            #expect(fields.isSuperset(of: ["probes.liveness.tcp", "probes.liveness.period", "probes.readiness", "probes.startup"]), "\(fields)")
        }
    }
}

final class Calls: @unchecked Sendable {  // every access holds `lock`
    private let lock = NSLock()
    private var n = 0
    func next() -> Int { lock.withLock { defer { n += 1 }; return n } }
    var count: Int { lock.withLock { n } }
}
