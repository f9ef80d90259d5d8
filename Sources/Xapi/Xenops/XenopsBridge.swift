import DequeModule
import Logging
import Synchronization
import XapiDB
public import Xenops

/// xapi's side of xenopsd (xen-api ocaml/xapi/xapi_xenops.ml): the events loop that turns
/// Xenops update signals into database writes, barriers that let an API call wait until the
/// database has caught up with a VM, and the bookkeeping that mirrors xenops tasks onto xapi
/// tasks.
///
/// xapi's loop (`events_watch`) handles every signal of every VM on one thread, barriers of the
/// batch first; a storm of `VM_check_state` signals for other VMs therefore delays the barrier a
/// `VM.start` waits for (CA-87377). Here, in the default `.parallel` mode, each VM has a lane:
/// its signals and its barrier wake-ups are applied in order, different VMs' lanes by a pool of
/// workers taking one item per lane per turn. A barrier for VM A completes once A's own earlier
/// signals are applied, however long other VMs' lanes are. `.fifo` keeps xapi's single loop, so
/// the difference can be measured (bench/e2e).
public final class XenopsBridge: Sendable {
    public enum LoopMode: String, Sendable, CaseIterable {
        case parallel, fifo
    }

    public let xenops: Xenops
    let database: Database
    let tables: Tables
    let tasks: TaskManager
    let mode: LoopMode
    let logger: Logger
    let lanes: Lanes
    private let workers: Int
    private let barriers = Mutex<BarrierState>(BarrierState())
    /// xenops task id → xapi task ref, for progress mirroring (`update_task`).
    private let registeredTasks = Mutex<[String: String]>([:])
    private let readiness = Mutex<(running: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    /// What was last pushed to Xenops per VM uuid, so unchanged metadata is not pushed again.
    private let pushed = Mutex<[String: VMMetadata]>([:])

    struct BarrierState {
        var next = 1
        var waiting: [Int: CheckedContinuation<Void, Never>] = [:]
        /// The VM each barrier is for: its wake-up goes in that VM's lane even when the barrier
        /// carries no signal (they were all taken by earlier batches and may still be in the lane).
        var vms: [Int: String] = [:]
    }

    init(xenops: Xenops, database: Database, tables: Tables, tasks: TaskManager, mode: LoopMode, workers: Int, logger: Logger) {
        self.xenops = xenops
        self.database = database
        self.tables = tables
        self.tasks = tasks
        self.mode = mode
        self.workers = max(1, workers)
        self.logger = logger
        lanes = Lanes(workers: self.workers)
    }

    // MARK: The events loop

    /// xapi's `events_from_xenopsd`: runs until cancelled, starting with a full resync (the first
    /// `get` from no token returns every object xenops knows).
    public func run() async {
        await xenops.waitUntilRunning()
        resyncAfterRestart()
        markRunning()
        await withDiscardingTaskGroup { group in
            if mode == .parallel {
                for _ in 0..<workers {
                    group.addTask { await self.runLaneWorker() }
                }
            }
            group.addTask { await self.runEventsLoop() }
            group.addTask { await self.runMetadataSync() }
            group.addTask {
                // Cancellation must also stop workers parked on empty lanes.
                await withTaskCancellationHandler {
                    await self.lanes.waitForClose()
                } onCancel: {
                    self.lanes.close()
                }
            }
        }
    }

    private func runEventsLoop() async {
        var token: Int?
        while !Task.isCancelled {
            let batch = await xenops.updates.get(from: token, timeout: .seconds(30))
            if Task.isCancelled { break }
            token = batch.next
            switch mode {
            case .fifo:
                // xapi's events_watch: barriers first, each followed by its wake-up; each id once.
                var done = Set<Dynamic>()
                for barrier in batch.barriers {
                    for id in barrier.updates where done.insert(id).inserted { apply(id) }
                    wake(barrier: barrier.id)
                }
                for id in batch.updates where done.insert(id).inserted { apply(id) }
            case .parallel:
                for barrier in batch.barriers {
                    for id in barrier.updates { lanes.push(.update(id), lane: Lanes.key(for: id)) }
                    let vm = barriers.withLock { $0.vms[barrier.id] }
                    // Barriers first, as in xapi's loop: the lane jumps the round-robin queue, so
                    // a waiting API call is behind its own VM's signals only.
                    lanes.push(.wake(barrier.id), lane: vm.map { Lanes.key(for: .vm($0)) } ?? Lanes.barrierLane(barrier.id),
                               urgent: true)
                }
                for id in batch.updates { lanes.push(.update(id), lane: Lanes.key(for: id)) }
            }
        }
        lanes.close()
    }

    /// A lane holding a barrier, a VM's under an API operation and any task's run at once: an
    /// API call waits on them. Other VMs' signals go through Xenops' `PriorityGate`, which holds
    /// them back while foreground work runs and otherwise runs few at a time (bench/e2e: a
    /// `VM.start` with 100,000 signals pending, 1.6× an idle start with them running freely at
    /// low task priority, 1.1× behind the gate).
    private func runLaneWorker() async {
        while let (lane, item, urgent) = await lanes.next() {
            switch item {
            case .update(let id) where urgent || Lanes.isTaskLane(lane):
                apply(id)
            case .update(let id):
                await xenops.priority.background(key: id.vm) { apply(id) }
            case .wake(let barrier):
                wake(barrier: barrier)
            }
            lanes.finished(lane)
        }
    }

    /// One signal: read the object's state from Xenops and write what changed to the database.
    func apply(_ id: Dynamic) {
        switch id {
        case .vm(let uuid): updateVM(uuid)
        case .vbd(let device): updateVBD(device)
        case .vif(let device): updateVIF(device)
        case .vgpu(let device): updateVGPU(device)
        case .pci: break
        case .task(let task): updateTask(task)
        }
    }

    // MARK: Metadata

    /// Pushes a VM's configuration and devices to Xenops (xapi's `Xenopsd_metadata.push`).
    func push(_ metadata: VMMetadata) {
        pushed.withLock { $0[metadata.vm.id] = metadata }
        _ = xenops.vm.importMetadata(metadata)
    }

    /// xapi's `events_from_xapi`: a change to a running VM's record (its actions after
    /// shutdown, its devices…) is pushed to Xenops, so the next guest-initiated shutdown or
    /// reboot follows the configuration the database shows.
    private func runMetadataSync() async {
        let subscription = Subscription(["vm", "vbd", "vif"], model: database.model)
        let t = tables
        var scanned = database.generation
        while !Task.isCancelled {
            let changed = database.read { s -> [String] in
                var vms = Set<String>()
                for (table, ref) in s.changedObjects(after: scanned, subscription: subscription) {
                    if table == t.vm {
                        vms.insert(ref)
                    } else if let vm = try? s.get(table, ref, "VM").stringValue {
                        vms.insert(vm)
                    }
                }
                scanned = s.generation
                return Array(vms)
            }
            for vm in changed { syncMetadata(vm) }
            _ = await database.waitForChange(session: "", subscription: subscription, after: scanned, deadline: nil)
        }
    }

    private func syncMetadata(_ vm: String) {
        let t = tables
        let metadata = database.read { s -> VMMetadata? in
            guard s.contains(t.vm, vm), isResidentHere((try? s.get(t.vm, vm, "uuid").stringValue) ?? "", in: s) else { return nil }
            let power = (try? s.get(t.vm, vm, "power_state").stringValue) ?? ""
            guard power == "Running" || power == "Paused" else { return nil }
            return try? XenopsMetadata.build(vm: vm, in: s, tables: t)
        }
        guard let metadata, pushed.withLock({ $0[metadata.vm.id] }) != metadata else { return }
        logger.debug("pushing changed metadata", metadata: ["vm": "\(metadata.vm.id)"])
        push(metadata)
    }

    /// Runs an API operation on VM `uuid` as foreground work: other VMs' signals give way to it
    /// (`PriorityGate`), and this VM's own lane is served as urgent, because the barrier that
    /// ends the operation waits for every signal in it.
    public func foreground<R>(vm uuid: String, _ body: () async throws -> R) async rethrows -> R {
        let lane = Lanes.key(for: .vm(uuid))
        lanes.focus(lane)
        defer { lanes.unfocus(lane) }
        return try await xenops.priority.foreground(key: uuid, body)
    }

    // MARK: Barriers

    /// xapi's `Events_from_xenopsd.wait`: returns once every signal about `vm` raised before the
    /// call has been applied to the database.
    public func barrier(vm uuid: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let id = barriers.withLock { state -> Int in
                let id = state.next
                state.next += 1
                state.waiting[id] = continuation
                state.vms[id] = uuid
                return id
            }
            xenops.updates.injectBarrier(vm: uuid, id: id)
        }
        // What the barrier waited for was written by the events loop, not by the caller: the
        // caller's answer must wait for it to be durable all the same.
        WriteScope.coverEverythingSoFar(in: database)
    }

    /// Signals the VM and its devices, then waits for them to be applied (xapi's `refresh_vm`).
    public func refresh(vm uuid: String) async {
        xenops.updates.refreshVM(uuid)
        await barrier(vm: uuid)
    }

    private func wake(barrier id: Int) {
        xenops.updates.removeBarrier(id)
        let continuation = barriers.withLock { state -> CheckedContinuation<Void, Never>? in
            state.vms[id] = nil
            return state.waiting.removeValue(forKey: id)
        }
        if let continuation {
            continuation.resume()
        } else {
            logger.warning("barrier woken that nobody waits for", metadata: ["barrier": "\(id)"])
        }
    }

    // MARK: Tasks

    /// Waits for a xenops task, mirroring its progress onto `xapiTask` and letting `task.cancel`
    /// cancel it (xapi's `sync_with_task`); the xenops task is destroyed afterwards.
    func sync(_ xenopsTask: String, xapiTask: String?, vm: String = "", device: String = "") async throws(XapiError) {
        if let xapiTask {
            registeredTasks.withLock { $0[xenopsTask] = xapiTask }
            let xenops = xenops
            tasks.onCancel(xapiTask) { try? xenops.task.cancel(xenopsTask) }
        }
        let record = await xenops.task.wait(xenopsTask, timeout: nil)
        registeredTasks.withLock { _ = $0.removeValue(forKey: xenopsTask) }
        try? xenops.task.destroy(xenopsTask)
        switch record?.state {
        case .completed?, nil:
            return
        case .pending?:
            throw .internalError("xenops task \(xenopsTask) did not finish")
        case .failed(let error)?:
            throw XenopsErrors.xapiError(error, xapiTask: xapiTask, vm: vm, device: device)
        }
    }

    private func updateTask(_ id: String) {
        guard let xapiTask = registeredTasks.withLock({ $0[id] }),
              let record = try? xenops.task.stat(id),
              case .pending(let progress) = record.state
        else { return }
        tasks.setProgress(xapiTask, progress)
        if !record.cancellable { tasks.setCancellable(xapiTask, false) }
    }

    // MARK: Readiness

    private func markRunning() {
        let waiters = readiness.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.running = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the events loop runs (lifecycle calls need it to see their barriers).
    public func waitUntilRunning() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = readiness.withLock { state -> Bool in
                if state.running { return true }
                state.waiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// After a restart no simulated domain survives: VMs the database still shows as running or
    /// paused on this host are halted, as xapi's resync would find them (xenopsd knows nothing).
    private func resyncAfterRestart() {
        let t = tables
        database.write { s in
            for (vm, row) in s.rows(t.vm) {
                let state = row.fields[s.fieldIndex(t.vm, "power_state")].stringValue ?? "Halted"
                let controlDomain = row.fields[s.fieldIndex(t.vm, "is_control_domain")].boolValue ?? false
                guard !controlDomain, state == "Running" || state == "Paused" else { continue }
                let uuid = row.fields[s.fieldIndex(t.vm, "uuid")].stringValue ?? ""
                if xenops.vm.exists(uuid) { continue }
                try? PowerStates.forceReset(vm, to: "Halted", in: &s, tables: t)
            }
        }
    }
}

/// Per-VM lanes of the parallel events loop: FIFOs keyed by VM, served round-robin one item per
/// turn by a pool of workers, at most one worker per lane at a time. A signal already waiting in
/// its lane is not queued twice (the later copy would read the same state).
final class Lanes: Sendable {
    enum Item: Sendable, Hashable {
        case update(Dynamic)
        case wake(Int)
    }

    /// An item taken for a worker: its lane, and whether that lane holds a barrier.
    typealias Taken = (lane: String, item: Item, urgent: Bool)

    private struct State {
        var queues: [String: Deque<Item>] = [:]
        var waitingUpdates: [String: Set<Dynamic>] = [:]
        var ready: Deque<String> = []
        var busy: Set<String> = []
        /// Lanes holding a barrier wake-up: served ahead of the others until it is done.
        var urgent: Set<String> = []
        /// Lanes of VMs under an API operation, counted per operation: served as urgent while
        /// it lasts, since its barrier will wait for every signal in them.
        var focused: [String: Int] = [:]

        func isUrgent(_ lane: String) -> Bool { urgent.contains(lane) || focused[lane] != nil }

        /// Lanes served before the round-robin: urgent ones and tasks' (an API call waits on both).
        func isFirst(_ lane: String) -> Bool { isUrgent(lane) || Lanes.isTaskLane(lane) }

        /// Lanes whose worker runs a background item (`Lanes.isBackground`), at most
        /// `backgroundLimit`: a worker held by `PriorityGate` must not be the one an urgent
        /// lane waits for.
        var background: Set<String> = []
        var backgroundLimit = Int.max
        var idle: [CheckedContinuation<Taken?, Never>] = []
        var closed = false
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    /// `workers`: how many take items; all but one may hold background items at once.
    init(workers: Int = 2) {
        var state = State()
        state.backgroundLimit = max(1, workers - 1)
        self.state = Mutex(state)
    }

    /// What a worker runs behind `PriorityGate`: another VM's signal, neither urgent nor a task's.
    static func isBackground(_ lane: String, _ item: Item, urgent: Bool) -> Bool {
        guard case .update = item else { return false }
        return !urgent && !isTaskLane(lane)
    }

    static func key(for id: Dynamic) -> String {
        if let vm = id.vm { return "vm:" + vm }
        if case .task(let task) = id { return "task:" + task }
        return "other"
    }

    static func barrierLane(_ id: Int) -> String { "barrier:\(id)" }

    static func isTaskLane(_ lane: String) -> Bool { lane.hasPrefix("task:") }

    /// Queues `item` on `lane`; an `urgent` item moves its lane to the front of the round-robin.
    func push(_ item: Item, lane: String, urgent: Bool = false) {
        let handoff = state.withLock { s -> (CheckedContinuation<Taken?, Never>, Taken)? in
            guard !s.closed else { return nil }
            if case .update(let id) = item {
                guard s.waitingUpdates[lane, default: []].insert(id).inserted else { return nil }
            }
            s.queues[lane, default: []].append(item)
            if urgent || s.isFirst(lane) {
                if urgent { s.urgent.insert(lane) }
                if !s.busy.contains(lane) {
                    if let index = s.ready.firstIndex(of: lane) { s.ready.remove(at: index) }
                    s.ready.prepend(lane)
                }
            } else if s.queues[lane]!.count == 1, !s.busy.contains(lane) {
                s.ready.append(lane)
            }
            guard !s.idle.isEmpty, let taken = Self.take(&s) else { return nil }
            return (s.idle.removeLast(), taken)
        }
        if let (worker, taken) = handoff { worker.resume(returning: taken) }
    }

    /// The next item of the next ready lane, and whether that lane holds a barrier; nil once closed.
    func next() async -> Taken? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Taken?, Never>) in
            let immediate = state.withLock { s -> Taken?? in
                if s.closed { return .some(nil) }
                if let taken = Self.take(&s) { return .some(taken) }
                s.idle.append(continuation)
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
    }

    private static func take(_ s: inout State) -> Taken? {
        // Lanes that are not background go to the front of `ready`, so with every background
        // slot taken the first lane tells whether anything may run.
        if s.background.count >= s.backgroundLimit, let lane = s.ready.first, let item = s.queues[lane]?.first,
           isBackground(lane, item, urgent: s.isUrgent(lane)) {
            return nil
        }
        while let lane = s.ready.popFirst() {
            guard var queue = s.queues[lane], let item = queue.popFirst() else { continue }
            let urgent = s.isUrgent(lane)
            if isBackground(lane, item, urgent: urgent) { s.background.insert(lane) }
            s.queues[lane] = queue.isEmpty ? nil : queue
            if case .wake = item, !queue.contains(where: { if case .wake = $0 { true } else { false } }) {
                s.urgent.remove(lane)
            }
            if case .update(let id) = item { s.waitingUpdates[lane]?.remove(id) }
            if s.waitingUpdates[lane]?.isEmpty == true { s.waitingUpdates[lane] = nil }
            s.busy.insert(lane)
            return (lane, item, urgent)
        }
        return nil
    }

    /// A worker finished `lane`'s item: the lane goes to the back of the round-robin if it has more.
    func finished(_ lane: String) {
        let handoff = state.withLock { s -> (CheckedContinuation<Taken?, Never>, Taken)? in
            s.busy.remove(lane)
            s.background.remove(lane)
            if s.queues[lane]?.isEmpty == false {
                if s.isFirst(lane) { s.ready.prepend(lane) } else { s.ready.append(lane) }
            }
            guard !s.idle.isEmpty, let taken = Self.take(&s) else { return nil }
            return (s.idle.removeLast(), taken)
        }
        if let (worker, taken) = handoff { worker.resume(returning: taken) }
    }

    /// Serves `lane` as urgent until the matching `unfocus`; work already waiting in it moves
    /// to the front of the round-robin.
    func focus(_ lane: String) {
        state.withLock { s in
            s.focused[lane, default: 0] += 1
            if !s.busy.contains(lane), let index = s.ready.firstIndex(of: lane) {
                s.ready.remove(at: index)
                s.ready.prepend(lane)
            }
        }
    }

    func unfocus(_ lane: String) {
        state.withLock { s in
            let count = (s.focused[lane] ?? 1) - 1
            s.focused[lane] = count > 0 ? count : nil
        }
    }

    func close() {
        let (idle, waiters) = state.withLock { s -> ([CheckedContinuation<Taken?, Never>], [CheckedContinuation<Void, Never>]) in
            s.closed = true
            defer { s.idle = []; s.closeWaiters = [] }
            return (s.idle, s.closeWaiters)
        }
        for worker in idle { worker.resume(returning: nil) }
        for waiter in waiters { waiter.resume() }
    }

    func waitForClose() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let closed = state.withLock { s -> Bool in
                if s.closed { return true }
                s.closeWaiters.append(continuation)
                return false
            }
            if closed { continuation.resume() }
        }
    }

    /// Items waiting per lane (diagnostics and benchmarks).
    var backlog: Int { state.withLock { $0.queues.values.reduce(0) { $0 + $1.count } } }
}
