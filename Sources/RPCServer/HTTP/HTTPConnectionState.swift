import NIOCore
import NIOHTTP1

/// Everything one HTTP/1.1 connection remembers between events, as one value: the request being
/// assembled (``HTTPRequestAssembler``), what arrived while a response was pending, a read held
/// back meanwhile, graceful shutdown, and whether the request being answered is a `HEAD`.
///
/// Each event returns the one action the channel handler carries out; a response that frees
/// the connection is followed by `replayNext()` until it returns nil, which feeds back what
/// waited behind it. Pure, so every rule is tested without a channel.
struct HTTPConnectionState {
    /// What arrived while a response was pending, replayed once it is written.
    private enum Buffered {
        case part(HTTPServerRequestPart)
        case error(HTTPParserError)
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

    enum Action {
        case none
        /// Answer `Expect: 100-continue` so the client sends its body.
        case writeContinue(HTTPVersion)
        /// Hand the request to the connection's task; if nobody takes it, call `dispatchRefused()`.
        case dispatch(HTTPRequest)
        /// Write `response` as one buffer (without its body when it answers a `HEAD`), closing
        /// the connection after it when `close`.
        case write(HTTPResponse, omittingBody: Bool, close: Bool)
        /// Malformed HTTP: a 400 (unless the request was cut short by the end of input), then close.
        case reject(HTTPParserError)
        case close
        /// Ask the channel for more bytes.
        case read
    }

    private(set) var assembler: HTTPRequestAssembler
    private var buffered = CircularBuffer<Buffered>(initialCapacity: 0)
    private var readPending = false
    private var quiescing = Quiescing.no
    private var answeringHEAD = false

    init(maxBodyBytes: Int) {
        assembler = HTTPRequestAssembler(maxBodyBytes: maxBodyBytes)
    }

    var awaitingResponse: Bool {
        if case .awaitingResponse = assembler.state { return true }
        return false
    }

    // MARK: events

    /// A part from NIO's request decoder.
    mutating func received(_ part: HTTPServerRequestPart) -> Action {
        if case .afterResponse = quiescing { return .none }
        if awaitingResponse || !buffered.isEmpty {
            buffered.append(.part(part))
            return .none
        }
        return assemble(part)
    }

    /// NIO could not parse what arrived.
    mutating func parseFailed(_ error: HTTPParserError) -> Action {
        if awaitingResponse {
            // It belongs after the pending response, like any later part.
            buffered.append(.error(error))
            return .none
        }
        return fail(error)
    }

    /// Any other error of the channel: only this connection is affected.
    mutating func channelFailed() -> Action {
        assembler.connectionClosed()
        return .close
    }

    /// Answer what was asked before the peer stopped sending, then close.
    mutating func inputClosed() -> Action {
        if awaitingResponse {
            buffered.append(.inputClosed)
            return .none
        }
        return .close
    }

    /// The idle timer fired: close, unless a request is with the handler (long-polls are
    /// never cut by the idle timer).
    mutating func idle() -> Action {
        assembler.closesWhenIdle ? .close : .none
    }

    /// Graceful shutdown: an idle connection closes at once, a busy one after its response.
    mutating func quiesce() -> Action {
        switch assembler.state {
        case .awaitingResponse:
            quiescing = .afterResponse
            buffered.removeAll()
            return .none
        case .receiving, .discarding:
            quiescing = .afterRequest
            return .none
        case .idle, .closed:
            quiescing = .afterResponse
            buffered.removeAll()
            return .close
        }
    }

    /// The channel asks whether to read on. Reading goes on while a request is answered, so
    /// the socket keeps its registration (pausing and resuming cost two `epoll_ctl` calls per
    /// request); it pauses only when something arrived meanwhile, i.e. for a client that
    /// pipelines.
    mutating func readRequested() -> Action {
        if case .afterResponse = quiescing, !awaitingResponse { return .none }
        if buffered.isEmpty { return .read }
        readPending = true
        return .none
    }

    /// The connection's task answered the request last dispatched.
    mutating func respond(_ response: HTTPResponse) -> Action {
        guard awaitingResponse else { return .none }
        var response = response
        if case .afterResponse = quiescing { response = response.closingForShutdown() }
        assembler.responseSent(keepAlive: !response.close)
        return .write(response, omittingBody: answeringHEAD, close: response.close)
    }

    /// After a response that kept the connection open: the next thing that waited behind it,
    /// then a held-back read; nil when there is nothing more to do now.
    mutating func replayNext() -> Action? {
        if case .closed = assembler.state { return nil }
        while !awaitingResponse, let event = buffered.popFirst() {
            switch event {
            case .part(let part):
                let action = assemble(part)
                if case .none = action { continue }
                return action
            case .error(let error):
                buffered.removeAll()
                return fail(error)
            case .inputClosed:
                buffered.removeAll()
                assembler.connectionClosed()
                return .close
            }
        }
        if readPending, buffered.isEmpty {
            readPending = false
            return .read
        }
        return nil
    }

    /// The dispatched request found no taker (the connection's task is gone at shutdown).
    mutating func dispatchRefused() -> Action {
        assembler.connectionClosed()
        return .close
    }

    mutating func connectionClosed() {
        assembler.connectionClosed()
        buffered.removeAll()
    }

    // MARK: helpers

    private mutating func assemble(_ part: HTTPServerRequestPart) -> Action {
        if case .head(let head) = part { answeringHEAD = head.method == .HEAD }
        switch assembler.receive(part) {
        case .none:
            return .none
        case .sendContinue(let version):
            return .writeContinue(version)
        case .dispatch(let request):
            if case .afterRequest = quiescing {
                quiescing = .afterResponse
                buffered.removeAll()
            }
            return .dispatch(request)
        case .rejectTooLarge(let version, let closeAfterResponse):
            let response = XapiResponses.payloadTooLarge(limit: assembler.maxBodyBytes, version: version)
            return .write(response, omittingBody: answeringHEAD, close: closeAfterResponse)
        case .close:
            return .close
        }
    }

    private mutating func fail(_ error: HTTPParserError) -> Action {
        assembler.connectionClosed()
        return .reject(error)
    }
}
