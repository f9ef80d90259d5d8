import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import RPCServer

/// `HTTPConnectionHandler` on an `EmbeddedChannel`: pipelining, HEAD, errors and quiescing,
/// driven byte by byte with no socket, no thread and no timing.
@Suite struct HTTPConnectionHandlerTests {
    /// A channel with the server's decoder and handler, and the stream the connection's task reads.
    struct Connection {
        let channel: EmbeddedChannel
        let handler: HTTPConnectionHandler
        var requests: AsyncStream<HTTPRequest>.AsyncIterator

        init(maxBodyBytes: Int = 1_000) throws {
            let (stream, sink) = AsyncStream.makeStream(of: HTTPRequest.self)
            handler = HTTPConnectionHandler(maxBodyBytes: maxBodyBytes, requests: sink, logger: Logger(label: "test"))
            channel = EmbeddedChannel()
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
            try channel.pipeline.syncOperations.addHandler(handler)
            // Connected, as a channel the server accepted is: closing it then shows.
            channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 1), promise: nil)
            requests = stream.makeAsyncIterator()
        }

        func send(_ text: String) throws {
            try channel.writeInbound(ByteBuffer(string: text))
        }

        /// Everything written to the peer so far, as text.
        func written() throws -> String {
            var out = ""
            while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
                out += buffer.readString(length: buffer.readableBytes) ?? ""
            }
            return out
        }

        func answer(_ request: HTTPRequest, _ body: String) {
            handler.send(XapiResponses.rpc(Array(body.utf8), contentType: .xml, for: request))
        }
    }

    static func post(_ body: String, path: String = "/") -> String {
        "POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    @Test func pipelinedRequestsAreAnsweredOneAtATimeInOrder() async throws {
        var c = try Connection()
        try c.send(Self.post("first") + Self.post("second", path: "/jsonrpc"))
        let first = try #require(await c.requests.next())
        #expect(first.body == Array("first".utf8))
        // The second waits behind the first's answer: nothing was dispatched or written yet.
        #expect(try c.written().isEmpty)
        c.answer(first, "one")
        let firstOut = try c.written()
        #expect(firstOut.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(firstOut.hasSuffix("\r\n\r\none"))
        let second = try #require(await c.requests.next())
        #expect(second.path == "/jsonrpc")
        #expect(second.body == Array("second".utf8))
        c.answer(second, "two")
        #expect(try c.written().hasSuffix("\r\n\r\ntwo"))
        #expect(c.channel.isActive)
    }

    @Test func aResponseToHEADHasItsHeadersButNoBody() async throws {
        var c = try Connection()
        try c.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = try #require(await c.requests.next())
        #expect(head.method == .HEAD)
        c.answer(head, "a body that must not be sent")
        let out = try c.written()
        #expect(out.contains("content-length: 28") || out.contains("Content-Length: 28"))
        #expect(out.hasSuffix("\r\n\r\n"))
        // The next request on the connection gets its body again.
        try c.send(Self.post("x"))
        let post = try #require(await c.requests.next())
        c.answer(post, "body")
        #expect(try c.written().hasSuffix("\r\n\r\nbody"))
    }

    @Test func malformedHTTPGets400AndTheConnectionCloses() throws {
        let c = try Connection()
        #expect(c.channel.isActive)
        // The parser's error is the handler's to answer: nothing reaches the caller.
        try c.send("NOT HTTP AT ALL\r\n\r\n")
        #expect(try c.written() == "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        #expect(!c.channel.isActive)
    }

    @Test func aBodyOverTheLimitGets413() throws {
        let c = try Connection(maxBodyBytes: 4)
        try c.send(Self.post("too long"))
        #expect(try c.written().hasPrefix("HTTP/1.1 413"))
    }

    @Test func quiescingClosesAnIdleConnectionAtOnce() throws {
        let c = try Connection()
        #expect(c.channel.isActive)
        c.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(!c.channel.isActive)
    }

    @Test func quiescingABusyConnectionAnswersThenCloses() async throws {
        var c = try Connection()
        try c.send(Self.post("last") + Self.post("never answered"))
        let last = try #require(await c.requests.next())
        c.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(c.channel.isActive)
        c.answer(last, "bye")
        let out = try c.written().lowercased()
        #expect(out.contains("connection: close"))
        #expect(out.hasSuffix("\r\n\r\nbye"))
        c.channel.embeddedEventLoop.run()
        #expect(!c.channel.isActive)
        // The request pipelined behind it was dropped, not dispatched.
        #expect(await c.requests.next() == nil)
    }
}
