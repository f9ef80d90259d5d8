import DequeModule

/// Why a parked `event.from` / `event.next` call was resumed.
public enum WakeReason: Sendable, Equatable {
    case changed
    case sessionInvalid
    case timedOut
    case cancelled
}

/// A continuation to resume once the database lock has been released.
struct EventWakeup: Sendable {
    let continuation: CheckedContinuation<WakeReason, Never>
    let reason: WakeReason

    func run() { continuation.resume(returning: reason) }
}

/// The event machinery's share of the database state: parked `event.from` calls indexed by what
/// they listen to (so a change wakes only the calls it concerns), and the legacy
/// `event.register`/`event.next` subscriptions with their byte-bounded queue.
struct EventState: Sendable {
    struct Waiter: Sendable {
        var continuation: CheckedContinuation<WakeReason, Never>
        var session: String
        /// `nil` for `event.next` waiters, which are woken by the queue instead.
        var subscription: Subscription?
    }

    let sessionTable: Int
    private var waiters: [UInt64: Waiter] = [:]
    private var fromWaitersForAll: Set<UInt64> = []
    private var fromWaitersByTable: [Int: Set<UInt64>] = [:]
    private var waitersBySession: [String: Set<UInt64>] = [:]
    private var nextWaitersBySession: [String: Set<UInt64>] = [:]
    private var ready: [EventWakeup] = []
    /// Timeouts or cancellations that arrived before their call parked (or after it finished;
    /// those entries are dropped when the id is retired).
    private var earlyResolutions: [UInt64: WakeReason] = [:]
    var next: NextQueue

    init(model: Datamodel) {
        sessionTable = model.class(named: "session")?.index ?? -1
        next = NextQueue()
    }

    var parkedCount: Int { waiters.count }
    /// Set at shutdown: parked calls were answered and new ones must not park.
    private(set) var closed = false

    /// Shutdown: every parked call returns `.cancelled` now, and later ones at once.
    mutating func close() -> [EventWakeup] {
        closed = true
        let ids = Array(waiters.keys)
        return ids.compactMap { id in unpark(id: id).map { EventWakeup(continuation: $0, reason: .cancelled) } }
    }

    // MARK: event.from waiters

    mutating func parkFrom(id: UInt64, continuation: CheckedContinuation<WakeReason, Never>,
                           session: String, subscription: Subscription) {
        waiters[id] = Waiter(continuation: continuation, session: session, subscription: subscription)
        waitersBySession[session, default: []].insert(id)
        if let tables = subscription.tables {
            for table in tables { fromWaitersByTable[table, default: []].insert(id) }
        } else {
            fromWaitersForAll.insert(id)
        }
    }

    /// Removes a parked call, returning its continuation so the caller can resume it.
    mutating func unpark(id: UInt64) -> CheckedContinuation<WakeReason, Never>? {
        guard let waiter = waiters.removeValue(forKey: id) else { return nil }
        waitersBySession[waiter.session]?.remove(id)
        if waitersBySession[waiter.session]?.isEmpty == true { waitersBySession[waiter.session] = nil }
        if let subscription = waiter.subscription {
            if let tables = subscription.tables {
                for table in tables {
                    fromWaitersByTable[table]?.remove(id)
                    if fromWaitersByTable[table]?.isEmpty == true { fromWaitersByTable[table] = nil }
                }
            } else {
                fromWaitersForAll.remove(id)
            }
        } else {
            nextWaitersBySession[waiter.session]?.remove(id)
            if nextWaitersBySession[waiter.session]?.isEmpty == true { nextWaitersBySession[waiter.session] = nil }
        }
        return waiter.continuation
    }

    /// The `event.from` calls that a committed write concerns, removed from the registry.
    mutating func collectWakeups(changes: [PendingEffects.Changed]) -> [EventWakeup] {
        guard !waiters.isEmpty, !changes.isEmpty else { return [] }
        var woken = fromWaitersForAll
        for change in changes {
            if let ids = fromWaitersByTable[change.table] {
                for id in ids where waiters[id]?.subscription?.matches(table: change.table, ref: change.ref) == true {
                    woken.insert(id)
                }
            }
        }
        return woken.compactMap { id in unpark(id: id).map { EventWakeup(continuation: $0, reason: .changed) } }
    }

    /// A session ended: its parked calls fail with SESSION_INVALID and its `next` subscription goes.
    mutating func invalidateSession(_ session: String) {
        next.unsubscribeAll(session: session)
        for id in waitersBySession[session] ?? [] {
            if let continuation = unpark(id: id) {
                ready.append(EventWakeup(continuation: continuation, reason: .sessionInvalid))
            }
        }
    }

    mutating func resolveEarly(id: UInt64, reason: WakeReason) {
        earlyResolutions[id] = reason
    }

    mutating func takeEarlyResolution(id: UInt64) -> WakeReason? {
        earlyResolutions.removeValue(forKey: id)
    }

    mutating func drainWakeups() -> [EventWakeup] {
        defer { ready = [] }
        return ready
    }

    // MARK: event.next

    func wantsNextEvents(table: Int) -> Bool { next.anySubscriber(for: table) }

    mutating func recordNextEvent(_ kind: ChangeKind, table: Int, ref: String, className: String, snapshot: Structure) {
        next.enqueue(kind, table: table, ref: ref, className: className, snapshot: snapshot)
        // Wake only the readers whose subscription this event matches.
        let sessions = nextWaitersBySession.filter { next.isSubscribed(session: $0.key, table: table, ref: ref) }
        for id in sessions.values.joined() {
            if let continuation = unpark(id: id) {
                ready.append(EventWakeup(continuation: continuation, reason: .changed))
            }
        }
    }

    mutating func parkNext(id: UInt64, continuation: CheckedContinuation<WakeReason, Never>, session: String) {
        waiters[id] = Waiter(continuation: continuation, session: session, subscription: nil)
        waitersBySession[session, default: []].insert(id)
        nextWaitersBySession[session, default: []].insert(id)
    }
}
