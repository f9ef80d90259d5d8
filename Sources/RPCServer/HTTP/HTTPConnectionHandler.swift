import Logging
import NIOCore
import NIOHTTP1

/// The HTTP/1.1 server side of a connection, after NIO's request decoder: turns channel events
/// into events of ``HTTPConnectionState`` and carries out the action each returns: hands complete
/// requests to the connection's task through `requests`, writes the responses that task sends
/// back. It keeps no state of its own. Confined to the channel's event loop; the task reaches it
/// through a `NIOLoopBound`.
///
/// It does what NIO's `HTTPServerPipelineHandler`, `HTTPServerProtocolErrorHandler`,
/// `NIOHTTPResponseHeadersValidator` and `HTTPResponseEncoder` did for this server, byte for
/// byte, in one place: requests are answered one at a time and in order (parts of a pipelined
/// request wait until the response before it is out); a request NIO cannot
/// parse gets `400 Bad Request` and the connection closes; quiescing closes an idle connection
/// at once and a busy one after its response, marked `connection: close`; a response to `HEAD`
/// has no body. Each response leaves as one buffer in one write and one flush: through those
/// four handlers it took three writes (head, body, end), each passing all four, about a tenth
/// of the server's CPU per `VM.get_record` (BENCHMARKS.md "RPC throughput").
final class HTTPConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var state: HTTPConnectionState
    private let requests: AsyncStream<HTTPRequest>.Continuation
    private let logger: Logger
    private var context: ChannelHandlerContext?

    init(maxBodyBytes: Int, requests: AsyncStream<HTTPRequest>.Continuation, logger: Logger) {
        self.state = HTTPConnectionState(maxBodyBytes: maxBodyBytes)
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

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.perform(self.state.received(Self.unwrapInboundIn(data)), context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is IdleStateHandler.IdleStateEvent:
            let action = self.state.idle()
            if case .close = action { self.logger.debug("closing idle connection") }
            self.perform(action, context: context)
        case let event as ChannelEvent where event == .inputClosed:
            self.perform(self.state.inputClosed(), context: context)
        case is ChannelShouldQuiesceEvent:
            self.perform(self.state.quiesce(), context: context)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.state.connectionClosed()
        self.requests.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.logger.debug("connection error", metadata: ["error": "\(error)"])
        if let error = error as? HTTPParserError {
            self.perform(self.state.parseFailed(error), context: context)
        } else {
            self.perform(self.state.channelFailed(), context: context)
        }
    }

    // MARK: Outbound

    func read(context: ChannelHandlerContext) {
        self.perform(self.state.readRequested(), context: context)
    }

    /// Writes the answer to the request last dispatched, then replays what waited behind it.
    /// Runs on the event loop.
    func send(_ response: HTTPResponse) {
        guard let context else { return }
        let action = self.state.respond(response)
        guard case .write(_, _, let close) = action else { return }
        self.perform(action, context: context)
        if close { return }
        while let next = self.state.replayNext() {
            self.perform(next, context: context)
        }
    }

    // MARK: Actions

    private func perform(_ action: HTTPConnectionState.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .writeContinue(let version):
            self.writeRaw(XapiResponses.continueHead(version: XapiResponses.responseVersion(for: version)), context: context)
        case .dispatch(let request):
            if case .terminated = self.requests.yield(request) {
                // The connection's task is gone (shutdown): nobody will answer.
                self.perform(self.state.dispatchRefused(), context: context)
            }
        case .write(let response, let omittingBody, let close):
            if response.status == .payloadTooLarge {
                self.logger.debug("request body over the limit", metadata: ["limit": "\(self.state.assembler.maxBodyBytes)"])
            }
            self.write(response, omittingBody: omittingBody, close: close, context: context)
        case .reject(let error):
            // Responses are written whole, so none is ever half out. A request cut short by the
            // end of input found the channel already closed before half-closure was enabled: it
            // still gets no answer.
            if error != .invalidEOFState { self.writeRaw(XapiResponses.badRequest, context: context) }
            context.close(promise: nil)
        case .close:
            context.close(promise: nil)
        case .read:
            context.read()
        }
    }

    private func write(_ response: HTTPResponse, omittingBody: Bool, close: Bool, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: response.body.count + 256)
        response.write(into: &buffer, omittingBody: omittingBody)
        if close {
            let channel = context.channel
            let written = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: written)
            written.futureResult.whenComplete { _ in channel.close(promise: nil) }
        } else {
            context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: nil)
        }
    }

    private func writeRaw(_ bytes: StaticString, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: bytes.utf8CodeUnitCount)
        buffer.writeStaticString(bytes)
        context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: nil)
    }
}
