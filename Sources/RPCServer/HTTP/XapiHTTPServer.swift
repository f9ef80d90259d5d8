public import Logging
public import NIOCore
import NIOHTTP1
import NIOPosix
public import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// xapi's HTTP front end: XML-RPC on every POST path, JSON-RPC on `/jsonrpc`, CORS pre-flight,
/// `GET /diagnostics`, on a TCP listener and an optional Unix-socket listener, both served by
/// this one `Service`.
///
/// Built directly on SwiftNIO's HTTP/1 codec rather than Hummingbird 2, for cost and control.
/// Server CPU per request with a canned reply under `wrk -t1 -c32` (2 shared cores, medians
/// of 3–5 runs; BENCHMARKS.md "RPC throughput"): bare NIO ceiling 16 µs, this server 37 µs
/// (27 µs with NIO installed as Swift's global executor), Hummingbird 2.28.1 41 µs (42 µs
/// with). The XML-RPC target is half the ceiling's throughput *including* decoding and
/// dispatch, so the transport must leave the headroom. Owning the pipeline also gives xapi's
/// exact status lines and headers, and keeps HummingbirdTesting (AsyncHTTPClient, NIOSSL)
/// out of the tests; what Hummingbird would add here — keep-alive, body limit, idle timeout,
/// quiescing — is small on top of NIO's `HTTPServerPipelineHandler`.
///
/// Concurrency: every connection is served by its own child task of `run()`, fed by the
/// channel handler through an `AsyncStream`; a handler that suspends (a 30 s `event.from`)
/// holds no thread and delays only its own connection. Because those tasks are children of
/// `run()`, handlers see task cancellation and graceful shutdown.
///
/// Graceful shutdown (SIGTERM/SIGINT through a `ServiceGroup`): the listeners close, idle
/// connections close, a connection with a request in progress answers it with
/// `connection: close` and then closes, and `run()` returns when the last one has gone.
/// Cancellation closes everything at once.
public struct XapiHTTPServer: Service {
    /// Where the server ended up listening, for port 0 and for logs.
    public struct ListeningAddresses: Sendable {
        public var tcp: SocketAddress?
        public var unixSocketPath: String?
    }

    private let configuration: HTTPServerConfiguration
    private let handler: any RPCHandler
    private let logger: Logger
    private let eventLoopGroup: any EventLoopGroup
    private let onListening: (@Sendable (ListeningAddresses) -> Void)?

    /// - Parameters:
    ///   - eventLoopGroup: NIO's shared `MultiThreadedEventLoopGroup.singleton` (one thread per
    ///     core) unless given.
    ///   - onListening: called once both listeners are bound, before any request.
    public init(
        configuration: HTTPServerConfiguration,
        handler: some RPCHandler,
        logger: Logger,
        eventLoopGroup: (any EventLoopGroup)? = nil,
        onListening: (@Sendable (ListeningAddresses) -> Void)? = nil
    ) {
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
        self.eventLoopGroup = eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton
        self.onListening = onListening
    }

    public func run() async throws {
        let registry = ConnectionRegistry(limits: [
            .tcp: self.configuration.maxTCPConnections,
            .unixSocket: self.configuration.maxUnixConnections,
        ])
        let (connections, sink) = AsyncStream.makeStream(of: HTTPConnection.self)
        let (listeners, addresses) = try await self.bindListeners(registry: registry, sink: sink)
        self.logger.info(
            "HTTP server listening",
            metadata: [
                "tcp": "\(addresses.tcp.map { "\($0)" } ?? "-")",
                "unix": "\(addresses.unixSocketPath ?? "-")",
            ]
        )
        self.onListening?(addresses)

        // Stops accepting; returns the connections open at that moment.
        let stopAccepting: @Sendable () -> [any Channel] = {
            let open = registry.drain()
            for listener in listeners { listener.close(promise: nil) }
            sink.finish()
            return open
        }
        let handler = self.handler
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await withDiscardingTaskGroup { group in
                    for await connection in connections {
                        group.addTask {
                            await connection.serve(with: handler)
                        }
                    }
                }
            } onCancel: {
                for channel in stopAccepting() { channel.close(promise: nil) }
            }
        } onGracefulShutdown: { [logger] in
            let open = stopAccepting()
            logger.info("HTTP server shutting down", metadata: ["open-connections": "\(open.count)"])
            for channel in open {
                // NIO's HTTPServerPipelineHandler closes an idle connection at once and a
                // busy one after its response, which it marks `connection: close`.
                channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            }
        }

        for listener in listeners {
            listener.close(promise: nil)
            try? await listener.closeFuture.get()
        }
        if let path = addresses.unixSocketPath {
            removeSocketFile(at: path)
        }
        self.logger.info("HTTP server stopped")
    }

    private func bindListeners(
        registry: ConnectionRegistry,
        sink: AsyncStream<HTTPConnection>.Continuation
    ) async throws -> ([any Channel], ListeningAddresses) {
        var listeners: [any Channel] = []
        do {
            let tcp = try await self.bootstrap(for: .tcp, registry: registry, sink: sink)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .bind(host: self.configuration.host, port: self.configuration.port)
                .get()
            listeners.append(tcp)
            var addresses = ListeningAddresses(tcp: tcp.localAddress, unixSocketPath: nil)
            if let path = self.configuration.unixSocketPath {
                let unix = try await self.bootstrap(for: .unixSocket, registry: registry, sink: sink)
                    .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true)
                    .get()
                listeners.append(unix)
                // Callers on this socket are root: only root may connect.
                guard chmod(path, 0o600) == 0 else {
                    throw HTTPServerError.cannotRestrictSocket(path: path, errno: errno)
                }
                addresses.unixSocketPath = path
            }
            return (listeners, addresses)
        } catch {
            for listener in listeners { try? await listener.close() }
            if let path = self.configuration.unixSocketPath, listeners.count == 2 {
                removeSocketFile(at: path)
            }
            throw error
        }
    }

    private func bootstrap(
        for listener: Listener,
        registry: ConnectionRegistry,
        sink: AsyncStream<HTTPConnection>.Continuation
    ) -> ServerBootstrap {
        let configuration = self.configuration
        let logger = self.logger
        return ServerBootstrap(group: self.eventLoopGroup)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            // The connection handler closes at the end of input, after answering what came before.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                HTTPConnection.initialize(
                    channel,
                    listener: listener,
                    configuration: configuration,
                    registry: registry,
                    sink: sink,
                    logger: logger
                )
            }
    }
}

public enum HTTPServerError: Error, Equatable {
    /// The Unix socket could not be made private (mode 0600); it is not served.
    case cannotRestrictSocket(path: String, errno: Int32)
    /// A connection arrived beyond the listener's cap, or during shutdown.
    case connectionRefused(Listener)
}

/// Removes the socket file we created, but nothing else that may have replaced it.
private func removeSocketFile(at path: String) {
    var info = stat()
    if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK {
        unlink(path)
    }
}

/// One accepted connection: its channel, the stream of its requests, and the task body that
/// answers them one after the other.
struct HTTPConnection: Sendable {
    let channel: any Channel
    let handler: NIOLoopBound<HTTPConnectionHandler>
    let requests: AsyncStream<HTTPRequest>
    let listener: Listener
    let remoteAddress: String?
    let logger: Logger

    /// Sets up the pipeline of a freshly accepted channel (on its event loop) and hands the
    /// connection to the server's task group.
    static func initialize(
        _ channel: any Channel,
        listener: Listener,
        configuration: HTTPServerConfiguration,
        registry: ConnectionRegistry,
        sink: AsyncStream<HTTPConnection>.Continuation,
        logger: Logger
    ) -> EventLoopFuture<Void> {
        switch registry.admit(channel, on: listener) {
        case .admitted:
            break
        case .overLimit:
            logger.notice("connection refused: limit reached", metadata: ["listener": "\(listener)"])
            return channel.eventLoop.makeFailedFuture(HTTPServerError.connectionRefused(listener))
        case .draining:
            return channel.eventLoop.makeFailedFuture(HTTPServerError.connectionRefused(listener))
        }
        channel.closeFuture.whenComplete { _ in registry.remove(channel, on: listener) }

        return channel.eventLoop.makeCompletedFuture {
            let remoteAddress = listener == .tcp ? channel.remoteAddress?.ipAddress : nil
            var logger = logger
            logger[metadataKey: "peer"] = "\(remoteAddress ?? "unix")"
            let (requests, requestSink) = AsyncStream.makeStream(of: HTTPRequest.self)
            let handler = HTTPConnectionHandler(
                maxBodyBytes: configuration.maxBodyBytes,
                requests: requestSink,
                logger: logger
            )
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(IdleStateHandler(allTimeout: TimeAmount(configuration.idleTimeout)))
            // NIO's request decoder; everything else of HTTP/1 is in `HTTPConnectionHandler`.
            try pipeline.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
            try pipeline.addHandler(handler)
            let connection = HTTPConnection(
                channel: channel,
                handler: NIOLoopBound(handler, eventLoop: channel.eventLoop),
                requests: requests,
                listener: listener,
                remoteAddress: remoteAddress,
                logger: logger
            )
            if case .terminated = sink.yield(connection) {
                channel.close(promise: nil)
            }
        }
    }

    /// Answers the connection's requests in order until it closes. Runs as a child task of
    /// the server, so the RPC handler inherits its cancellation and graceful shutdown.
    func serve(with rpc: any RPCHandler) async {
        for await request in self.requests {
            let response = await self.respond(to: request, with: rpc)
            let handler = self.handler
            self.channel.eventLoop.execute { handler.value.send(response) }
        }
        // The stream also ends when this task is cancelled: make sure the channel goes too.
        self.channel.close(promise: nil)
    }

    private func respond(to request: HTTPRequest, with rpc: any RPCHandler) async -> HTTPResponse {
        switch HTTPRoute(method: request.method, path: request.path) {
        case .xmlrpc:
            let reply = await rpc.xmlrpc(body: request.body, context: self.context(for: request))
            return self.render(reply, contentType: .xml, for: request)
        case .jsonrpc:
            let reply = await rpc.jsonrpc(body: request.body, context: self.context(for: request))
            return self.render(reply, contentType: .json, for: request)
        case .diagnostics:
            switch DiagnosticsCheck.parse(query: request.query) {
            case .success(let checks):
                let document = await rpc.diagnostics(checks: checks)
                return XapiResponses.rpc(document, contentType: .json, for: request)
            case .failure(let unknown):
                let known = DiagnosticsCheck.allCases.map(\.rawValue).joined(separator: ", ")
                return XapiResponses.badQuery(reason: "unknown check '\(unknown.name)' (known: \(known))", version: request.version)
            }
        case .corsPreflight:
            return XapiResponses.corsPreflight(for: request)
        case .notFound:
            return XapiResponses.notFound(path: request.path, version: request.version)
        case .methodNotImplemented:
            return XapiResponses.methodNotImplemented(request.method, version: request.version)
        }
    }

    private func render(_ reply: RPCReply, contentType: RPCContentType, for request: HTTPRequest) -> HTTPResponse {
        switch reply {
        case .ok(let body):
            return XapiResponses.rpc(body, contentType: contentType, for: request)
        case .transportFailure(let message):
            self.logger.debug("RPC transport failure", metadata: ["path": "\(request.path)", "reason": "\(message)"])
            return XapiResponses.internalError(message: message, version: request.version)
        }
    }

    private func context(for request: HTTPRequest) -> RPCRequestContext {
        RPCRequestContext(
            listener: self.listener,
            path: request.path,
            originator: request.headers.first(name: "originator"),
            userAgent: request.headers.first(name: "user-agent"),
            remoteAddress: self.remoteAddress
        )
    }
}
