public import Wire
public import Logging
public import ServiceLifecycle
import Synchronization
public import Timing
public import Xenstore

/// The in-process xenopsd.
///
///     let store = XenstoreDaemon(logger: logger)
///     let machine = SimulatedHypervisor(store: store, logger: logger)   // module Simulator
///     let xenops = Xenops(store: store, hypervisor: machine, logger: logger)
///     // run `xenops` in the ServiceGroup (or `try await xenops.run()` in a task)
///     await xenops.waitUntilRunning()
///     xenops.vm.importMetadata(VMMetadata(vm: config, vbds: [...], vifs: [...]))
///     let start = xenops.vm.start(uuid)                      // task id; the domain stays paused
///     let unpause = xenops.vm.unpause(uuid)                  // queued behind it, as xapi does
///     let batch = await xenops.updates.get(from: token, timeout: .seconds(30))
///
/// API calls mirror xenopsd's IDL: synchronous ones return at once, queued ones return a task id
/// and run on the VM's queue. What changed is signalled as ids in `updates`; callers read the
/// current state with `stat`. `run()` starts the workers, the xenstore watcher, the internal
/// event loop and the hypervisor's own work, and stops them all on cancellation or graceful shutdown.
public final class Xenops: Service {
    let engine: Engine
    let metadata: MetadataStore
    let backend: DomainBackend
    let tasks: TaskTable
    let watcher: XenstoreWatcher
    let scheduler: Deadlines
    let table: Updates
    let internalUpdates: Updates
    let configuration: XenopsConfiguration
    let logger: Logger
    private let pools: Pools
    private let readiness = Readiness()
    /// Requested operations are foreground, checks background; the layer above puts its own
    /// API calls and other VMs' signals through the same gate.
    public let priority: PriorityGate

    public let hypervisor: any Hypervisor

    private struct Pools: Sendable {
        let operations: WorkerPool<WorkItem>
        let parallel: WorkerPool<AtomItem>
        let nested: WorkerPool<AtomItem>
        /// `VM_receive_memory` only: a migration's source waits on its destination's receive,
        /// so receives must not wait for workers that migrations hold (xenopsd: CA-410782).
        let receive: WorkerPool<WorkItem>
    }

    /// `priority`: the gate to pace CPUs with; Xenops of hosts simulated in one process share
    /// one, since they share the CPUs (by default each has its own).
    public init(store: XenstoreDaemon, hypervisor: any Hypervisor,
                configuration: XenopsConfiguration = XenopsConfiguration(),
                clock: any ServerClock = SystemClock(), priority: PriorityGate? = nil, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        scheduler = Deadlines(clock: clock)
        // The gate paces CPUs, so its pauses are real time even when tests drive the engine's clock.
        let priority = priority ?? PriorityGate()
        self.priority = priority
        table = Updates(name: "updates", scheduler: scheduler, barrierLimit: configuration.barrierLimit, logger: logger)
        internalUpdates = Updates(name: "internal_updates", scheduler: scheduler, logger: logger)
        self.hypervisor = hypervisor
        metadata = MetadataStore()
        tasks = TaskTable(updates: table, clock: clock, retention: configuration.taskRetention,
                          finishedLimit: configuration.finishedTaskLimit, logger: logger)
        backend = DomainBackend(hypervisor: self.hypervisor, store: store, metadata: metadata,
                                configuration: configuration, clock: clock, logger: logger)
        watcher = XenstoreWatcher(store: store, hypervisor: self.hypervisor, metadata: metadata, backend: backend,
                                  internalUpdates: internalUpdates, updates: table, logger: logger)
        let engine = Engine(metadata: metadata, backend: backend, tasks: tasks, updates: table, scheduler: scheduler,
                            configuration: configuration, clock: clock, priority: priority, logger: logger)
        self.engine = engine
        let size = configuration.workerPoolSize
        pools = Pools(
            operations: WorkerPool(queues: engine.queues, size: size, gate: priority, logger: logger, taskOf: { $0.task.id },
                                   execute: { await engine.execute($0) }),
            parallel: WorkerPool(queues: engine.parallelQueues, size: size, gate: priority, logger: logger, taskOf: { $0.task.id },
                                 execute: { await engine.execute($0) }),
            nested: WorkerPool(queues: engine.nestedQueues, size: size, gate: priority, logger: logger, taskOf: { $0.task.id },
                               execute: { await engine.execute($0) }),
            receive: WorkerPool(queues: engine.receiveMemoryQueues, size: size, gate: priority, logger: logger,
                                taskOf: { $0.task.id }, execute: { await engine.execute($0) }))
    }

    // MARK: lifecycle

    /// Runs until cancelled or until graceful shutdown.
    public func run() async throws {
        backend.initialiseDom0()
        let ready = readiness
        ready.expect(2)
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.hypervisor.run(onReady: { ready.arrive() }) }
                group.addTask { await self.watcher.run(onReady: { ready.arrive() }) }
                group.addTask { await self.runInternalEvents() }
                group.addTask { await self.pools.operations.run() }
                group.addTask { await self.pools.parallel.run() }
                group.addTask { await self.pools.nested.run() }
                group.addTask { await self.pools.receive.run() }
            }
        }
        logger.info("xenops stopped")
    }

    /// Returns once `run()` has registered its watches, so no xenstore change can be missed.
    public func waitUntilRunning() async { await readiness.wait() }

    /// xenopsd's internal event thread (xen-api ocaml/xenopsd/lib/xenops_server.ml, `internal_event_thread_body`): backend signals become coalescing
    /// `*_check_state` operations on the VM's queue, their tasks destroyed at once.
    private func runInternalEvents() async {
        var token: Int?
        while !Task.isCancelled {
            let batch = await internalUpdates.get(from: token, timeout: nil)
            if Task.isCancelled { break }
            for id in batch.barriers.flatMap(\.updates) + batch.updates {
                let operation: Operation? = switch id {
                case .vm(let vm): .vmCheckState(vm)
                case .vbd(let device): .vbdCheckState(device)
                case .vif(let device): .vifCheckState(device)
                case .pci(let device): .pciCheckState(device)
                case .vgpu, .task: nil
                }
                guard let operation else { continue }
                guard metadata.exists(operation.vm) else {
                    logger.debug("event for an unknown VM", metadata: ["id": "\(id)"])
                    continue
                }
                engine.queueUntracked(operation, dbg: "events")
            }
            token = batch.next
        }
    }

    // MARK: API

    public var vm: VMOperations { VMOperations(xenops: self) }
    public var vbd: VBDOperations { VBDOperations(xenops: self, state: { [backend] in backend.vbdState($0, $1) }) }
    public var vif: VIFOperations {
        VIFOperations(xenops: self, state: { [backend] in backend.vifState($0, $1) }, prepare: MACAddress.assign)
    }
    public var pci: PCIOperations { PCIOperations(xenops: self, state: { [backend] in backend.pciState($0, $1) }) }
    public var vgpu: VGPUOperations { VGPUOperations(xenops: self, state: { [backend] in backend.vgpuState($0, $1) }) }
    public var task: TaskOperations { TaskOperations(xenops: self) }
    public var updates: UpdatesOperations { UpdatesOperations(xenops: self) }

    /// xenopsd's `HOST.set_worker_pool_size`: resizes each queue set's pool.
    public func setWorkerPoolSize(_ size: Int) {
        pools.operations.setSize(size)
        pools.parallel.setSize(size)
        pools.nested.setSize(size)
        pools.receive.setSize(size)
    }

    /// Counters for benchmarks and monitoring.
    public var statistics: XenopsStatistics {
        let counters = engine.queues.counters
        return XenopsStatistics(
            watchEvents: watcher.eventCount, internalUpdates: internalUpdates.statistics, updates: table.statistics,
            operationsQueued: counters.pushed, operationsCoalesced: counters.coalesced, queuedNow: engine.queues.length,
            tasks: tasks.count, scheduledTimers: scheduler.pendingCount)
    }

    /// `xenops-cli diagnostics` (ocaml/xenopsd/cli/xn.ml; xenops_server.ml's `Diagnostics`): queues (pending items per tag), workers (what
    /// each runs), scheduler (pending timeouts), updates (the table with its barriers), tasks,
    /// and each VM's domain action request.
    public func diagnostics() -> JSON {
        func queues<Item>(_ name: String, _ queues: WorkQueues<Item>) -> [JSON] {
            queues.snapshot().map { .object(["queue": .string(name), "tag": .string($0.tag), "works": .array($0.items.map(\.description))]) }
        }
        func workers(_ name: String, _ dump: JSON) -> [JSON] {
            guard case .array(let list) = dump else { return [] }
            return list.map { worker in
                guard case .object(let members) = worker else { return worker }
                return .object([JSON.Member("queue", .string(name))] + members)
            }
        }
        let actions: [JSON] = metadata.vmIDs().compactMap { id in
            guard let vm = try? metadata.vm(id) else { return nil }
            return .array([.string(id), backend.domainActionRequest(vm).map { .string($0.rawValue) } ?? .null])
        }
        return .object([
            "queues": .array(queues("default", engine.queues) + queues("parallel", engine.parallelQueues)
                + queues("nested_parallel", engine.nestedQueues) + queues("receive_memory", engine.receiveMemoryQueues)),
            "workers": .array(workers("default", pools.operations.dump()) + workers("parallel", pools.parallel.dump())
                + workers("nested_parallel", pools.nested.dump()) + workers("receive_memory", pools.receive.dump())),
            "scheduler": .array(scheduler.pending().map { timer in
                .object(["time": .double((timer.deadline - scheduler.clock.now).seconds), "thing": .string(timer.description)])
            }),
            "updates": table.dump().json,
            "tasks": .array(tasks.list().map(\.json)),
            "vm_actions": .array(actions),
        ])
    }
}

public struct XenopsStatistics: Sendable, Hashable {
    /// Xenstore watch events handled by the watcher.
    public var watchEvents: Int
    /// The backend-internal table the watcher signals into.
    public var internalUpdates: UpdatesStatistics
    /// The table xapi reads.
    public var updates: UpdatesStatistics
    /// Operations pushed onto VM queues, and those dropped as duplicate checks.
    public var operationsQueued: Int
    public var operationsCoalesced: Int
    /// Operations waiting now.
    public var queuedNow: Int
    public var tasks: Int
    public var scheduledTimers: Int
}

/// Counts components that have registered their watches.
private final class Readiness: Sendable {
    private struct State {
        var expected = Int.max
        var arrived = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func expect(_ count: Int) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.expected = count
            guard state.arrived >= count else { return [] }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func arrive() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.arrived += 1
            guard state.arrived >= state.expected else { return [] }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Bool in
                if state.arrived >= state.expected { return true }
                state.waiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }
}
