import Wire
import DequeModule
import Logging
import Synchronization
import Timing

/// A task's state (xenopsd's `Task.state`).
public enum TaskState: Sendable, Hashable {
    case pending(progress: Double)
    case completed(duration: Double, result: String?)
    case failed(XenopsError)

    var json: JSON {
        switch self {
        case .pending(let progress): .array([.string("Pending"), .double(progress)])
        case .completed(let duration, let result):
            .array([.string("Completed"), .object(["duration": .double(duration), "result": result.map(JSON.string) ?? .null])])
        case .failed(let error): .array([.string("Failed"), error.json])
        }
    }
}

/// `TASK.stat`'s record (xenopsd's `Task.t`).
public struct TaskRecord: Sendable, Hashable {
    public struct Subtask: Sendable, Hashable {
        public var name: String
        public var state: TaskState
    }

    public var id: String
    public var dbg: String
    /// Seconds since the epoch.
    public var ctime: Double
    public var state: TaskState
    public var subtasks: [Subtask]
    /// Always holds `cancel_points_seen`.
    public var debugInfo: [String: String]
    public var backtrace: String
    public var cancellable: Bool

    var json: JSON {
        .object([
            "id": .string(id), "dbg": .string(dbg), "ctime": .double(ctime), "state": state.json,
            "subtasks": .array(subtasks.map { .array([.string($0.name), $0.state.json]) }),
            "debug_info": .object(debugInfo.sorted { $0.key < $1.key }.map { JSON.Member($0.key, .string($0.value)) }),
            "cancellable": .bool(cancellable),
        ])
    }
}

/// The task table (xenopsd's `Task_server`): ids from a counter starting at 0, progress,
/// completion, cancellation at cancel points, destroy. Every state change is signalled as a
/// `Task` id in the external `Updates`, which is how xapi mirrors progress.
///
/// Bounded where xenopsd is not: a finished task nobody destroys is destroyed after
/// `retention`, or when more than `finishedLimit` finished tasks are kept.
final class TaskTable: Sendable {
    private struct Entry {
        var record: TaskRecord
        var startedAt: Duration
        var cancelling = false
        var cancelPointsSeen = 0
        var cancelTrigger: Int?
        var destroyOnFinish = false
        var cancelCallbacks: [UInt64: @Sendable () -> Void] = [:]
        var finishWaiters: [UInt64: CheckedContinuation<TaskWaitOutcome, Never>] = [:]
        var finished = false
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var nextID = 0
        var nextCallback: UInt64 = 0
        /// Waiters between registration and suspension (true once their timeout has passed).
        var unsettledWaiters: [UInt64: Bool] = [:]
        /// Finished tasks in finishing order, for expiry.
        var finishedOrder: Deque<(at: Duration, id: String)> = []
        /// Test hook (xenopsd's `set_cancel_trigger`): tasks with this dbg cancel themselves at
        /// their n-th cancel point.
        var cancelTriggers: [String: Int] = [:]
    }

    private let state = Mutex(State())
    let updates: Updates
    let clock: any ServerClock
    let retention: Duration
    let finishedLimit: Int
    private let logger: Logger

    init(updates: Updates, clock: any ServerClock, retention: Duration, finishedLimit: Int, logger: Logger) {
        self.updates = updates
        self.clock = clock
        self.retention = retention
        self.finishedLimit = finishedLimit
        self.logger = logger
    }

    // MARK: lifecycle

    func add(dbg: String) -> TaskHandle {
        let now = clock.now
        let wall = clock.wallTime
        let (id, expired) = state.withLock { state -> (String, [String]) in
            let id = String(state.nextID)
            state.nextID += 1
            var entry = Entry(
                record: TaskRecord(id: id, dbg: dbg, ctime: wall, state: .pending(progress: 0), subtasks: [],
                                   debugInfo: ["cancel_points_seen": "0"], backtrace: "", cancellable: true),
                startedAt: now)
            entry.cancelTrigger = state.cancelTriggers[dbg]
            state.entries[id] = entry
            return (id, Self.expire(&state, now: now, retention: retention, limit: finishedLimit))
        }
        forget(expired)
        return TaskHandle(id: id, table: self)
    }

    func setProgress(_ id: String, _ progress: Double) {
        let changed = state.withLock { state -> Bool in
            guard var entry = state.entries[id], !entry.finished else { return false }
            entry.record.state = .pending(progress: min(1, max(0, progress)))
            state.entries[id] = entry
            return true
        }
        if changed { updates.add(.task(id)) }
    }

    /// Completed or Failed, with the duration since creation; destroys the task if asked to.
    func finish(_ id: String, _ outcome: Result<String?, XenopsError>) {
        let now = clock.now
        let (waiters, record, destroyed) = state.withLock {
            state -> ([CheckedContinuation<TaskWaitOutcome, Never>], TaskRecord?, Bool) in
            guard var entry = state.entries[id], !entry.finished else { return ([], nil, false) }
            entry.finished = true
            switch outcome {
            case .success(let result): entry.record.state = .completed(duration: (now - entry.startedAt).seconds, result: result)
            case .failure(let error): entry.record.state = .failed(error)
            }
            let waiters = Array(entry.finishWaiters.values)
            entry.finishWaiters = [:]
            entry.cancelCallbacks = [:]
            if entry.destroyOnFinish {
                state.entries[id] = nil
                return (waiters, entry.record, true)
            }
            state.entries[id] = entry
            state.finishedOrder.append((now, id))
            return (waiters, entry.record, false)
        }
        if destroyed { updates.remove(.task(id)) } else if record != nil { updates.add(.task(id)) }
        if let record { for waiter in waiters { waiter.resume(returning: .finished(record)) } }
    }

    /// Suspends until the task finishes, is destroyed, or `timeout` passes.
    func waitFinished(_ id: String, timeout: Duration? = nil, scheduler: Deadlines? = nil) async -> TaskWaitOutcome {
        let waiter = state.withLock { state -> UInt64 in
            state.nextCallback += 1
            state.unsettledWaiters[state.nextCallback] = false
            return state.nextCallback
        }
        let timer = timeout.flatMap { timeout in
            scheduler?.schedule(after: timeout, "TASK \(id) wait") { [weak self] in self?.expireWaiter(id, waiter) }
        }
        defer { if let timer { scheduler?.cancel(timer) } }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
            let immediate = state.withLock { state -> TaskWaitOutcome? in
                if state.unsettledWaiters.removeValue(forKey: waiter) == true { return .timedOut }
                guard var entry = state.entries[id] else { return .destroyed }
                if entry.finished { return .finished(entry.record) }
                entry.finishWaiters[waiter] = continuation
                state.entries[id] = entry
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            self.expireWaiter(id, waiter)
        }
    }

    private func expireWaiter(_ id: String, _ waiter: UInt64) {
        let continuation = state.withLock { state -> CheckedContinuation<TaskWaitOutcome, Never>? in
            if let continuation = state.entries[id]?.finishWaiters.removeValue(forKey: waiter) { return continuation }
            if state.unsettledWaiters[waiter] != nil { state.unsettledWaiters[waiter] = true }
            return nil
        }
        continuation?.resume(returning: .timedOut)
    }

    // MARK: API

    func stat(_ id: String) throws(XenopsError) -> TaskRecord {
        guard let record = state.withLock({ $0.entries[id]?.record }) else { throw .doesNotExist(kind: "task", id: id) }
        return record
    }

    func list() -> [TaskRecord] {
        state.withLock { $0.entries.values.map(\.record) }.sorted { (Int($0.id) ?? 0) < (Int($1.id) ?? 0) }
    }

    /// Removes the task (a running operation carries on) and its `Task` entry in Updates.
    func destroy(_ id: String) throws(XenopsError) {
        let waiters = try state.withLock { state throws(XenopsError) -> [CheckedContinuation<TaskWaitOutcome, Never>] in
            guard let entry = state.entries.removeValue(forKey: id) else { throw .doesNotExist(kind: "task", id: id) }
            return Array(entry.finishWaiters.values)
        }
        updates.remove(.task(id))
        for waiter in waiters { waiter.resume(returning: .destroyed) }
    }

    func setDestroyOnFinish(_ id: String) throws(XenopsError) {
        let finished = try state.withLock { state throws(XenopsError) -> Bool in
            guard state.entries[id] != nil else { throw .doesNotExist(kind: "task", id: id) }
            state.entries[id]!.destroyOnFinish = true
            return state.entries[id]!.finished
        }
        if finished { try destroy(id) }
    }

    /// Asks the task to stop: it fails with `Cancelled` at its next cancel point, and whatever
    /// it waits on is interrupted. A task in a non-cancellable phase only logs.
    func cancel(_ id: String) throws(XenopsError) {
        let callbacks = try state.withLock { state throws(XenopsError) -> [@Sendable () -> Void] in
            guard var entry = state.entries[id] else { throw .doesNotExist(kind: "task", id: id) }
            guard entry.record.cancellable, !entry.finished else { return [] }
            entry.cancelling = true
            state.entries[id] = entry
            return Array(entry.cancelCallbacks.values)
        }
        if callbacks.isEmpty, (try? stat(id))?.cancellable == false {
            logger.info("task is not cancellable", metadata: ["task": "\(id)"])
        }
        for callback in callbacks { callback() }
    }

    /// A cancel point: throws `Cancelled` if the task was asked to stop.
    func checkCancelling(_ id: String) throws(XenopsError) {
        let cancelled = state.withLock { state -> Bool in
            guard var entry = state.entries[id] else { return false }
            entry.cancelPointsSeen += 1
            entry.record.debugInfo["cancel_points_seen"] = String(entry.cancelPointsSeen)
            if entry.cancelTrigger == entry.cancelPointsSeen, entry.record.cancellable { entry.cancelling = true }
            state.entries[id] = entry
            return entry.cancelling
        }
        if cancelled { throw .cancelled(task: id) }
    }

    func isCancelling(_ id: String) -> Bool { state.withLock { $0.entries[id]?.cancelling ?? false } }

    /// From here on `cancel` is refused (a domain is about to suspend).
    func prohibitCancellation(_ id: String) {
        let known = state.withLock { state -> Bool in
            guard state.entries[id] != nil else { return false }
            state.entries[id]!.record.cancellable = false
            return true
        }
        if known { updates.add(.task(id)) }
    }

    /// Registers something to interrupt when the task is cancelled; runs it at once if the task
    /// is already cancelling. Returns a token for `removeCancelCallback`.
    func onCancel(_ id: String, _ callback: @escaping @Sendable () -> Void) -> UInt64? {
        let (token, already) = state.withLock { state -> (UInt64?, Bool) in
            guard state.entries[id] != nil else { return (nil, false) }
            state.nextCallback += 1
            state.entries[id]!.cancelCallbacks[state.nextCallback] = callback
            return (state.nextCallback, state.entries[id]!.cancelling)
        }
        if already { callback() }
        return token
    }

    func removeCancelCallback(_ id: String, _ token: UInt64?) {
        guard let token else { return }
        state.withLock { _ = $0.entries[id]?.cancelCallbacks.removeValue(forKey: token) }
    }

    /// Records a named phase of the task in `subtasks` (xenopsd's `with_subtask`).
    func beginSubtask(_ id: String, _ name: String) {
        state.withLock { state in
            state.entries[id]?.record.subtasks.append(.init(name: name, state: .pending(progress: 0)))
        }
    }

    func endSubtask(_ id: String, _ name: String, _ outcome: Result<Void, XenopsError>, duration: Duration) {
        state.withLock { state in
            guard let index = state.entries[id]?.record.subtasks.lastIndex(where: { $0.name == name }) else { return }
            state.entries[id]!.record.subtasks[index].state = switch outcome {
            case .success: .completed(duration: duration.seconds, result: nil)
            case .failure(let error): .failed(error)
            }
        }
    }

    /// Test hook: the next tasks created with `dbg` cancel themselves at their `n`-th cancel point.
    func setCancelTrigger(dbg: String, at n: Int?) {
        state.withLock { $0.cancelTriggers[dbg] = n }
    }

    var count: Int { state.withLock { $0.entries.count } }

    // MARK: expiry

    private static func expire(_ state: inout State, now: Duration, retention: Duration, limit: Int) -> [String] {
        var expired: [String] = []
        while let first = state.finishedOrder.first,
              first.at + retention <= now || state.finishedOrder.count > limit {
            state.finishedOrder.removeFirst()
            if let entry = state.entries[first.id], entry.finished {
                state.entries[first.id] = nil
                expired.append(first.id)
            }
        }
        return expired
    }

    private func forget(_ expired: [String]) {
        guard !expired.isEmpty else { return }
        logger.debug("finished tasks expired without TASK.destroy", metadata: ["tasks": "\(expired)"])
        for id in expired { updates.remove(.task(id)) }
    }
}

/// How a wait for a task ended.
enum TaskWaitOutcome: Sendable {
    case finished(TaskRecord)
    case destroyed
    case timedOut
}

/// The running task an operation reports to.
struct TaskHandle: Sendable {
    let id: String
    let table: TaskTable

    func checkCancelling() throws(XenopsError) { try table.checkCancelling(id) }
    func setProgress(_ progress: Double) { table.setProgress(id, progress) }

    /// Runs `body` (which must end when its Swift task is cancelled) until it returns, or until
    /// `TASK.cancel` interrupts it (xenopsd's cancellable waits): nil then.
    func interruptible<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T? {
        let (interrupt, trigger) = AsyncStream.makeStream(of: Void.self)
        let token = table.onCancel(id) { trigger.finish() }
        defer { table.removeCancelCallback(id, token) }
        return await withTaskGroup(of: Interruptible<T>.self) { group in
            group.addTask { .value(await body()) }
            group.addTask {
                for await _ in interrupt {}
                return .interrupted
            }
            let first = await group.next() ?? .interrupted
            group.cancelAll()
            trigger.finish()
            if case .value(let value) = first { return value }
            return nil
        }
    }
}

private enum Interruptible<T: Sendable>: Sendable {
    case value(T)
    case interrupted
}
