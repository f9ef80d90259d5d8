import NIOCore
import NIOHTTP1
@testable import RPCServer
import Testing

/// The connection's rules, one event at a time, without a channel.
@Suite struct HTTPConnectionStateTests {
    private func head(_ method: HTTPMethod = .POST, _ headers: [(String, String)] = []) -> HTTPServerRequestPart {
        .head(HTTPRequestHead(version: .http1_1, method: method, uri: "/", headers: HTTPHeaders(headers)))
    }

    /// A short name for an action, so expectations read as the sequence of what the handler does.
    private func name(_ action: HTTPConnectionState.Action?) -> String {
        switch action {
        case nil: "nil"
        case .none?: "none"
        case .writeContinue?: "continue"
        case .dispatch(let request)?: "dispatch \(request.method.rawValue)"
        case .write(let response, let omittingBody, let close)?:
            "write \(response.status.code)" + (omittingBody ? " no-body" : "") + (close ? " close" : "")
        case .reject(let error)?: "reject \(error)"
        case .close?: "close"
        case .read?: "read"
        }
    }

    private func ok(close: Bool = false) -> HTTPResponse {
        HTTPResponse(version: .http1_1, head: .general(status: .ok, headers: HTTPHeaders()), body: [1, 2, 3], close: close)
    }

    @Test func aPipelinedRequestWaitsForTheResponseBeforeIt() {
        var state = HTTPConnectionState(maxBodyBytes: 100)
        #expect(name(state.received(head())) == "none")
        #expect(name(state.received(.end(nil))) == "dispatch POST")
        #expect(name(state.readRequested()) == "read")            // reading goes on while answered…
        #expect(name(state.received(head(.GET))) == "none")       // …and what arrives waits
        #expect(name(state.received(.end(nil))) == "none")
        #expect(name(state.readRequested()) == "none")            // the next read is held back
        #expect(name(state.respond(ok())) == "write 200")
        #expect(name(state.replayNext()) == "dispatch GET")
        #expect(name(state.replayNext()) == "read")               // nothing waits any more: read on
        #expect(name(state.replayNext()) == "nil")
        #expect(name(state.respond(ok())) == "write 200")
        #expect(name(state.replayNext()) == "nil")
    }

    @Test func aResponseToHEADOmitsItsBody() {
        var state = HTTPConnectionState(maxBodyBytes: 100)
        _ = state.received(head(.HEAD))
        #expect(name(state.received(.end(nil))) == "dispatch HEAD")
        #expect(name(state.respond(ok())) == "write 200 no-body")
        _ = state.received(head(.POST))
        _ = state.received(.end(nil))
        #expect(name(state.respond(ok())) == "write 200")
    }

    @Test func malformedInputIsRejectedAfterThePendingResponse() {
        var state = HTTPConnectionState(maxBodyBytes: 100)
        #expect(name(state.parseFailed(.invalidMethod)) == "reject invalid HTTP method")
        var busy = HTTPConnectionState(maxBodyBytes: 100)
        _ = busy.received(head())
        _ = busy.received(.end(nil))
        #expect(name(busy.parseFailed(.invalidMethod)) == "none")
        #expect(name(busy.respond(ok())) == "write 200")
        #expect(name(busy.replayNext()) == "reject invalid HTTP method")
        #expect(name(busy.replayNext()) == "nil")
    }

    @Test func anOversizedBodyGets413() {
        var state = HTTPConnectionState(maxBodyBytes: 4)
        #expect(name(state.received(head(.POST, [("Content-Length", "5")]))) == "write 413")
        #expect(name(state.received(head(.POST, [("Content-Length", "5"), ("Expect", "100-continue")]))) == "close")
        var waiting = HTTPConnectionState(maxBodyBytes: 4)
        #expect(name(waiting.received(head(.POST, [("Content-Length", "5"), ("Expect", "100-continue")]))) == "write 413 close")
    }

    @Test func quiescingClosesIdleAtOnceAndBusyAfterItsResponse() {
        var idle = HTTPConnectionState(maxBodyBytes: 100)
        #expect(name(idle.quiesce()) == "close")
        #expect(name(idle.readRequested()) == "none")

        var busy = HTTPConnectionState(maxBodyBytes: 100)
        _ = busy.received(head())
        _ = busy.received(.end(nil))
        _ = busy.received(head(.GET))                              // pipelined behind it
        #expect(name(busy.quiesce()) == "none")
        #expect(name(busy.respond(ok())) == "write 200 close")     // marked connection: close
        #expect(name(busy.replayNext()) == "nil")                  // the pipelined request is dropped

        var receiving = HTTPConnectionState(maxBodyBytes: 100)
        _ = receiving.received(head())
        #expect(name(receiving.quiesce()) == "none")
        #expect(name(receiving.received(.end(nil))) == "dispatch POST")
        #expect(name(receiving.received(head(.GET))) == "none")    // nothing more is taken
        #expect(name(receiving.respond(ok())) == "write 200 close")
    }

    @Test func theEndOfInputClosesAfterThePendingAnswer() {
        var state = HTTPConnectionState(maxBodyBytes: 100)
        #expect(name(state.inputClosed()) == "close")
        var busy = HTTPConnectionState(maxBodyBytes: 100)
        _ = busy.received(head())
        _ = busy.received(.end(nil))
        #expect(name(busy.inputClosed()) == "none")
        #expect(name(busy.idle()) == "none")                        // a long-poll is never cut
        #expect(name(busy.respond(ok())) == "write 200")
        #expect(name(busy.replayNext()) == "close")
        #expect(name(busy.replayNext()) == "nil")
    }
}
