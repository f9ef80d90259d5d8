import Wire
import Logging
import Synchronization

/// Workers serving one `WorkQueues` (xenopsd's `WorkerPool` for one redirector). Each worker is
/// an async task: pop (suspending while idle), run, release the tag, report. The pool can grow or
/// shrink while running; a surplus worker leaves after its current item.
final class WorkerPool<Item: QueueItem>: Sendable {
    enum WorkerState: Sendable {
        case idle
        case processing(Item)
        case shutdownRequested
        case shutdown
    }

    private struct State {
        var workers: [Int: WorkerState] = [:]
        var nextWorker = 0
        var spawner: AsyncStream<Int>.Continuation?
        var pendingSpawns: [Int] = []
    }

    private let state = Mutex(State())
    let queues: WorkQueues<Item>
    private let gate: PriorityGate
    private let execute: @Sendable (Item) async -> Void
    private let finally: @Sendable (Item) -> Void
    private let logger: Logger
    /// Task id of the item a worker runs, for diagnostics.
    private let taskOf: @Sendable (Item) -> String?

    init(
        queues: WorkQueues<Item>, size: Int, gate: PriorityGate = PriorityGate(), logger: Logger,
        taskOf: @escaping @Sendable (Item) -> String? = { _ in nil },
        execute: @escaping @Sendable (Item) async -> Void,
        finally: @escaping @Sendable (Item) -> Void = { _ in }
    ) {
        self.queues = queues
        self.gate = gate
        queues.limitBackground(to: min(size - 1, gate.idleLimit))
        self.execute = execute
        self.finally = finally
        self.logger = logger
        self.taskOf = taskOf
        state.withLock { state in
            for _ in 0..<max(0, size) {
                state.pendingSpawns.append(state.nextWorker)
                state.workers[state.nextWorker] = .idle
                state.nextWorker += 1
            }
        }
    }

    /// Runs the workers until the calling task is cancelled.
    func run() async {
        let (spawns, continuation) = AsyncStream.makeStream(of: Int.self)
        let initial = state.withLock { state -> [Int] in
            state.spawner = continuation
            defer { state.pendingSpawns = [] }
            return state.pendingSpawns
        }
        for worker in initial { continuation.yield(worker) }
        await withDiscardingTaskGroup { group in
            for await worker in spawns {
                group.addTask { await self.work(worker) }
            }
            group.cancelAll()
        }
        state.withLock { $0.spawner = nil }
    }

    /// xenopsd's `set_size`.
    func setSize(_ size: Int) {
        queues.limitBackground(to: min(size - 1, gate.idleLimit))
        let (spawn, release, spawner) = state.withLock { state -> ([Int], [Int], AsyncStream<Int>.Continuation?) in
            let active = state.workers.filter {
                if case .shutdownRequested = $0.value { return false }
                if case .shutdown = $0.value { return false }
                return true
            }.keys.sorted()
            var spawn: [Int] = []
            var release: [Int] = []
            if size > active.count {
                for _ in active.count..<size {
                    spawn.append(state.nextWorker)
                    state.workers[state.nextWorker] = .idle
                    state.nextWorker += 1
                }
            } else {
                for worker in active.suffix(active.count - max(0, size)) {
                    state.workers[worker] = .shutdownRequested
                    release.append(worker)
                }
            }
            if state.spawner == nil { state.pendingSpawns += spawn }
            return (spawn, release, state.spawner)
        }
        if let spawner { for worker in spawn { spawner.yield(worker) } }
        for worker in release { queues.release(worker: worker) }
    }

    var size: Int {
        state.withLock { state in
            state.workers.values.filter {
                if case .shutdown = $0 { return false }
                if case .shutdownRequested = $0 { return false }
                return true
            }.count
        }
    }

    /// `[{"state": "Idle" | ["Processing", op] | "Shutdown_requested" | "Shutdown", "task": id}]`.
    func dump() -> JSON {
        let workers = state.withLock { $0.workers.sorted { $0.key < $1.key } }
        return .array(workers.map { _, worker in
            switch worker {
            case .idle: .object(["state": .string("Idle"), "task": .null])
            case .processing(let item):
                .object(["state": .array([.string("Processing"), item.description]), "task": taskOf(item).map(JSON.string) ?? .null])
            case .shutdownRequested: .object(["state": .string("Shutdown_requested"), "task": .null])
            case .shutdown: .object(["state": .string("Shutdown"), "task": .null])
            }
        })
    }

    private func isLeaving(_ worker: Int) -> Bool {
        state.withLock {
            if case .shutdownRequested = $0.workers[worker] { return true }
            return false
        }
    }

    private func work(_ worker: Int) async {
        while !Task.isCancelled && !isLeaving(worker) {
            guard let (tag, item) = await queues.pop(worker: worker) else { break }
            state.withLock { state in
                if case .shutdownRequested = state.workers[worker] { return }
                state.workers[worker] = .processing(item)
            }
            // Requested operations are foreground; so is a check an operation is queued behind.
            // Other checks are background: `PriorityGate` holds them while foreground work
            // runs and otherwise lets few run at once.
            if item.coalescingKey == nil || queues.requestedQueued(behind: tag) {
                await gate.foreground(key: tag) { await execute(item) }
            } else {
                await gate.background(key: tag) { await execute(item) }
            }
            queues.finished(tag: tag)
            finally(item)
            state.withLock { state in
                if case .processing = state.workers[worker] { state.workers[worker] = .idle }
            }
        }
        state.withLock { $0.workers[worker] = .shutdown }
        logger.trace("worker stopped", metadata: ["queues": "\(queues.name)", "worker": "\(worker)"])
    }
}
