import NIOCore
import NIOHTTP1

/// One complete HTTP request, body collected.
struct HTTPRequest: Sendable, Equatable {
    var method: HTTPMethod
    var version: HTTPVersion
    /// The request target without its query string.
    var path: String
    /// What follows the `?` of the request target; empty when there is none.
    var query: String = ""
    var headers: HTTPHeaders
    var body: [UInt8]
    /// `false` for HTTP/1.0 without `connection: keep-alive` or any `connection: close`
    /// (the same rule as xapi's request parser).
    var keepAlive: Bool
}

/// The per-connection request state machine: collects a request's parts into an
/// ``HTTPRequest`` and enforces the body limit. Pure value type; the channel handler executes
/// the actions it returns.
struct HTTPRequestAssembler {
    enum State {
        /// Between requests (a keep-alive connection at rest).
        case idle
        case receiving(head: HTTPRequestHead, body: [UInt8])
        /// The request went to the handler; no more parts until the response is written
        /// (`HTTPServerPipelineHandler` holds back pipelined requests).
        case awaitingResponse
        /// A 413 went out; the rest of the oversized body is read and dropped so the client
        /// sees the answer rather than a reset, then the connection closes.
        case discarding(dropped: Int)
        case closed
    }

    enum Action: Equatable {
        case none
        /// Answer `Expect: 100-continue` so the client sends its body.
        case sendContinue(HTTPVersion)
        case dispatch(HTTPRequest)
        /// Answer 413 (the response says `connection: close`); with `closeAfterResponse` the
        /// connection closes once it is written, otherwise the rest of the body is dropped first.
        case rejectTooLarge(HTTPVersion, closeAfterResponse: Bool)
        case close
    }

    let maxBodyBytes: Int
    /// How much of an oversized body is read and dropped before giving up on a clean answer.
    let maxDiscardBytes: Int
    private(set) var state: State = .idle

    init(maxBodyBytes: Int, maxDiscardBytes: Int = 8 << 20) {
        self.maxBodyBytes = maxBodyBytes
        self.maxDiscardBytes = maxDiscardBytes
    }

    /// Whether an idle-timeout event should close the connection: yes unless a request is
    /// with the handler (long-polls are never cut by the idle timer).
    var closesWhenIdle: Bool {
        if case .awaitingResponse = self.state { return false }
        return true
    }

    mutating func receive(_ part: HTTPServerRequestPart) -> Action {
        switch part {
        case .head(let head): return self.receiveHead(head)
        case .body(let buffer): return self.receiveBody(buffer)
        case .end: return self.receiveEnd()
        }
    }

    private mutating func receiveHead(_ head: HTTPRequestHead) -> Action {
        guard case .idle = self.state else {
            // A head while another request is open cannot come from a well-behaved peer.
            self.state = .closed
            return .close
        }
        let expectsContinue = head.headers[canonicalForm: "expect"].contains { $0.lowercased() == "100-continue" }
        if let declared = head.headers.first(name: "content-length").flatMap(Int.init), declared > self.maxBodyBytes {
            self.state = .discarding(dropped: 0)
            // A client waiting for `100 Continue` never sends the body: close right away.
            return .rejectTooLarge(head.version, closeAfterResponse: expectsContinue)
        }
        var body: [UInt8] = []
        if let declared = head.headers.first(name: "content-length").flatMap(Int.init) {
            body.reserveCapacity(declared)
        }
        self.state = .receiving(head: head, body: body)
        return expectsContinue ? .sendContinue(head.version) : .none
    }

    private mutating func receiveBody(_ buffer: ByteBuffer) -> Action {
        switch self.state {
        case .receiving(let head, var body):
            self.state = .closed  // drop the enum's reference so `body` is appended in place
            if body.count + buffer.readableBytes > self.maxBodyBytes {
                self.state = .discarding(dropped: body.count + buffer.readableBytes)
                return .rejectTooLarge(head.version, closeAfterResponse: false)
            }
            body.append(contentsOf: buffer.readableBytesView)
            self.state = .receiving(head: head, body: body)
            return .none
        case .discarding(let dropped):
            let total = dropped + buffer.readableBytes
            if total > self.maxDiscardBytes {
                self.state = .closed
                return .close
            }
            self.state = .discarding(dropped: total)
            return .none
        case .idle, .awaitingResponse:
            self.state = .closed
            return .close
        case .closed:
            return .none
        }
    }

    private mutating func receiveEnd() -> Action {
        switch self.state {
        case .receiving(let head, let body):
            self.state = .awaitingResponse
            let target = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            let request = HTTPRequest(
                method: head.method,
                version: head.version,
                path: target.first.map(String.init) ?? "",
                query: target.count > 1 ? String(target[1]) : "",
                headers: head.headers,
                body: body,
                keepAlive: head.isKeepAlive
            )
            return .dispatch(request)
        case .discarding:
            self.state = .closed
            return .close
        case .idle, .awaitingResponse:
            self.state = .closed
            return .close
        case .closed:
            return .none
        }
    }

    /// The response to the dispatched request has been written; with keep-alive the
    /// connection is ready for the next request.
    mutating func responseSent(keepAlive: Bool) {
        guard case .awaitingResponse = self.state else { return }
        self.state = keepAlive ? .idle : .closed
    }

    mutating func connectionClosed() {
        self.state = .closed
    }
}
