import Logging
import NIOCore
import NIOHTTP1

/// The HTTP/1.1 server side of a connection, after NIO's request decoder: assembles requests
/// (``HTTPRequestAssembler``), hands complete ones to the connection's task through `requests`,
/// and writes the responses that task sends back. Confined to the channel's event loop; the
/// task reaches it through a `NIOLoopBound`.
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

    /// What arrived while a response was pending, replayed once it is written.
    private enum Buffered {
        case part(HTTPServerRequestPart)
        case error(any Error)
        /// The peer shut down its side (half-closure is on so that it can still be answered).
        case inputClosed
    }

    /// Graceful shutdown (`ChannelShouldQuiesceEvent`) as NIO's pipeline handler ran it.
    private enum Quiescing {
        case no
        /// A request was being received: answer it, then close.
        case afterRequest
        /// The request being answered is the last one: nothing more is read or replayed.
        case afterResponse
    }

    private var assembler: HTTPRequestAssembler
    private let requests: AsyncStream<HTTPRequest>.Continuation
    private let logger: Logger
    private var context: ChannelHandlerContext?
    private var buffered = CircularBuffer<Buffered>(initialCapacity: 0)
    /// A `read()` held back while parts of a pipelined request wait.
    private var readPending = false
    private var quiescing = Quiescing.no
    /// Whether the request being answered is a `HEAD`, whose response has no body.
    private var answeringHEAD = false

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

    private var awaitingResponse: Bool {
        if case .awaitingResponse = self.assembler.state { return true }
        return false
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .afterResponse = self.quiescing { return }
        if self.awaitingResponse || !self.buffered.isEmpty {
            self.buffered.append(.part(Self.unwrapInboundIn(data)))
            return
        }
        self.receive(Self.unwrapInboundIn(data), context: context)
    }

    private func receive(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        if case .head(let head) = part {
            self.answeringHEAD = head.method == .HEAD
        }
        switch self.assembler.receive(part) {
        case .none:
            break
        case .sendContinue(let version):
            self.writeRaw(XapiResponses.continueHead(version: XapiResponses.responseVersion(for: version)), context: context)
        case .dispatch(let request):
            if case .afterRequest = self.quiescing {
                self.quiescing = .afterResponse
                self.buffered.removeAll()
            }
            if case .terminated = self.requests.yield(request) {
                // The connection's task is gone (shutdown): nobody will answer.
                self.assembler.connectionClosed()
                context.close(promise: nil)
            }
        case .rejectTooLarge(let version, let closeAfterResponse):
            self.logger.debug("request body over the limit", metadata: ["limit": "\(self.assembler.maxBodyBytes)"])
            let response = XapiResponses.payloadTooLarge(limit: self.assembler.maxBodyBytes, version: version)
            self.write(response, context: context, close: closeAfterResponse)
        case .close:
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is IdleStateHandler.IdleStateEvent:
            if self.assembler.closesWhenIdle {
                self.logger.debug("closing idle connection")
                context.close(promise: nil)
            }
        case let event as ChannelEvent where event == .inputClosed:
            // Answer what was asked before the peer stopped sending, then close; as before,
            // when reading paused during every request and the end of input showed only after.
            if self.awaitingResponse {
                self.buffered.append(.inputClosed)
            } else {
                context.close(promise: nil)
            }
        case is ChannelShouldQuiesceEvent:
            switch self.assembler.state {
            case .awaitingResponse:
                self.quiescing = .afterResponse
                self.buffered.removeAll()
            case .receiving, .discarding:
                self.quiescing = .afterRequest
            case .idle, .closed:
                self.quiescing = .afterResponse
                self.buffered.removeAll()
                context.close(promise: nil)
            }
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.assembler.connectionClosed()
        self.buffered.removeAll()
        self.requests.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError, self.awaitingResponse {
            // It belongs after the pending response, like any later part.
            self.buffered.append(.error(error))
            return
        }
        self.fail(error, context: context)
    }

    /// Malformed HTTP gets a 400 (responses are written whole, so none is ever half out);
    /// either way only this connection is affected.
    private func fail(_ error: any Error, context: ChannelHandlerContext) {
        // A request cut short by the end of input found the channel already closed before
        // half-closure was enabled: it still gets no answer.
        if let error = error as? HTTPParserError, error != .invalidEOFState {
            self.writeRaw(XapiResponses.badRequest, context: context)
        }
        self.logger.debug("connection error", metadata: ["error": "\(error)"])
        self.assembler.connectionClosed()
        context.close(promise: nil)
    }

    // MARK: Outbound

    /// Reading goes on while a request is being answered, so that the socket keeps its
    /// registration (pausing and resuming it cost two `epoll_ctl` calls per request); it pauses
    /// only when something arrives meanwhile, i.e. for a client that pipelines.
    func read(context: ChannelHandlerContext) {
        if case .afterResponse = self.quiescing, !self.awaitingResponse {
            return
        }
        if self.buffered.isEmpty {
            context.read()
        } else {
            self.readPending = true
        }
    }

    /// Writes the answer to the request last dispatched, then replays what waited behind it.
    /// Runs on the event loop.
    func send(_ response: HTTPResponse) {
        guard let context, self.awaitingResponse else { return }
        var response = response
        if case .afterResponse = self.quiescing {
            response = response.closingForShutdown()
        }
        self.assembler.responseSent(keepAlive: !response.close)
        self.write(response, context: context, close: response.close)
        if response.close { return }

        while !self.awaitingResponse, let event = self.buffered.popFirst() {
            switch event {
            case .part(let part):
                self.receive(part, context: context)
            case .error(let error):
                self.fail(error, context: context)
                return
            case .inputClosed:
                context.close(promise: nil)
                return
            }
        }
        if self.readPending, self.buffered.isEmpty {
            self.readPending = false
            context.read()
        }
    }

    private func write(_ response: HTTPResponse, context: ChannelHandlerContext, close: Bool) {
        var buffer = context.channel.allocator.buffer(capacity: response.body.count + 256)
        response.write(into: &buffer, omittingBody: self.answeringHEAD)
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
