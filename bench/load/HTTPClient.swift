import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A keep-alive HTTP/1.1 connection for load generation: one request in flight at a time,
/// each response timed at the moment its last byte arrives on the event loop.
final class Connection: @unchecked Sendable {
    struct Response {
        var status: Int
        var body: [UInt8]
        /// `DispatchTime` uptime nanoseconds when the response was complete.
        var completedAt: UInt64
    }

    private let channel: any Channel
    private let handler: ResponseHandler
    let host: String

    private init(channel: any Channel, handler: ResponseHandler, host: String) {
        self.channel = channel
        self.handler = handler
        self.host = host
    }

    static func open(host: String, port: Int, group: any EventLoopGroup) async throws -> Connection {
        let handler = ResponseHandler()
        let channel = try await ClientBootstrap(group: group)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: host, port: port).get()
        return Connection(channel: channel, handler: handler, host: host)
    }

    /// Sends a POST and returns a future for its response.
    func post(_ path: String, _ body: [UInt8], contentType: String = "text/xml") -> EventLoopFuture<Response> {
        let promise = channel.eventLoop.makePromise(of: Response.self)
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers.add(name: "Host", value: host)
        head.headers.add(name: "Content-Type", value: contentType)
        head.headers.add(name: "Content-Length", value: String(body.count))
        channel.eventLoop.execute { [handler, channel, head] in
            handler.pending.append(promise)
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        }
        return promise.futureResult
    }

    func close() async {
        try? await channel.close()
    }
}

private final class ResponseHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart

    var pending: [EventLoopPromise<Connection.Response>] = []
    private var status = 0
    private var body = ByteBuffer()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            body.clear()
        case .body(var buffer):
            body.writeBuffer(&buffer)
        case .end:
            let now = DispatchTime.now().uptimeNanoseconds
            guard !pending.isEmpty else { return }
            pending.removeFirst().succeed(.init(status: status, body: Array(body.readableBytesView), completedAt: now))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        for promise in pending { promise.fail(error) }
        pending = []
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        for promise in pending { promise.fail(ChannelError.ioOnClosedChannel) }
        pending = []
    }
}
