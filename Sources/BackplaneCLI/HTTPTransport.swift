import BusSecurity
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import X509

/// One HTTP/1.1 exchange over NIO, with TLS that trusts the bus CA (URLSession on Linux trusts
/// only the system's CAs). Enough for the CLI: a request, the whole answer, then close.
enum HTTPTransport {
    struct Answer {
        var status: Int
        var body: Data
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The answer is read up to this many bytes.
    static let maximumBody = 64 << 20

    static func exchange(_ method: String, url: URL, headers: [(String, String)], body: Data?, trusting ca: Certificate?, timeout: TimeAmount = .seconds(30)) async throws -> Answer {
        guard let host = url.host, let scheme = url.scheme else { throw Failure(description: "not a URL with a host: \(url)") }
        let secure = scheme == "https"
        let port = url.port ?? (secure ? 443 : 80)
        var tls: NIOSSLContext?
        if secure {
            var config = TLSConfiguration.makeClientConfiguration()
            config.minimumTLSVersion = .tlsv12
            if let ca { config.trustRoots = .certificates([try BusTLS.nio(ca)]) }
            tls = try NIOSSLContext(configuration: config)
        }
        let group = MultiThreadedEventLoopGroup.singleton
        let promise = group.next().makePromise(of: Answer.self)
        let isIP = IPv4Address(host) || host.contains(":")
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: isIP ? nil : host)) }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(Collector(promise: promise))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: host, port: port).get()
        } catch {
            promise.fail(error)
            throw error
        }
        var path = url.path.isEmpty ? "/" : url.path
        if let query = url.query { path += "?" + query }
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: path)
        head.headers.add(name: "Host", value: url.port.map { "\(host):\($0)" } ?? host)
        head.headers.add(name: "Connection", value: "close")
        head.headers.add(name: "Content-Length", value: String(body?.count ?? 0))
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body, !body.isEmpty { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let deadline = channel.eventLoop.scheduleTask(in: timeout) {
            promise.fail(Failure(description: "no answer within \(timeout.nanoseconds / 1_000_000_000) s"))
            channel.close(promise: nil)
        }
        defer { deadline.cancel() }
        do {
            let answer = try await promise.futureResult.get()
            try? await channel.close()
            return answer
        } catch {
            try? await channel.close()
            throw error
        }
    }

    static func IPv4Address(_ host: String) -> Bool {
        var address = in_addr()
        return inet_pton(AF_INET, host, &address) == 1
    }

    /// Collects the response; fails the promise when the connection ends first.
    final class Collector: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPClientResponsePart
        let promise: EventLoopPromise<Answer>
        var status = 0
        var body = Data()
        var done = false

        init(promise: EventLoopPromise<Answer>) { self.promise = promise }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                status = Int(head.status.code)
            case .body(let buffer):
                guard body.count + buffer.readableBytes <= HTTPTransport.maximumBody else {
                    finish(.failure(Failure(description: "the answer is larger than \(HTTPTransport.maximumBody) bytes")))
                    context.close(promise: nil)
                    return
                }
                body.append(contentsOf: buffer.readableBytesView)
            case .end:
                finish(.success(Answer(status: status, body: body)))
                context.close(promise: nil)
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            finish(.failure(error))
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            finish(.failure(Failure(description: "the connection closed before the answer was complete")))
        }

        private func finish(_ result: Result<Answer, any Error>) {
            guard !done else { return }
            done = true
            promise.completeWith(result)
        }
    }
}
