import Logging
import NIOCore
import NIOHTTP1

/// The last handler of a connection's pipeline: assembles requests (``HTTPRequestAssembler``),
/// hands complete ones to the connection's task through `requests`, and writes the responses
/// that task sends back. Confined to the channel's event loop; the task reaches it through a
/// `NIOLoopBound`.
final class HTTPConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var assembler: HTTPRequestAssembler
    private let requests: AsyncStream<HTTPRequest>.Continuation
    private let logger: Logger
    private var context: ChannelHandlerContext?

    init(maxBodyBytes: Int, requests: AsyncStream<HTTPRequest>.Continuation, logger: Logger) {
        self.assembler = HTTPRequestAssembler(maxBodyBytes: maxBodyBytes)
        self.requests = requests
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.requests.finish()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let action = self.assembler.receive(Self.unwrapInboundIn(data))
        switch action {
        case .none:
            break
        case .sendContinue(let version):
            let head = HTTPResponseHead(version: XapiResponses.responseVersion(for: version), status: .continue)
            context.writeAndFlush(Self.wrapOutboundOut(.head(head)), promise: nil)
        case .dispatch(let request):
            if case .terminated = self.requests.yield(request) {
                // The connection's task is gone (shutdown): nobody will answer.
                self.assembler.connectionClosed()
                context.close(promise: nil)
            }
        case .rejectTooLarge(let version, let closeAfterResponse):
            self.logger.debug("request body over the limit", metadata: ["limit": "\(self.assembler.maxBodyBytes)"])
            let response = XapiResponses.payloadTooLarge(
                limit: self.assembler.maxBodyBytes,
                version: version,
                allocator: context.channel.allocator
            )
            self.write(response, context: context, close: closeAfterResponse)
        case .close:
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            if self.assembler.closesWhenIdle {
                self.logger.debug("closing idle connection")
                context.close(promise: nil)
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.assembler.connectionClosed()
        self.requests.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Malformed HTTP has already been answered with a 400 by NIO's error handler; either
        // way only this connection is affected.
        self.logger.debug("connection error", metadata: ["error": "\(error)"])
        self.assembler.connectionClosed()
        context.close(promise: nil)
    }

    /// Writes the answer to the request last dispatched. Runs on the event loop.
    func send(_ response: HTTPResponse) {
        guard let context, case .awaitingResponse = self.assembler.state else { return }
        self.assembler.responseSent(keepAlive: !response.close)
        self.write(response, context: context, close: response.close)
    }

    private func write(_ response: HTTPResponse, context: ChannelHandlerContext, close: Bool) {
        let head = HTTPResponseHead(version: response.version, status: response.status, headers: response.headers)
        context.write(Self.wrapOutboundOut(.head(head)), promise: nil)
        if response.body.readableBytes > 0 {
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        }
        if close {
            let channel = context.channel
            let written = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: written)
            written.futureResult.whenComplete { _ in channel.close(promise: nil) }
        } else {
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
