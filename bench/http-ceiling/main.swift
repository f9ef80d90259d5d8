// The HTTP stack's ceiling on this machine: SwiftNIO's HTTP/1 pipeline and a handler that
// answers every request with a fixed 200 and a small body, keep-alive honoured. bench/rpc
// loads it side by side with xapi-server to show what share of the ceiling the real RPC
// path reaches.
//
// Usage: http-ceiling [--host 127.0.0.1] [--port 8079]
import NIOCore
import NIOHTTP1
import NIOPosix

final class FixedResponseHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private static let body: [UInt8] = Array(
        #"<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name><value></value></member></struct></value></param></params></methodResponse>"#.utf8
    )
    private var keepAlive = true

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.keepAlive = head.isKeepAlive
        case .body:
            break
        case .end:
            let body = context.channel.allocator.buffer(bytes: Self.body)
            let headers = HTTPHeaders([
                ("connection", self.keepAlive ? "keep-alive" : "close"),
                ("content-type", "text/xml"),
                ("content-length", String(body.readableBytes)),
            ])
            context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            if self.keepAlive {
                context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
            } else {
                let channel = context.channel
                context.writeAndFlush(Self.wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }
}

var host = "127.0.0.1"
var port = 8079
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--host":
        host = arguments.popFirst() ?? host
    case "--port":
        guard let value = arguments.popFirst().flatMap(Int.init) else {
            fatalError("--port needs a number")
        }
        port = value
    default:
        fatalError("unknown argument \(argument); usage: http-ceiling [--host H] [--port P]")
    }
}

let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
    .childChannelOption(.maxMessagesPerRead, value: 16)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
            try channel.pipeline.syncOperations.addHandler(FixedResponseHandler())
        }
    }
    .bind(host: host, port: port)
    .get()
print("http-ceiling listening on \(channel.localAddress.map { "\($0)" } ?? "?")")
try await channel.closeFuture.get()
