import ArgumentParser
import BackplaneModel
import BusSecurity
import Crypto
import NIOSSL
import DirectCardLinkNIO
import Foundation
import NIOCore
import NIOPosix
import Synchronization

struct DCLBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dcl",
        abstract: "DirectCardLink over TCP loopback: request RTT, streaming rate, control latency under bulk, and a raw SwiftNIO baseline.",
        discussion: """
        Both ends run in this process, each on its own event loop thread, over 127.0.0.1.
        rtt: 64-byte request/response, one outstanding. stream: 64-byte one-way messages,
        pipelined. gbytes: 64 KiB messages. control: command round trips on the control
        class, idle and while a bulk stream saturates the same link. nio_*: the same RTT and
        stream with plain SwiftNIO (no DCL framing) for comparison.
        """
    )

    @Flag(help: "Print one JSON object.") var json = false
    @Option(help: "Timed RTT samples (after warm-up).") var rttSamples = 20_000
    @Option(help: "64-byte messages in the stream test.") var streamMessages = 3_000_000
    @Option(help: "64 KiB messages in the throughput test.") var bulkMessages = 20_000
    @Option(help: "Control round trips, idle and under bulk.") var controlSamples = 5_000
    @Option(help: "One flow-control window in bytes for every class (default: the node's per-class windows).") var window: Int?
    @Option(help: "Window for the bulk class only, in bytes.") var bulkWindow: Int?
    @Flag(help: "Skip the raw SwiftNIO baseline (for profiling DCL alone).") var noBaseline = false
    @Option(help: ArgumentHelp("Rounds of plain TCP and mutual TLS, alternating (which goes first alternates too); figures are the medians.", discussion: "The tls_* figures are the same measurements over mutual TLS with bus-CA certificates (P-256), as every link runs outside --insecure.")) var rounds = 1

    func validate() throws {
        guard (1...50).contains(rounds) else { throw ValidationError("--rounds must be 1 to 50") }
    }

    func run() async throws {
        var report = Report()
        var plain: [[(String, Any)]] = [], tls: [[(String, Any)]] = []
        for round in 0..<rounds {
            for secure in round % 2 == 0 ? [false, true] : [true, false] {
                let figures = try await DCLMeasurements.run(rttSamples: rttSamples, streamMessages: streamMessages, bulkMessages: bulkMessages, controlSamples: controlSamples, window: window, bulkWindow: bulkWindow, tls: secure)
                if secure { tls.append(figures) } else { plain.append(figures) }
            }
        }
        var dcl = Stats.medians(plain)
        let secured = Stats.medians(tls)
        dcl += secured.filter { $0.0 != "window_bytes" }.map { ("tls_" + $0.0, $0.1) }
        if let a = secured.first(where: { $0.0 == "rtt_p50_us" })?.1 as? Double, let b = dcl.first(where: { $0.0 == "rtt_p50_us" })?.1 as? Double, b > 0 {
            dcl.append(("tls_rtt_p50_ratio", Stats.round2(a / b)))
        }
        let nio = noBaseline ? [] : try await NIOBaseline.run(rttSamples: rttSamples, streamMessages: streamMessages)
        report.add("benchmark", "dcl")
        report.add("build", Stats.buildMode)
        report.add("cores", ProcessInfo.processInfo.activeProcessorCount)
        report.add("machine", Stats.machine())
        for (k, v) in dcl { report.add(k, v) }
        for (k, v) in nio { report.add(k, v) }
        report.add("rtt_samples", rttSamples)
        report.add("stream_messages", streamMessages)
        report.add("bulk_messages", bulkMessages)
        report.add("control_samples", controlSamples)
        report.add("rounds", rounds)
        print(json ? report.json() : report.text())
    }
}

enum DCLMeasurements {
    static func run(rttSamples: Int, streamMessages: Int, bulkMessages: Int, controlSamples: Int, window: Int?, bulkWindow: Int?, tls: Bool = false) async throws -> [(String, Any)] {
        let serverGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var serverConfig = DCLNode.Configuration(cardID: .bmc, role: .controller)
        serverConfig.admission = .assigning()
        if let window { serverConfig.windows = .uniform(window) }
        if let bulkWindow { serverConfig.windows.bulk = bulkWindow }
        let server = DCLNode(configuration: serverConfig, group: serverGroup)
        // Mutual TLS as the bus runs it: the BMC's certificate and a card's, from one bus CA.
        let material = try tls ? TLSMaterial() : nil
        let address = try await server.listen(on: .tcp(host: "127.0.0.1", port: 0), tls: try material?.server())
        let client = DCLNode(configuration: .init(cardID: .unassigned, role: .card), group: clientGroup)
        try await client.connect(to: address, tls: try material?.client(), serverHostname: material == nil ? nil : BusCA.bmcServerName)

        server.onRequest("echo") { $0.body }
        server.onRequest("ping") { _ in ByteBuffer() }
        let counters = Counters()
        server.onMessage("sink") { d in counters.received(d.body.readableBytes) }

        var out: [(String, Any)] = [("window_bytes", ["realtime": serverConfig.windows.realtime, "interactive": serverConfig.windows.interactive, "bulk": serverConfig.windows.bulk, "telemetry": serverConfig.windows.telemetry])]
        let small = ByteBuffer(repeating: 0xAB, count: 64)

        // RTT, one outstanding.
        for _ in 0..<2_000 { _ = try await client.request(to: .bmc, endpoint: "echo", body: small) }
        var rtts: [Double] = []
        rtts.reserveCapacity(rttSamples)
        for _ in 0..<rttSamples {
            let t0 = Stats.nowNanoseconds()
            _ = try await client.request(to: .bmc, endpoint: "echo", body: small)
            rtts.append(Double(Stats.nowNanoseconds() - t0) / 1000)
        }
        out.append(("rtt_p50_us", Stats.round2(Stats.percentile(rtts, 50))))
        out.append(("rtt_p99_us", Stats.round2(Stats.percentile(rtts, 99))))

        // Streams.
        let streamRate = try await stream(client: client, counters: counters, count: streamMessages, body: small, qos: .interactive)
        out.append(("stream_msgs_per_s", Int(streamRate)))
        let big = ByteBuffer(repeating: 0xCD, count: 64 << 10)
        let bulkRate = try await stream(client: client, counters: counters, count: bulkMessages, body: big, qos: .bulk)
        out.append(("stream_gbytes_per_s", Stats.round2(bulkRate * Double(64 << 10) / 1e9)))

        // Control round trips, idle then under a saturating bulk stream on the same link.
        let idle = try await controlRTTs(client: client, samples: controlSamples)
        out.append(("control_p50_us_idle", Stats.round2(Stats.percentile(idle, 50))))
        out.append(("control_p99_us_idle", Stats.round2(Stats.percentile(idle, 99))))
        let stop = StopFlag()
        let bulkSender = try client.sender(to: .bmc, endpoint: "sink", qos: .bulk)
        let bytesBefore = counters.bytes
        let t0 = Stats.nowNanoseconds()
        let loaded = try await withThrowingTaskGroup(of: [Double].self) { group in
            group.addTask {
                while !stop.isSet {
                    try bulkSender.send(big)
                    try await bulkSender.waitUntilWritable()
                }
                return []
            }
            let samples = try await controlRTTs(client: client, samples: controlSamples, warmup: 200)
            stop.set()
            try await group.waitForAll()
            return samples
        }
        let seconds = Double(Stats.nowNanoseconds() - t0) / 1e9
        out.append(("control_p50_us_under_bulk", Stats.round2(Stats.percentile(loaded, 50))))
        out.append(("control_p99_us_under_bulk", Stats.round2(Stats.percentile(loaded, 99))))
        out.append(("bulk_gbytes_per_s_during_control", Stats.round2(Double(counters.bytes - bytesBefore) / seconds / 1e9)))

        await client.shutdown()
        await server.shutdown()
        try await clientGroup.shutdownGracefully()
        try await serverGroup.shutdownGracefully()
        return out
    }

    struct TLSMaterial {
        let ca: BusCA
        let serverKey = P256.Signing.PrivateKey()
        let card: CardCredentials

        init() throws {
            ca = try BusCA.create(now: Date())
            let (key, csr) = try CardCredentials.request(name: "bench")
            card = try CardCredentials(key: key, certificate: try ca.issueCard(csr, cardID: .firstAssignable, now: Date()), ca: ca.certificate)
        }

        func server() throws -> NIOSSLContext {
            try BusTLS.bmcServer(certificate: try ca.issueServer(key: serverKey, names: [], now: Date()), key: serverKey, ca: ca.certificate)
        }

        func client() throws -> NIOSSLContext { try BusTLS.cardClient(card) }
    }

    /// Sends `count` one-way messages; the rate is measured from the first send until the
    /// receiver has the last one.
    static func stream(client: DCLNode, counters: Counters, count: Int, body: ByteBuffer, qos: QoS) async throws -> Double {
        let sender = try client.sender(to: .bmc, endpoint: "sink", qos: qos)
        // Warm-up: a tenth of the run, untimed.
        try await send(sender, count: max(1, count / 10), body: body, counters: counters)
        let t0 = Stats.nowNanoseconds()
        let tEnd = try await send(sender, count: count, body: body, counters: counters)
        return Double(count) / (Double(tEnd - t0) / 1e9)
    }

    @discardableResult
    static func send(_ sender: EndpointSender, count: Int, body: ByteBuffer, counters: Counters) async throws -> UInt64 {
        let target = counters.messages + count
        let done = counters.expect(target)
        // Distinct buffers, as an application sends distinct messages: one shared buffer would
        // make every send and every write touch the same reference count from two cores.
        let poolSize = max(1, min(1024, (256 << 10) / max(1, body.readableBytes)))
        let pool = (0..<poolSize).map { _ in ByteBuffer(bytes: body.readableBytesView) }
        for i in 0..<count {
            try sender.send(pool[i % poolSize])
            if i & 255 == 255 { try await sender.waitUntilWritable() }
        }
        return await done.value
    }

    static func controlRTTs(client: DCLNode, samples: Int, warmup: Int = 500) async throws -> [Double] {
        for _ in 0..<warmup { _ = try await client.command(to: .bmc, name: "ping") }
        var out: [Double] = []
        out.reserveCapacity(samples)
        for _ in 0..<samples {
            let t0 = Stats.nowNanoseconds()
            _ = try await client.command(to: .bmc, name: "ping")
            out.append(Double(Stats.nowNanoseconds() - t0) / 1000)
        }
        return out
    }
}

/// Counts what the receiving side got; completes a waiter when a message count is reached.
final class Counters: Sendable {
    private let messageCount = Atomic<Int>(0)
    private let byteCount = Atomic<Int>(0)
    private let target = Atomic<Int>(.max)
    private let waiter = Mutex<CheckedContinuation<UInt64, Never>?>(nil)

    var messages: Int { messageCount.load(ordering: .acquiring) }
    var bytes: Int { byteCount.load(ordering: .acquiring) }

    func received(_ bytes: Int) {
        byteCount.add(bytes, ordering: .relaxed)
        let n = messageCount.add(1, ordering: .acquiringAndReleasing).newValue
        if n == target.load(ordering: .acquiring) { fire() }
    }

    private func fire() {
        let now = Stats.nowNanoseconds()
        waiter.withLock { w in
            w?.resume(returning: now)
            w = nil
        }
    }

    /// A task that finishes (with the time) once `target` messages have arrived.
    func expect(_ count: Int) -> Task<UInt64, Never> {
        Task {
            await withCheckedContinuation { (c: CheckedContinuation<UInt64, Never>) in
                waiter.withLock { $0 = c }
                target.store(count, ordering: .releasing)
                if messageCount.load(ordering: .acquiring) >= count { fire() }
            }
        }
    }
}

final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}
