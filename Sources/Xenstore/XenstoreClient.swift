// In-process xenstore client — the API Xenops uses.
//
//     let store = XenstoreDaemon(logger: logger)
//     let dom0 = store.connect(domid: 0)               // privileged, like a socket client
//     try dom0.write("/local/domain/7/name", "vm7")
//     try store.introduceDomain(7)                     // fires @introduceDomain
//     let guest = store.connect(domid: 7)              // unprivileged: permissions and quotas apply
//     try guest.write("data/updated", "1")             // relative to /local/domain/7
//     let value = try dom0.read("/local/domain/7/data/updated")
//     try dom0.transaction { tx in                     // retried on EAGAIN
//         try tx.write("/vm/uuid/name", "vm7")
//         try tx.mkdir("/local/domain/7/device")
//     }
//     for await event in try dom0.watch("/local/domain/7", token: "dom7") {
//         // fires once at registration, then on every change at or below the path
//     }
//
// Every call except iterating a watch is synchronous: it takes the store's lock for the length
// of one request and never waits, so callers need no `await`. Semantics are exactly those of a
// socket client with the same domid (same permission checks, quotas, transaction rules and
// watch filtering), because both front ends are connections of one `XenstoreState`. Errors are
// `XenstoreError` cases named like the wire's errno strings. Watches end — and unregister —
// when the iterating task is cancelled or the sequence is dropped; `close()` or RELEASE of the
// connection's domain finishes every watch stream of the connection. A watch may instead call a
// handler inline (`watch(_:token:handler:)`), for watchers of thousands of paths.

import Logging
import Synchronization

/// One in-process client connection acting as `domid`.
public final class XenstoreConnection: Sendable {
    public let domid: UInt32
    let daemon: XenstoreDaemon
    let id: ConnectionID
    let router: InProcessWatchRouter

    init(daemon: XenstoreDaemon, id: ConnectionID, domid: UInt32, router: InProcessWatchRouter) {
        self.daemon = daemon
        self.id = id
        self.domid = domid
        self.router = router
    }

    deinit {
        daemon.close(id)
        router.finishAll()
    }

    func perform(_ request: XenstoreRequest, transaction: UInt32 = 0) throws(XenstoreError) -> XenstoreReply {
        try daemon.perform(request, transaction: transaction, on: id).get()
    }

    /// The value as UTF-8 text (xenstore values are bytes by convention ASCII; invalid UTF-8 is repaired).
    public func read(_ path: String) throws(XenstoreError) -> String {
        String(decoding: try readBytes(path), as: UTF8.self)
    }

    public func readBytes(_ path: String) throws(XenstoreError) -> [UInt8] {
        try Ops.readBytes(self, path, 0)
    }

    /// Writes `value`, creating the node and missing parents.
    public func write(_ path: String, _ value: String) throws(XenstoreError) {
        try Ops.write(self, path, Array(value.utf8), 0)
    }

    public func write(_ path: String, bytes: [UInt8]) throws(XenstoreError) {
        try Ops.write(self, path, bytes, 0)
    }

    /// Creates the node with an empty value; no-op if it exists.
    public func mkdir(_ path: String) throws(XenstoreError) { try Ops.mkdir(self, path, 0) }

    /// Removes the node and its subtree; no-op if absent but its parent exists.
    public func rm(_ path: String) throws(XenstoreError) { try Ops.rm(self, path, 0) }

    /// Child names in creation order.
    public func directory(_ path: String) throws(XenstoreError) -> [String] { try Ops.directory(self, path, 0) }

    /// Whether the node exists (and is readable: EACCES is thrown, not hidden).
    public func exists(_ path: String) throws(XenstoreError) -> Bool { try Ops.exists(self, path, 0) }

    public func getPermissions(_ path: String) throws(XenstoreError) -> [XenstorePermission] {
        try Ops.getPermissions(self, path, 0)
    }

    /// First entry: owner and default access; later entries: per-domain grants.
    public func setPermissions(_ path: String, _ permissions: [XenstorePermission]) throws(XenstoreError) {
        try Ops.setPermissions(self, path, permissions, 0)
    }

    // MARK: transactions

    /// Starts a transaction; end it with `commit()` (may throw EAGAIN) or `abort()`.
    public func startTransaction() throws(XenstoreError) -> XenstoreTransaction {
        guard case .transaction(let txid) = try perform(.transactionStart) else { throw .EIO }
        return XenstoreTransaction(connection: self, id: txid)
    }

    /// Runs `body` in a transaction and commits, running it again from the start when the
    /// commit conflicts (EAGAIN), up to `maxAttempts` times. An error thrown by `body` aborts.
    public func transaction<T>(maxAttempts: Int = 64, _ body: (XenstoreTransaction) throws -> T) throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            let tx = try startTransaction()
            let value: T
            do {
                value = try body(tx)
            } catch {
                tx.abort()
                throw error
            }
            do throws(XenstoreError) {
                try tx.commit()
                return value
            } catch {
                if error == .EAGAIN && attempt < maxAttempts { continue }
                throw error
            }
        }
    }

    // MARK: watches

    /// Watches `path` (absolute, relative to this domain's home, or `@introduceDomain` /
    /// `@releaseDomain`) and everything below it. The first event arrives at once.
    public func watch(_ path: String, token: String = "") throws(XenstoreError) -> XenstoreWatch {
        let (stream, continuation) = AsyncStream.makeStream(
            of: WatchEvent.self, bufferingPolicy: .bufferingOldest(daemon.configuration.watchStreamBufferLimit))
        let route = try register(path, token: token, .stream(continuation))
        // Not capturing the connection: its streams must not keep it alive (its deinit closes them).
        continuation.onTermination = { [daemon, id, router] _ in Self.unregister(path, route, daemon, id, router) }
        return XenstoreWatch(path: path, token: token, stream: stream, connection: self)
    }

    /// Watches `path` as `watch(_:token:)` does, but calls `handler` for each event on the thread
    /// that committed the change, in commit order, instead of queueing it for a task: for a
    /// watcher of thousands of paths whose reaction is a quick note, this saves a task wake-up
    /// per event. The handler must not block; it may call this connection. The watch lasts until
    /// `cancel()` on the result, `resetWatches()` or the connection's end.
    public func watch(_ path: String, token: String = "",
                      handler: @escaping @Sendable (WatchEvent) -> Void) throws(XenstoreError) -> XenstoreWatchHandle {
        let route = try register(path, token: token, .handler(handler))
        return XenstoreWatchHandle(path: path, route: route, connection: self)
    }

    /// Routes the watch's events to `receiver`, then registers it with the store.
    private func register(_ path: String, token: String,
                          _ receiver: InProcessWatchRouter.Receiver) throws(XenstoreError) -> InProcessWatchRouter.Route {
        let canonical = try XenstorePath.resolve(
            path, domid: domid, allowSpecial: true, pathMax: daemon.configuration.quotas.pathMax
        ).absolute
        let route = InProcessWatchRouter.Route(path: canonical, token: token)
        try router.add(route, receiver)
        do throws(XenstoreError) {
            _ = try perform(.watch(path, token: token))
        } catch {
            router.remove(route)
            throw error
        }
        return route
    }

    func unregister(_ path: String, _ route: InProcessWatchRouter.Route) {
        Self.unregister(path, route, daemon, id, router)
    }

    private static func unregister(_ path: String, _ route: InProcessWatchRouter.Route, _ daemon: XenstoreDaemon,
                                   _ id: ConnectionID, _ router: InProcessWatchRouter) {
        router.remove(route)
        _ = daemon.perform(.unwatch(path, token: route.token), on: id)
    }

    /// Removes every watch and aborts every transaction of this connection (RESET_WATCHES).
    public func resetWatches() throws(XenstoreError) {
        _ = try perform(.resetWatches)
        router.finishAll(closing: false)
    }

    // MARK: domains (privileged)

    public func introduceDomain(_ domid: UInt32, port: Int = 1) throws(XenstoreError) {
        _ = try perform(.introduce(domid: domid, port: port))
    }

    public func releaseDomain(_ domid: UInt32) throws(XenstoreError) { _ = try perform(.release(domid)) }

    public func resumeDomain(_ domid: UInt32) throws(XenstoreError) { _ = try perform(.resume(domid)) }

    public func isDomainIntroduced(_ domid: UInt32) throws(XenstoreError) -> Bool {
        guard case .bool(let answer) = try perform(.isIntroduced(domid)) else { throw .EIO }
        return answer
    }

    /// Gives `domid` the access rights of `target` (device-model stubdomains).
    public func setTarget(_ domid: UInt32, target: UInt32) throws(XenstoreError) {
        _ = try perform(.setTarget(domid, target: target))
    }

    /// `/local/domain/<domid>`.
    public func domainPath(of domid: UInt32) throws(XenstoreError) -> String {
        guard case .text(let path) = try perform(.getDomainPath(domid)) else { throw .EIO }
        return path
    }

    /// Ends the connection: transactions abort, watches unregister and their streams finish.
    /// Later calls throw ECONNRESET.
    public func close() {
        daemon.close(id)
        router.finishAll()
    }
}

/// An open transaction: reads see its own writes; nothing is visible to others or fires
/// watches until `commit()`.
public struct XenstoreTransaction: Sendable {
    public let connection: XenstoreConnection
    public let id: UInt32

    public func read(_ path: String) throws(XenstoreError) -> String {
        String(decoding: try Ops.readBytes(connection, path, id), as: UTF8.self)
    }
    public func readBytes(_ path: String) throws(XenstoreError) -> [UInt8] { try Ops.readBytes(connection, path, id) }
    public func write(_ path: String, _ value: String) throws(XenstoreError) {
        try Ops.write(connection, path, Array(value.utf8), id)
    }
    public func write(_ path: String, bytes: [UInt8]) throws(XenstoreError) { try Ops.write(connection, path, bytes, id) }
    public func mkdir(_ path: String) throws(XenstoreError) { try Ops.mkdir(connection, path, id) }
    public func rm(_ path: String) throws(XenstoreError) { try Ops.rm(connection, path, id) }
    public func directory(_ path: String) throws(XenstoreError) -> [String] { try Ops.directory(connection, path, id) }
    public func exists(_ path: String) throws(XenstoreError) -> Bool { try Ops.exists(connection, path, id) }
    public func getPermissions(_ path: String) throws(XenstoreError) -> [XenstorePermission] {
        try Ops.getPermissions(connection, path, id)
    }
    public func setPermissions(_ path: String, _ permissions: [XenstorePermission]) throws(XenstoreError) {
        try Ops.setPermissions(connection, path, permissions, id)
    }

    /// Commits; EAGAIN when a node it read changed meanwhile (start over).
    public func commit() throws(XenstoreError) {
        _ = try connection.perform(.transactionEnd(commit: true), transaction: id)
    }

    public func abort() {
        _ = try? connection.perform(.transactionEnd(commit: false), transaction: id)
    }
}

/// The requests shared by connections and transactions.
private enum Ops {
    static func readBytes(_ c: XenstoreConnection, _ path: String, _ tx: UInt32) throws(XenstoreError) -> [UInt8] {
        guard case .value(let bytes) = try c.perform(.read(path), transaction: tx) else { throw .EIO }
        return bytes
    }
    static func write(_ c: XenstoreConnection, _ path: String, _ bytes: [UInt8], _ tx: UInt32) throws(XenstoreError) {
        _ = try c.perform(.write(path, bytes), transaction: tx)
    }
    static func mkdir(_ c: XenstoreConnection, _ path: String, _ tx: UInt32) throws(XenstoreError) {
        _ = try c.perform(.mkdir(path), transaction: tx)
    }
    static func rm(_ c: XenstoreConnection, _ path: String, _ tx: UInt32) throws(XenstoreError) {
        _ = try c.perform(.remove(path), transaction: tx)
    }
    static func directory(_ c: XenstoreConnection, _ path: String, _ tx: UInt32) throws(XenstoreError) -> [String] {
        guard case .names(let names) = try c.perform(.directory(path), transaction: tx) else { throw .EIO }
        return names
    }
    static func exists(_ c: XenstoreConnection, _ path: String, _ tx: UInt32) throws(XenstoreError) -> Bool {
        do throws(XenstoreError) {
            _ = try c.perform(.read(path), transaction: tx)
            return true
        } catch {
            if error == .ENOENT { return false }
            throw error
        }
    }
    static func getPermissions(_ c: XenstoreConnection, _ path: String, _ tx: UInt32) throws(XenstoreError) -> [XenstorePermission] {
        guard case .permissions(let list) = try c.perform(.getPermissions(path), transaction: tx) else { throw .EIO }
        return list
    }
    static func setPermissions(
        _ c: XenstoreConnection, _ path: String, _ permissions: [XenstorePermission], _ tx: UInt32
    ) throws(XenstoreError) {
        _ = try c.perform(.setPermissions(path, permissions), transaction: tx)
    }
}

/// The events of one watch. Iterate it from one task; cancelling that task (or dropping the
/// sequence) unregisters the watch. It keeps its connection open while it exists.
public struct XenstoreWatch: AsyncSequence, Sendable {
    public typealias Element = WatchEvent
    public typealias Failure = Never
    /// The path as given to `watch` and the token.
    public let path: String
    public let token: String
    let stream: AsyncStream<WatchEvent>
    let connection: XenstoreConnection

    public func makeAsyncIterator() -> AsyncStream<WatchEvent>.Iterator { stream.makeAsyncIterator() }
}

/// A watch delivered to a handler; `cancel()` unregisters it (at most once).
public final class XenstoreWatchHandle: Sendable {
    public let path: String
    let route: InProcessWatchRouter.Route
    let connection: XenstoreConnection
    private let cancelled = Synchronization.Atomic<Bool>(false)

    init(path: String, route: InProcessWatchRouter.Route, connection: XenstoreConnection) {
        self.path = path
        self.route = route
        self.connection = connection
    }

    public var token: String { route.token }

    public func cancel() {
        guard !cancelled.exchange(true, ordering: .relaxed) else { return }
        connection.unregister(path, route)
    }
}

/// Routes a connection's events to its watch streams and handlers.
final class InProcessWatchRouter: WatchSink {
    struct Route: Hashable, Sendable {
        let path: String
        let token: String
    }

    enum Receiver: Sendable {
        case stream(AsyncStream<WatchEvent>.Continuation)
        case handler(@Sendable (WatchEvent) -> Void)
    }

    private struct Routes {
        var streams: [Route: Receiver] = [:]
        var closed = false
        var dropped = 0
    }

    private let routes = Mutex(Routes())
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func add(_ route: Route, _ receiver: Receiver) throws(XenstoreError) {
        let error = routes.withLock { routes -> XenstoreError? in
            if routes.closed { return .ECONNRESET }
            if routes.streams[route] != nil { return .EEXIST }
            routes.streams[route] = receiver
            return nil
        }
        if let error { throw error }
    }

    func remove(_ route: Route) {
        _ = routes.withLock { $0.streams.removeValue(forKey: route) }
    }

    func deliver(_ delivery: Delivery) {
        let route = Route(path: delivery.watchPath, token: delivery.event.token)
        guard let receiver = routes.withLock({ $0.streams[route] }) else { return }
        guard case .stream(let continuation) = receiver else {
            if case .handler(let handler) = receiver { handler(delivery.event) }
            return
        }
        if case .dropped = continuation.yield(delivery.event) {
            let count = routes.withLock { routes -> Int in
                routes.dropped += 1
                return routes.dropped
            }
            if count & (count - 1) == 0 {
                logger.warning("watch stream full, events dropped", metadata: ["watch": "\(route.path)", "dropped": "\(count)"])
            }
        }
    }

    func connectionClosed() { finishAll() }

    /// Finishes every stream (outside the lock: finishing runs `onTermination`, which unregisters)
    /// and forgets every handler.
    func finishAll(closing: Bool = true) {
        let continuations = routes.withLock { routes -> [AsyncStream<WatchEvent>.Continuation] in
            if closing { routes.closed = true }
            defer { routes.streams = [:] }
            return routes.streams.values.compactMap { if case .stream(let c) = $0 { c } else { nil } }
        }
        for continuation in continuations { continuation.finish() }
    }
}
