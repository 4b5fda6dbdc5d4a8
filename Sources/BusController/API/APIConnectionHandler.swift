import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Sits after the HTTP/1 codec on each API connection, for what the router never sees:
///
/// - NIO's parser rejects a request before its head (a bad method, a garbage request line,
///   oversized headers): Hummingbird would answer a bare 400; this handler answers the error
///   envelope with `Connection: close` and closes the connection instead.
/// - A parser error inside a request (a bad chunk size) goes on to the route reading the body,
///   which answers 400 (``APIErrorMiddleware``); the connection closes after that response.
/// - Any response carrying `Connection: close` (405 for CONNECT, 413, 400 for bad HTTP) closes
///   the connection once written, so a client still sending cannot hold it open.
///
/// A state machine on the event loop, no locks. `@unchecked Sendable` is not needed: NIO
/// creates one per connection (`additionalChannelHandlers` is a factory).
final class APIConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// A request head arrived and its end did not yet.
    private var requestOpen = false
    /// A response head was written and its end not yet.
    private var responseOpen = false
    private var closeAfterResponse = false
    private var closing = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        switch unwrapInboundIn(data) {
        case .head: requestOpen = true
        case .body: break
        case .end: requestOpen = false
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError else { return context.fireErrorCaught(error) }
        if requestOpen {
            // The route reading this request's body gets the error and answers 400; whatever
            // response is under way is the last on this connection.
            closeAfterResponse = true
            requestOpen = false
            context.fireErrorCaught(error)
            return
        }
        guard !closing, !responseOpen else {
            closing = true
            context.close(promise: nil)
            return
        }
        closing = true
        let body = Self.envelope(code: "bad_request", message: "malformed HTTP request: \(error)")
        let head = HTTPResponse(status: .badRequest, headerFields: [.contentType: "application/json", .contentLength: String(body.readableBytes), .connection: "close"])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !closing else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(let head):
            responseOpen = true
            if head.headerFields[.connection]?.lowercased() == "close" { closeAfterResponse = true }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            responseOpen = false
            guard closeAfterResponse else { return context.write(data, promise: promise) }
            closing = true
            context.writeAndFlush(data).whenComplete { result in
                promise?.completeWith(result)
                context.close(promise: nil)
            }
        }
    }

    static func envelope(code: String, message: String) -> ByteBuffer {
        struct Body: Encodable {
            struct Inner: Encodable {
                var code: String
                var message: String
                var details: [String: String]
            }
            var error: Inner
        }
        let data = (try? JSONEncoder().encode(Body(error: .init(code: code, message: message, details: [:])))) ?? Data("{}".utf8)
        return ByteBuffer(bytes: data)
    }
}
