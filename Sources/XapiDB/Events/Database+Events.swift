import Synchronization
import Timing

/// The blocking halves of the event API. A parked call holds no thread: it is a continuation in
/// the event registry, resumed by the write that concerns it, by its session ending, by its
/// timer, or by task cancellation (graceful shutdown).
extension Database {
    /// Parks until something `subscription` covers changes after `generation`, the session is
    /// deleted, `deadline` passes, or the task is cancelled. An empty `session` is the server's
    /// own watcher (no session to lose).
    public func waitForChange(session: String, subscription: Subscription, after generation: Int64,
                              deadline: Duration?) async -> WakeReason {
        let id = makeWaiterID()
        return await park(id: id, deadline: deadline) { s, continuation in
            if s.hasChanges(after: generation, matching: subscription) { return .changed }
            if !session.isEmpty, !s.contains(s.events.sessionTable, session) { return .sessionInvalid }
            s.events.parkFrom(id: id, continuation: continuation, session: session, subscription: subscription)
            return nil
        }
    }

    /// `event.next`: takes the session's pending events, parking (without timeout) while there
    /// are none. Throws SESSION_NOT_REGISTERED, EVENTS_LOST or SESSION_INVALID like xapi.
    public func nextEvents(session: String) async throws(XapiError) -> [Value] {
        while true {
            let grab = state.withLock { $0.events.next.grab(session: session) }
            switch grab {
            case .notRegistered:
                throw .sessionNotRegistered(handle: "trackid=" + MD5.hex(of: session))
            case .eventsLost:
                throw .eventsLost
            case .events(let events):
                return events
            case .empty(let current):
                let id = makeWaiterID()
                let reason = await park(id: id, deadline: nil) { s, continuation in
                    if !s.contains(s.events.sessionTable, session) { return .sessionInvalid }
                    if s.events.next.currentID != current { return .changed }
                    s.events.parkNext(id: id, continuation: continuation, session: session)
                    return nil
                }
                switch reason {
                case .changed: continue
                case .sessionInvalid: throw .sessionInvalid(session)
                case .timedOut, .cancelled: return []
                }
            }
        }
    }

    public func registerEvents(session: String, classes: [String]) {
        let subscription = Subscription(classes, model: model)
        state.withLock { $0.events.next.register(session: session, subscription) }
    }

    public func unregisterEvents(session: String, classes: [String]) {
        let model = self.model
        state.withLock { $0.events.next.unregister(session: session, classes, model: model) }
    }

    /// `event.get_current_id`: the `event.next` counter.
    public var currentEventID: Int64 { state.withLock { $0.events.next.currentID } }

    /// Bounds the `event.next` queue (bytes of serialised events).
    public func setNextQueueLimit(bytes: Int) {
        state.withLock { $0.events.next.maxBytes = bytes }
    }

    /// Queues a synthetic `mod` of an object for `event.next` readers without changing it: xapi's
    /// 30 s pool heartbeat.
    public func announceHeartbeat(table: Int, ref: String) {
        let effects = state.withLock { s -> PendingEffects in
            if s.events.wantsNextEvents(table: table), let row = s.tables[table].rows[ref] {
                s.events.recordNextEvent(.mod, table: table, ref: ref, className: s.model.classes[table].eventName,
                                         snapshot: s.record(of: row, table: table))
            }
            return PendingEffects(changed: [], wakeups: s.events.drainWakeups())
        }
        apply(effects)
    }

    /// At shutdown: answers every parked `event.from`/`event.next` call and makes later ones
    /// return at once, so the HTTP server can drain without waiting out long-polls.
    public func closeEventWaits() {
        let wakeups = state.withLock { $0.events.close() }
        for wakeup in wakeups { wakeup.run() }
    }

    /// Number of parked `event.from`/`event.next` calls (diagnostics and metrics).
    public var parkedEventCalls: Int { state.withLock { $0.events.parkedCount } }

    /// Registers a continuation under `id` unless `register` resolves the wait at once, and
    /// arranges for the deadline and for task cancellation to resume it. Whichever comes first
    /// wins; the others find nothing to resume.
    private func park(id: UInt64, deadline: Duration?,
                      _ register: @Sendable (inout DatabaseState, CheckedContinuation<WakeReason, Never>) -> WakeReason?) async -> WakeReason {
        let timer = deadline.map { deadline in
            deadlines.schedule(at: deadline) { [weak self] in self?.resumeParked(id: id, reason: .timedOut) }
        }
        defer { if let timer { deadlines.cancel(timer) } }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<WakeReason, Never>) in
                let immediate = state.withLock { s -> WakeReason? in
                    if let early = s.events.takeEarlyResolution(id: id) { return early }
                    if s.events.closed { return .cancelled }
                    return register(&s, continuation)
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            resumeParked(id: id, reason: .cancelled)
        }
    }

    /// Resumes a parked call, or records the outcome if it has not parked yet.
    private func resumeParked(id: UInt64, reason: WakeReason) {
        let continuation = state.withLock { s -> CheckedContinuation<WakeReason, Never>? in
            if let continuation = s.events.unpark(id: id) { return continuation }
            s.events.resolveEarly(id: id, reason: reason)
            return nil
        }
        continuation?.resume(returning: reason)
    }
}
