import DequeModule
public import Logging
import Synchronization

/// Where the store sends a connection's watch events: a socket channel or an in-process router.
protocol WatchSink: Sendable {
    func deliver(_ delivery: Delivery)
    /// The store dropped this connection (RELEASE of its domain).
    func connectionClosed()
}

/// The xenstore: one `XenstoreState` behind a `Mutex`, shared by every front end.
///
/// Each request runs entirely under the lock and yields its reply plus the watch events it
/// caused; events are delivered after the lock is released. To keep events in commit order
/// across threads they pass through one outbox, drained by whichever caller finds nobody else
/// draining — so delivery never happens under the state lock, yet never reorders.
public final class XenstoreDaemon: Sendable {
    public let configuration: XenstoreConfiguration
    let logger: Logger
    private let core: Mutex<Core>
    /// The store's own dom0 connection, for the administrative calls below.
    private let adminConnection: ConnectionID

    private struct Core: Sendable {
        var state: XenstoreState
        var sinks: [ConnectionID: any WatchSink] = [:]
        var outbox: Deque<OutboxItem> = []
        var draining = false
    }

    private enum OutboxItem: Sendable {
        case event(any WatchSink, Delivery)
        case closed(any WatchSink)
    }

    public init(configuration: XenstoreConfiguration = XenstoreConfiguration(), logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        var state = XenstoreState(quotas: configuration.quotas)
        adminConnection = state.connect(domid: 0)
        core = Mutex(Core(state: state))
    }

    /// A new in-process connection acting as `domid` (0 = privileged dom0). Guests' connections
    /// are closed by RELEASE of their domain.
    public func connect(domid: UInt32 = 0) -> XenstoreConnection {
        let sink = InProcessWatchRouter(logger: logger)
        let id = open(domid: domid, sink: sink)
        return XenstoreConnection(daemon: self, id: id, domid: domid, router: sink)
    }

    /// Introduces a guest (as INTRODUCE from dom0): fires `@introduceDomain` the first time.
    public func introduceDomain(_ domid: UInt32, port: Int = 1) throws(XenstoreError) {
        _ = try perform(.introduce(domid: domid, port: port), on: adminConnection).get()
    }

    /// Releases a guest (as RELEASE from dom0): closes its connections, deletes the nodes it
    /// owns and fires `@releaseDomain`.
    public func releaseDomain(_ domid: UInt32) throws(XenstoreError) {
        _ = try perform(.release(domid), on: adminConnection).get()
    }

    /// The guest shut down or crashed: fires `@releaseDomain` once, until RESUME.
    public func markDomainShutdown(_ domid: UInt32) throws(XenstoreError) {
        let result = run { $0.markShutdown(domid) }
        _ = try result.get()
    }

    // MARK: connections (shared by both front ends)

    func open(domid: UInt32, sink: any WatchSink) -> ConnectionID {
        core.withLock { core in
            let id = core.state.connect(domid: domid)
            core.sinks[id] = sink
            return id
        }
    }

    /// The client went away: aborts its transactions and removes its watches.
    func close(_ id: ConnectionID) {
        core.withLock { core in
            core.state.disconnect(id)
            core.sinks[id] = nil
        }
    }

    func domid(of id: ConnectionID) -> UInt32? {
        core.withLock { $0.state.domid(of: id) }
    }

    func perform(_ request: XenstoreRequest, transaction: UInt32 = 0, on id: ConnectionID) -> Result<XenstoreReply, XenstoreError> {
        run { $0.perform(request, transaction: transaction, on: id) }
    }

    /// As `perform`, but hands the reply to `reply` after the lock is released and before any
    /// event is delivered, so a socket writes its answer ahead of the events the request caused
    /// (the WATCH ack precedes the initial event, as in both reference daemons). The flag says
    /// whether events follow.
    func perform(
        _ request: XenstoreRequest, transaction: UInt32, on id: ConnectionID,
        reply: (Result<XenstoreReply, XenstoreError>, _ eventsFollow: Bool) -> Void
    ) {
        run({ $0.perform(request, transaction: transaction, on: id) }, beforeDelivery: reply)
    }

    @discardableResult
    private func run(
        _ body: (inout XenstoreState) -> Outcome,
        beforeDelivery: (Result<XenstoreReply, XenstoreError>, Bool) -> Void = { _, _ in }
    ) -> Result<XenstoreReply, XenstoreError> {
        let (result, eventsFollow, mustDrain) = core.withLock { core -> (Result<XenstoreReply, XenstoreError>, Bool, Bool) in
            let outcome = body(&core.state)
            if outcome.deliveries.isEmpty && outcome.closed.isEmpty { return (outcome.result, false, false) }
            for delivery in outcome.deliveries {
                if let sink = core.sinks[delivery.connection] { core.outbox.append(.event(sink, delivery)) }
            }
            for id in outcome.closed {
                if let sink = core.sinks.removeValue(forKey: id) { core.outbox.append(.closed(sink)) }
            }
            if core.draining { return (outcome.result, true, false) }
            core.draining = true
            return (outcome.result, true, true)
        }
        beforeDelivery(result, eventsFollow)
        if mustDrain { drain() }
        return result
    }

    private func drain() {
        while true {
            let batch = core.withLock { core -> Deque<OutboxItem>? in
                if core.outbox.isEmpty {
                    core.draining = false
                    return nil
                }
                defer { core.outbox = [] }
                return core.outbox
            }
            guard let batch else { return }
            for item in batch {
                switch item {
                case .event(let sink, let delivery): sink.deliver(delivery)
                case .closed(let sink): sink.connectionClosed()
                }
            }
        }
    }

    // MARK: test support

    /// A copy of the state machine, for assertions in tests.
    func withState<T>(_ body: (XenstoreState) -> T) -> T {
        core.withLock { body($0.state) }
    }
}
