import Logging
import NIOCore
import NIOPosix
import RPCServer
import ServiceLifecycle
import Synchronization
import Testing

/// Errors of the test harness itself.
enum HarnessError: Error {
    case serverDidNotStart
    case connectionClosed(received: String)
    case malformedResponse(String)
    case timedOut
}

let quietLogger = Logger(label: "xapi.http.test") { _ in SwiftLogNoOpLogHandler() }

/// One call the fake handler saw.
struct RecordedCall: Sendable, Equatable {
    enum Kind: Sendable, Equatable { case xmlrpc, jsonrpc, diagnostics }
    var kind: Kind
    var body: String
    var listener: Listener?
    var path: String?
    var originator: String?
    var userAgent: String?
    var remoteAddress: String?
}

/// Releases parked handlers when the test says so; cancellation releases them too.
final class Gate: Sendable {
    private struct State {
        var open = false
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextID: UInt64 = 0
    }
    private let state = Mutex(State())

    var waiting: Int { self.state.withLock { $0.waiters.count } }

    func wait() async {
        let id = self.state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = self.state.withLock { state -> Bool in
                    if state.open || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let continuation = self.state.withLock { $0.waiters.removeValue(forKey: id) }
            continuation?.resume()
        }
    }

    func open() {
        let waiters = self.state.withLock { state in
            state.open = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// A scripted RPC handler. XML-RPC bodies: `park` waits on `gate`; `park-until-shutdown`
/// waits for graceful shutdown (or cancellation); `fail <text>` is a transport failure;
/// anything else is echoed back as `xml:<body>`. JSON-RPC echoes `json:<body>`.
final class FakeHandler: RPCHandler {
    private let calls = Mutex<[RecordedCall]>([])
    let gate = Gate()

    func xmlrpc(body: [UInt8], context: RPCRequestContext) async -> RPCReply {
        let text = String(decoding: body, as: UTF8.self)
        self.record(.xmlrpc, text, context)
        switch text {
        case "park":
            await self.gate.wait()
            return .ok(body: Array("released".utf8))
        case "park-until-shutdown":
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(60)) }
                return .ok(body: Array("slept".utf8))
            } catch {
                return .ok(body: Array("woken by shutdown".utf8))
            }
        case let failing where failing.hasPrefix("fail "):
            return .transportFailure(message: String(failing.dropFirst(5)))
        default:
            return .ok(body: Array("xml:\(text)".utf8))
        }
    }

    func jsonrpc(body: [UInt8], context: RPCRequestContext) async -> RPCReply {
        let text = String(decoding: body, as: UTF8.self)
        self.record(.jsonrpc, text, context)
        return .ok(body: Array("json:\(text)".utf8))
    }

    func diagnostics(checks: Set<DiagnosticsCheck>) async -> [UInt8] {
        self.calls.withLock { $0.append(RecordedCall(kind: .diagnostics, body: checks.map(\.rawValue).sorted().joined(separator: ","))) }
        return Array(#"{"connections":1}"#.utf8)
    }

    var recorded: [RecordedCall] { self.calls.withLock { $0 } }

    private func record(_ kind: RecordedCall.Kind, _ body: String, _ context: RPCRequestContext) {
        let call = RecordedCall(
            kind: kind,
            body: body,
            listener: context.listener,
            path: context.path,
            originator: context.originator,
            userAgent: context.userAgent,
            remoteAddress: context.remoteAddress
        )
        self.calls.withLock { $0.append(call) }
    }
}

/// Runs a server on an ephemeral port (plus a Unix socket when asked) for the duration of
/// `body`, then cancels it and waits for `run()` to return.
func withServer<T: Sendable>(
    handler: FakeHandler = FakeHandler(),
    configure: (inout HTTPServerConfiguration) -> Void = { _ in },
    _ body: (FakeHandler, XapiHTTPServer.ListeningAddresses) async throws -> T
) async throws -> T {
    var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
    configure(&configuration)
    let (ready, readySink) = AsyncStream.makeStream(of: XapiHTTPServer.ListeningAddresses.self)
    let server = XapiHTTPServer(
        configuration: configuration,
        handler: handler,
        logger: quietLogger,
        onListening: { addresses in
            readySink.yield(addresses)
            readySink.finish()
        }
    )
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.run() }
        var iterator = ready.makeAsyncIterator()
        guard let addresses = await iterator.next() else {
            try await group.next()
            throw HarnessError.serverDidNotStart
        }
        do {
            let result = try await body(handler, addresses)
            group.cancelAll()
            try await group.waitForAll()
            return result
        } catch {
            group.cancelAll()
            try? await group.waitForAll()
            throw error
        }
    }
}

/// A parsed response, header names as the server wrote them.
struct RawResponse: Sendable {
    var statusLine: String
    var status: Int
    var headerLines: [String]
    var body: String

    func header(_ name: String) -> String? {
        for line in self.headerLines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].lowercased() == name.lowercased() {
                return line[line.index(after: colon)...].trimmingCharacters(in: " ")
            }
        }
        return nil
    }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in character: Character) -> String {
        String(self.drop { $0 == character }.reversed().drop { $0 == character }.reversed())
    }
}

/// Collects whatever the server sends; the stream ends when the connection closes.
private final class ByteCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let sink: AsyncStream<ByteBuffer>.Continuation
    init(sink: AsyncStream<ByteBuffer>.Continuation) { self.sink = sink }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.sink.yield(Self.unwrapInboundIn(data))
    }
    func channelInactive(context: ChannelHandlerContext) { self.sink.finish() }
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.sink.finish()
        context.close(promise: nil)
    }
}

/// A raw-bytes HTTP/1 client: tests write requests by hand and see exactly what comes back.
struct RawConnection {
    let channel: any Channel
    private var incoming: AsyncStream<ByteBuffer>.AsyncIterator
    private var pending: [UInt8] = []

    static func tcp(_ address: XapiHTTPServer.ListeningAddresses) async throws -> RawConnection {
        try await self.connect { bootstrap in
            try await bootstrap.connect(host: "127.0.0.1", port: address.tcp?.port ?? 0).get()
        }
    }

    static func unix(_ path: String) async throws -> RawConnection {
        try await self.connect { bootstrap in
            try await bootstrap.connect(unixDomainSocketPath: path).get()
        }
    }

    private static func connect(_ open: (ClientBootstrap) async throws -> any Channel) async throws -> RawConnection {
        let (stream, sink) = AsyncStream.makeStream(of: ByteBuffer.self)
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteCollector(sink: sink))
                }
            }
        let channel = try await open(bootstrap)
        return RawConnection(channel: channel, incoming: stream.makeAsyncIterator())
    }

    init(channel: any Channel, incoming: AsyncStream<ByteBuffer>.AsyncIterator) {
        self.channel = channel
        self.incoming = incoming
    }

    func send(_ text: String) async throws {
        try await self.channel.writeAndFlush(ByteBuffer(string: text))
    }

    /// `POST path` with a body, HTTP/1.1, the headers Python's xmlrpc.client sends.
    func post(_ path: String, _ body: String, extraHeaders: [String] = []) async throws {
        var request = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip\r\n"
        request += "Content-Type: text/xml\r\nUser-Agent: Python-xmlrpc/3.11\r\n"
        for header in extraHeaders { request += "\(header)\r\n" }
        request += "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        try await self.send(request)
    }

    /// Reads one response; throws if the connection closes first.
    mutating func response() async throws -> RawResponse {
        let headerEnd: Int = try await {
            while true {
                if let end = self.pending.firstRange(of: Array("\r\n\r\n".utf8)) { return end.upperBound }
                try await self.fill()
            }
        }()
        let head = String(decoding: self.pending[..<(headerEnd - 4)], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else {
            throw HarnessError.malformedResponse(statusLine)
        }
        var response = RawResponse(statusLine: statusLine, status: status, headerLines: lines, body: "")
        let length = response.header("content-length").flatMap(Int.init) ?? 0
        while self.pending.count < headerEnd + length { try await self.fill() }
        response.body = String(decoding: self.pending[headerEnd..<(headerEnd + length)], as: UTF8.self)
        self.pending.removeFirst(headerEnd + length)
        return response
    }

    /// Waits for the server to close the connection; returns any bytes it sent meanwhile.
    mutating func closedByServer() async -> String {
        while let chunk = await self.incoming.next() {
            self.pending.append(contentsOf: chunk.readableBytesView)
        }
        return String(decoding: self.pending, as: UTF8.self)
    }

    func close() async {
        try? await self.channel.close()
    }

    private mutating func fill() async throws {
        guard let chunk = await self.incoming.next() else {
            throw HarnessError.connectionClosed(received: String(decoding: self.pending, as: UTF8.self))
        }
        self.pending.append(contentsOf: chunk.readableBytesView)
    }
}

extension Array where Element == UInt8 {
    fileprivate func firstRange(of needle: [UInt8]) -> Range<Int>? {
        guard self.count >= needle.count else { return nil }
        for start in 0...(self.count - needle.count) where self[start..<(start + needle.count)].elementsEqual(needle) {
            return start..<(start + needle.count)
        }
        return nil
    }
}

/// Fails with `HarnessError.timedOut` if `operation` takes longer than `limit`.
func within<T: Sendable>(
    _ limit: Duration,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw HarnessError.timedOut }
        return value
    }
}
