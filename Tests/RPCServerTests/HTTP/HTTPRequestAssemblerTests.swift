import NIOCore
import NIOHTTP1
@testable import RPCServer
import Testing

@Suite("HTTP request assembly and routing")
struct HTTPRequestAssemblerTests {
    private func head(_ method: HTTPMethod = .POST, _ uri: String = "/", _ headers: [(String, String)] = [], version: HTTPVersion = .http1_1) -> HTTPServerRequestPart {
        .head(HTTPRequestHead(version: version, method: method, uri: uri, headers: HTTPHeaders(headers)))
    }

    private func body(_ text: String) -> HTTPServerRequestPart {
        .body(ByteBuffer(string: text))
    }

    @Test func collectsBodyPartsIntoOneRequest() {
        var assembler = HTTPRequestAssembler(maxBodyBytes: 10)
        #expect(assembler.receive(self.head(.POST, "/RPC2?x=1", [("Content-Length", "6")])) == .none)
        #expect(assembler.receive(self.body("abc")) == .none)
        #expect(assembler.receive(self.body("def")) == .none)
        guard case .dispatch(let request) = assembler.receive(.end(nil)) else {
            Issue.record("no dispatch")
            return
        }
        #expect(request.path == "/RPC2")
        #expect(request.body == Array("abcdef".utf8))
        #expect(request.keepAlive)
        #expect(!assembler.closesWhenIdle)
        assembler.responseSent(keepAlive: true)
        #expect(assembler.closesWhenIdle)
        #expect(assembler.receive(self.head()) == .none)
    }

    @Test func rejectsDeclaredOversizedBodyThenDrainsIt() {
        var assembler = HTTPRequestAssembler(maxBodyBytes: 4, maxDiscardBytes: 10)
        #expect(assembler.receive(self.head(.POST, "/", [("Content-Length", "5")])) == .rejectTooLarge(.http1_1, closeAfterResponse: false))
        #expect(assembler.receive(self.body("12345")) == .none)
        #expect(assembler.receive(.end(nil)) == .close)
    }

    @Test func rejectsOversizedChunkedBodyAndGivesUpDrainingEventually() {
        var assembler = HTTPRequestAssembler(maxBodyBytes: 4, maxDiscardBytes: 10)
        #expect(assembler.receive(self.head()) == .none)
        #expect(assembler.receive(self.body("1234")) == .none)
        #expect(assembler.receive(self.body("5")) == .rejectTooLarge(.http1_1, closeAfterResponse: false))
        #expect(assembler.receive(self.body("67890")) == .none)
        #expect(assembler.receive(self.body("x")) == .close)
    }

    @Test func expectContinue() {
        var small = HTTPRequestAssembler(maxBodyBytes: 4)
        #expect(small.receive(self.head(.POST, "/", [("Expect", "100-continue"), ("Content-Length", "4")])) == .sendContinue(.http1_1))
        var large = HTTPRequestAssembler(maxBodyBytes: 4)
        #expect(large.receive(self.head(.POST, "/", [("Expect", "100-Continue"), ("Content-Length", "5")])) == .rejectTooLarge(.http1_1, closeAfterResponse: true))
    }

    @Test func keepAliveFollowsXapisRules() {
        func keepAlive(_ version: HTTPVersion, _ headers: [(String, String)]) -> Bool? {
            var assembler = HTTPRequestAssembler(maxBodyBytes: 4)
            _ = assembler.receive(self.head(.POST, "/", headers, version: version))
            guard case .dispatch(let request) = assembler.receive(.end(nil)) else { return nil }
            return request.keepAlive
        }
        #expect(keepAlive(.http1_1, []) == true)
        #expect(keepAlive(.http1_1, [("Connection", "close")]) == false)
        #expect(keepAlive(.http1_0, []) == false)
        #expect(keepAlive(.http1_0, [("Connection", "keep-alive")]) == true)
    }

    @Test func aSecondHeadBeforeTheResponseClosesTheConnection() {
        var assembler = HTTPRequestAssembler(maxBodyBytes: 4)
        _ = assembler.receive(self.head())
        _ = assembler.receive(.end(nil))
        #expect(assembler.receive(self.head()) == .close)
    }

    @Test(arguments: [
        (HTTPMethod.POST, "/", HTTPRoute.xmlrpc),
        (.POST, "/RPC2", .xmlrpc),
        (.POST, "/json", .xmlrpc),
        (.POST, "/jsonrpc", .jsonrpc),
        (.POST, "/jsonrpc/x", .jsonrpc),
        (.POST, "/import", .xmlrpc),
        (.POST, "", .xmlrpc),
        (.OPTIONS, "/json", .corsPreflight),
        (.GET, "/diagnostics", .diagnostics),
        (.GET, "/", .notFound),
        (.PUT, "/", .methodNotImplemented),
    ])
    func routes(method: HTTPMethod, path: String, route: HTTPRoute) {
        #expect(HTTPRoute(method: method, path: path) == route)
    }

    @Test func htmlEscaping() {
        #expect(htmlEscaped(#"<a href="x">&'</a>"#) == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;")
    }
}
