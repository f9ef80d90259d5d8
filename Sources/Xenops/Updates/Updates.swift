public import Logging
import Synchronization
public import Timing

/// A last-modified table with barriers and blocking reads (xenopsd's `Updates`), shared by its
/// writers (watch callbacks, workers, the task table) and its readers (xapi's events loop, task
/// waiters, xenopsd's internal event loop).
///
/// Differences from xenopsd, where its design costs:
/// * `get` costs O(log n + k) in the k entries newer than `from` (see `StampLog`), not a scan
///   and sort of the table.
/// * Waiting readers are continuations, not threads on a condition variable, and a mutation
///   wakes only the readers it gives something to (an `add` or a barrier newer than their token;
///   a `remove` wakes nobody). A woken reader gets its batch computed under the lock at the time
///   of the wake-up, so it never loops.
/// * Barriers are bounded (`barrierLimit`, oldest dropped with a warning); task entries leave with
///   their tasks (the task table expires finished tasks nobody destroys).
public final class Updates: Sendable {
    private enum Waiter {
        /// Registered by `get` before it suspends; a timeout or cancellation that arrives in
        /// between marks it so the suspension returns at once.
        case pending(from: Int)
        case expired
        case waiting(from: Int, CheckedContinuation<UpdatesBatch, Never>, Deadlines.TimerID?)
    }

    private struct State {
        var recorder = UpdateRecorder()
        var waiters: [UInt64: Waiter] = [:]
        var nextWaiter: UInt64 = 0
        var wakeups = 0
        var adds = 0
    }

    private let state = Mutex(State())
    /// Readers' timeouts (shared with the engine's other timers in `Xenops`).
    let scheduler: Deadlines
    private let logger: Logger
    /// The most barriers kept at once.
    public let barrierLimit: Int
    let name: String

    public convenience init(clock: any ServerClock = SystemClock(), barrierLimit: Int = 4096, logger: Logger) {
        self.init(name: "updates", scheduler: Deadlines(clock: clock), barrierLimit: barrierLimit, logger: logger)
    }

    init(name: String, scheduler: Deadlines, barrierLimit: Int = 4096, logger: Logger) {
        self.name = name
        self.scheduler = scheduler
        self.barrierLimit = barrierLimit
        self.logger = logger
    }

    // MARK: writers

    /// Marks `id` as changed now (coalescing with any earlier mark).
    public func add(_ id: Dynamic) {
        let woken = state.withLock { state -> [(CheckedContinuation<UpdatesBatch, Never>, UpdatesBatch, Deadlines.TimerID?)] in
            let stamp = state.recorder.add(id)
            state.adds += 1
            return Self.wake(&state, newStamp: stamp)
        }
        resume(woken)
    }

    /// Forgets `id` (its object was removed). Nobody is woken: there is nothing to read.
    public func remove(_ id: Dynamic) {
        state.withLock { $0.recorder.remove(id) }
    }

    /// Keeps only the ids satisfying `keep`.
    public func filter(_ keep: (Dynamic) -> Bool) {
        state.withLock { $0.recorder.filter(keep) }
    }

    /// A barrier for `vm`: its snapshot holds the VM's own current entries (VM and devices, not
    /// tasks). Readers get it, before ordinary updates, until `removeBarrier(id)`.
    public func injectBarrier(_ id: Int, vm: String) {
        inject { $0.injectBarrier(id, vm: vm) }
    }

    /// A barrier whose snapshot holds every entry satisfying `matching`.
    public func injectBarrier(_ id: Int, matching: (Dynamic) -> Bool) {
        inject { $0.injectBarrier(id, matching: matching) }
    }

    private func inject(_ body: (inout UpdateRecorder) -> Void) {
        let (woken, dropped) = state.withLock { state in
            body(&state.recorder)
            let stamp = state.recorder.lastID
            let dropped = state.recorder.trimBarriers(to: barrierLimit)
            return (Self.wake(&state, newStamp: stamp), dropped)
        }
        if !dropped.isEmpty {
            logger.warning("barrier limit reached; oldest barriers dropped", metadata: [
                "table": "\(name)", "dropped": "\(dropped)",
            ])
        }
        resume(woken)
    }

    public func removeBarrier(_ id: Int) {
        state.withLock { $0.recorder.removeBarrier(id) }
    }

    /// The stamp of the newest mutation of any kind (xenopsd's `last_id`).
    public var lastID: Int { state.withLock { $0.recorder.lastID } }

    // MARK: readers

    /// Everything newer than `from` (nil = everything); suspends while there is nothing, up to
    /// `timeout` (nil = forever). On timeout, or when the calling task is cancelled, returns an
    /// empty batch whose token is `from`. A zero timeout never suspends.
    public func get(from: Int?, timeout: Duration?) async -> UpdatesBatch {
        let from = from ?? 0
        enum Start { case answer(UpdatesBatch), wait(UInt64) }
        // Decided under one lock: news that a removal undid in between would otherwise give
        // an empty answer before the timeout.
        let start = state.withLock { state -> Start in
            if timeout == .zero || state.recorder.hasNews(after: from) {
                let batch = state.recorder.get(from: from)
                if !batch.isEmpty || timeout == .zero { return .answer(batch) }
            }
            state.nextWaiter += 1
            state.waiters[state.nextWaiter] = .pending(from: from)
            return .wait(state.nextWaiter)
        }
        let id: UInt64
        switch start {
        case .answer(let batch): return batch
        case .wait(let waiter): id = waiter
        }
        let timer = timeout.map { timeout in
            scheduler.schedule(after: timeout, "\(name).get timeout (from \(from))") { [weak self] in self?.expire(id) }
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let immediate = state.withLock { state -> UpdatesBatch? in
                    switch state.waiters[id] {
                    case .pending:
                        let batch = state.recorder.get(from: from)
                        if !batch.isEmpty {
                            state.waiters[id] = nil
                            return batch
                        }
                        state.waiters[id] = .waiting(from: from, continuation, timer)
                        return nil
                    case .expired, .none, .waiting:
                        state.waiters[id] = nil
                        return UpdatesBatch(barriers: [], updates: [], next: from)
                    }
                }
                if let immediate {
                    if let timer { scheduler.cancel(timer) }
                    continuation.resume(returning: immediate)
                }
            }
        } onCancel: {
            self.expire(id)
        }
    }

    /// Timeout or cancellation of a reader: it returns with nothing new.
    private func expire(_ id: UInt64) {
        let action = state.withLock { state -> (CheckedContinuation<UpdatesBatch, Never>, Int, Deadlines.TimerID?)? in
            switch state.waiters[id] {
            case .pending:
                state.waiters[id] = .expired
                return nil
            case .waiting(let from, let continuation, let timer):
                state.waiters[id] = nil
                return (continuation, from, timer)
            case .expired, .none:
                return nil
            }
        }
        if let (continuation, from, timer) = action {
            if let timer { scheduler.cancel(timer) }
            continuation.resume(returning: UpdatesBatch(barriers: [], updates: [], next: from))
        }
    }

    /// Readers that gain from a mutation stamped `newStamp` (those whose token is older), each
    /// with its batch computed now.
    private static func wake(_ state: inout State, newStamp: Int)
        -> [(CheckedContinuation<UpdatesBatch, Never>, UpdatesBatch, Deadlines.TimerID?)]
    {
        guard !state.waiters.isEmpty else { return [] }
        var woken: [(CheckedContinuation<UpdatesBatch, Never>, UpdatesBatch, Deadlines.TimerID?)] = []
        var done: [UInt64] = []
        for (id, waiter) in state.waiters {
            guard case .waiting(let from, let continuation, let timer) = waiter, from < newStamp else { continue }
            let batch = state.recorder.get(from: from)
            guard !batch.isEmpty else { continue }
            done.append(id)
            woken.append((continuation, batch, timer))
        }
        for id in done { state.waiters[id] = nil }
        state.wakeups += woken.count
        return woken
    }

    private func resume(_ woken: [(CheckedContinuation<UpdatesBatch, Never>, UpdatesBatch, Deadlines.TimerID?)]) {
        for (continuation, batch, timer) in woken {
            if let timer { scheduler.cancel(timer) }
            continuation.resume(returning: batch)
        }
    }

    // MARK: introspection

    public func dump() -> UpdatesDump { state.withLock { $0.recorder.dump() } }

    /// Entries, barriers, suspended readers, reader wake-ups so far, and approximate bytes held.
    public var statistics: UpdatesStatistics {
        state.withLock { state in
            var suspended = 0
            for waiter in state.waiters.values { if case .waiting = waiter { suspended += 1 } }
            return UpdatesStatistics(
                entries: state.recorder.count, barriers: state.recorder.barriers.count,
                waitingReaders: suspended, wakeups: state.wakeups, adds: state.adds,
                approximateBytes: state.recorder.approximateBytes)
        }
    }
}

public struct UpdatesStatistics: Sendable, Hashable {
    /// Ids in the table now.
    public var entries: Int
    public var barriers: Int
    /// Readers suspended in `get`.
    public var waitingReaders: Int
    /// Readers resumed by a change, in total.
    public var wakeups: Int
    /// `add` calls in total (signals, before coalescing).
    public var adds: Int
    /// Rough bytes held by the table.
    public var approximateBytes: Int
}
