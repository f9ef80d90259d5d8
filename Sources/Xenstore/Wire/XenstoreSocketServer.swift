public import Logging
public import NIOCore
import NIOPosix
public import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The wire front end: serves the xenstore protocol on unix sockets, each socket's peers acting
/// as one domid (0 = privileged dom0, like C xenstored's socket; another domid gives test
/// clients an unprivileged identity). A swift-service-lifecycle `Service`: `run()` returns after
/// graceful shutdown or cancellation, having closed every connection and removed the sockets.
public struct XenstoreSocketServer: Service {
    public struct Listener: Sendable, Hashable {
        public var path: String
        public var domid: UInt32

        public init(path: String, domid: UInt32 = 0) {
            self.path = path
            self.domid = domid
        }
    }

    let daemon: XenstoreDaemon
    let listeners: [Listener]
    let eventLoopGroup: (any EventLoopGroup)?
    let logger: Logger

    /// - Parameter eventLoopGroup: nil runs the sockets on a private one-thread group: one loop
    ///   lets a write's watch events go straight to the other sockets without a thread hop, which
    ///   is what keeps watch latency low (the store itself is a lock, not a thread).
    public init(
        daemon: XenstoreDaemon, listeners: [Listener], eventLoopGroup: (any EventLoopGroup)? = nil, logger: Logger
    ) {
        self.daemon = daemon
        self.listeners = listeners
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    public init(daemon: XenstoreDaemon, socketPath: String, eventLoopGroup: (any EventLoopGroup)? = nil, logger: Logger) {
        self.init(daemon: daemon, listeners: [Listener(path: socketPath)], eventLoopGroup: eventLoopGroup, logger: logger)
    }

    public func run() async throws {
        let ownedGroup = eventLoopGroup == nil ? MultiThreadedEventLoopGroup(numberOfThreads: 1) : nil
        let group: any EventLoopGroup = eventLoopGroup ?? ownedGroup!
        let connections = ChannelRegistry()
        var servers: [(channel: any Channel, path: String)] = []
        do {
            for listener in listeners {
                servers.append((try await bind(listener, group: group, connections: connections), listener.path))
            }
            let bound = servers.map(\.channel)
            try await withGracefulShutdownHandler {
                try await withTaskCancellationHandler {
                    for server in bound { try await server.closeFuture.get() }
                } onCancel: {
                    for server in bound { server.close(promise: nil) }
                }
            } onGracefulShutdown: {
                for server in bound { server.close(promise: nil) }
            }
        } catch {
            await stop(servers, connections: connections, group: ownedGroup)
            throw error
        }
        await stop(servers, connections: connections, group: ownedGroup)
    }

    private func bind(_ listener: Listener, group: any EventLoopGroup, connections: ChannelRegistry) async throws -> any Channel {
        let daemon = self.daemon
        let logger = self.logger
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 128)
            .childChannelOption(.writeBufferWaterMark, value: SocketWatchSink.waterMark)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    // Stop reading requests while the peer is not reading replies.
                    try pipeline.addHandler(BackPressureHandler())
                    try pipeline.addHandler(ByteToMessageHandler(XenstoreFrameDecoder()))
                    try pipeline.addHandler(
                        XenstoreConnectionHandler(
                            daemon: daemon, domid: listener.domid, connections: connections, logger: logger))
                }
            }
            .bind(unixDomainSocketPath: listener.path, cleanupExistingSocketFile: true).get()
        _ = chmod(listener.path, 0o600)  // as C xenstored: only root talks to the store
        logger.info("xenstore socket listening", metadata: ["socket": "\(listener.path)", "domid": "\(listener.domid)"])
        return channel
    }

    /// Closes the listeners and every connection, and removes the socket files this run created.
    private func stop(
        _ servers: [(channel: any Channel, path: String)], connections: ChannelRegistry, group: MultiThreadedEventLoopGroup?
    ) async {
        for server in servers { try? await server.channel.close() }
        for channel in connections.all() { try? await channel.close() }
        for server in servers { _ = unlink(server.path) }
        if let group { try? await group.shutdownGracefully() }
        logger.info("xenstore sockets closed")
    }
}

/// Open connections, so shutdown can close them.
final class ChannelRegistry: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    func add(_ channel: any Channel) { channels.withLock { $0[ObjectIdentifier(channel)] = channel } }
    func remove(_ channel: any Channel) { _ = channels.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) } }
    func all() -> [any Channel] { channels.withLock { Array($0.values) } }
}

/// One socket connection: decodes frames into requests for the store and writes the answers.
/// Answers are batched and flushed once per read burst; events flush at once.
final class XenstoreConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = XenstoreFrame
    typealias OutboundOut = ByteBuffer

    private let daemon: XenstoreDaemon
    private let domid: UInt32
    private let connections: ChannelRegistry
    private let logger: Logger
    private var connection: ConnectionID?
    private var pending: ByteBuffer?

    init(daemon: XenstoreDaemon, domid: UInt32, connections: ChannelRegistry, logger: Logger) {
        self.daemon = daemon
        self.domid = domid
        self.connections = connections
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        connection = daemon.open(domid: domid, sink: SocketWatchSink(channel: context.channel, logger: logger))
        connections.add(context.channel)
        logger.debug("xenstore connection opened", metadata: ["connection": "\(connection!)", "domid": "\(domid)"])
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let connection {
            daemon.close(connection)
            logger.debug("xenstore connection closed", metadata: ["connection": "\(connection)"])
        }
        connection = nil
        connections.remove(context.channel)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let connection else { return }
        let frame = unwrapInboundIn(data)
        guard let request = XenstoreCodec.decodeRequest(type: frame.header.type, payload: frame.payload) else {
            append(.failure(.ENOSYS), for: frame.header, context: context)
            return
        }
        daemon.perform(request, transaction: frame.header.transactionID, on: connection) { result, eventsFollow in
            logger.trace(
                "xenstore request",
                metadata: [
                    "connection": "\(connection)", "type": "\(frame.header.type)", "tx": "\(frame.header.transactionID)",
                    "result": "\(result)",
                ])
            if case .failure(.ECONNRESET) = result {
                context.close(promise: nil)  // the store dropped us (RELEASE of our domain)
                return
            }
            append(result, for: frame.header, context: context)
            if eventsFollow { writePending(context: context) }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        writePending(context: context)
        context.flush()
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let tooLarge = error as? XenstorePayloadTooLarge {
            logger.info("closing xenstore connection: oversized request", metadata: ["length": "\(tooLarge.length)"])
        } else {
            logger.debug("closing xenstore connection", metadata: ["error": "\(error)"])
        }
        context.close(promise: nil)
    }

    private func append(_ result: Result<XenstoreReply, XenstoreError>, for header: XenstoreHeader, context: ChannelHandlerContext) {
        var buffer = pending ?? context.channel.allocator.buffer(capacity: 512)
        pending = nil
        XenstoreCodec.writeReply(result, to: header, into: &buffer)
        pending = buffer
    }

    private func writePending(context: ChannelHandlerContext) {
        guard let buffer = pending else { return }
        pending = nil
        context.write(wrapOutboundOut(buffer), promise: nil)
    }
}

/// Writes watch events to a socket as soon as they are committed. Outbound data is bounded by
/// the channel's write-buffer high-water mark: while a peer leaves more than that unread, new
/// events for it are dropped (and counted in the log) — C xenstored also discards events a
/// client does not consume; memory never grows without bound.
final class SocketWatchSink: WatchSink {
    static let waterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 256 * 1024, high: 1024 * 1024)

    let channel: any Channel
    let logger: Logger
    private let dropped = Atomic<Int>(0)

    init(channel: any Channel, logger: Logger) {
        self.channel = channel
        self.logger = logger
    }

    func deliver(_ delivery: Delivery) {
        guard XenstoreCodec.eventPayloadSize(delivery.event) <= XenstoreWire.payloadMax else { return }
        if channel.eventLoop.inEventLoop {
            write(delivery.event)
        } else {
            channel.eventLoop.execute { [self] in write(delivery.event) }
        }
    }

    private func write(_ event: WatchEvent) {
        guard channel.isActive else { return }
        guard channel.isWritable else {
            let count = dropped.wrappingAdd(1, ordering: .relaxed).newValue
            if count & (count - 1) == 0 {
                logger.warning("xenstore client not reading, watch events dropped", metadata: ["dropped": "\(count)"])
            }
            return
        }
        var buffer = channel.allocator.buffer(capacity: XenstoreWire.headerSize + XenstoreCodec.eventPayloadSize(event))
        XenstoreCodec.writeEvent(event, into: &buffer)
        channel.writeAndFlush(buffer, promise: nil)
    }

    func connectionClosed() {
        channel.close(promise: nil)
    }
}
