import Logging
import Synchronization
import XapiDB
public import Xenops
public import Wire

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
    /// The uuid of the host whose xenopsd this is (its inventory's `INSTALLATION_UUID`).
    public let hostUUID: String
    /// The first simulated host stands for the pool's master when the database has no host of
    /// its uuid (a database made before hosts had identities, or a test's own pool).
    let standsForMaster: Bool
    let xenstoreSocket: String?
    let database: Database
    let tables: Tables
    let tasks: TaskManager
    let mode: LoopMode
    let logger: Logger
    let lanes: Lanes
    private let workers: Int
    let barriers = Mutex<BarrierState>(BarrierState())
    /// xenops task id → xapi task ref, for progress mirroring (`update_task`).
    let registeredTasks = Mutex<[String: String]>([:])
    let readiness = Mutex<(running: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    /// What was last pushed to Xenops per VM uuid, so unchanged metadata is not pushed again.
    let pushed = Mutex<[String: VMMetadata]>([:])
    /// VMs whose updates the events loop ignores while an operation holds them.
    let suppression = EventSuppression()
    /// How many suppressions were lifted (each with its refresh and barrier) and how many
    /// updates they made the loop ignore, for `GET /diagnostics`.
    let suppressionCounts = Mutex<(lifts: Int, ignored: Int)>((0, 0))

    init(xenops: Xenops, hostUUID: String, standsForMaster: Bool, xenstoreSocket: String? = nil, database: Database, tables: Tables,
         tasks: TaskManager, mode: LoopMode, workers: Int, logger: Logger) {
        self.xenops = xenops
        self.xenstoreSocket = xenstoreSocket
        self.hostUUID = hostUUID
        self.standsForMaster = standsForMaster
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
                    for id in barrier.updates { lanes.push(.update(id), lane: LaneKey(for: id)) }
                    let vm = barriers.withLock { $0.vms[barrier.id] }
                    // Barriers first, as in xapi's loop: the lane jumps the round-robin queue, so
                    // a waiting API call is behind its own VM's signals only.
                    lanes.push(.wake(barrier.id), lane: vm.map { LaneKey.vm($0) } ?? LaneKey.barrier(barrier.id),
                               urgent: true)
                }
                for id in batch.updates { lanes.push(.update(id), lane: LaneKey(for: id)) }
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
            case .update(let id) where urgent || lane.isTask:
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

    /// xapi's `Events_from_xenopsd.with_suppressed`: the events loop ignores the VM's updates
    /// while `body` runs (re-entrant); when the last holder leaves, the VM is refreshed and a
    /// barrier brings the database to the truth before any holder returns (CA-195652).
    public func withSuppressed<R>(vm uuid: String, _ body: () async throws -> R) async rethrows -> R {
        if EventSuppression.nestedHolds.contains(uuid) {
            suppression.enterNested(uuid)
            defer { suppression.leaveNested(uuid) }
            return try await body()
        }
        logger.debug("suppressing xenops events on VM", metadata: ["vm": "\(uuid)"])
        await suppression.enter(uuid)
        let result: R
        do {
            result = try await EventSuppression.$nestedHolds.withValue(EventSuppression.nestedHolds.union([uuid])) {
                try await body()
            }
        } catch {
            await releaseSuppression(uuid)
            throw error
        }
        await releaseSuppression(uuid)
        return result
    }

    private func releaseSuppression(_ uuid: String) async {
        guard await suppression.leave(uuid) else { return }
        logger.debug("re-enabled xenops events on VM; refreshing VM", metadata: ["vm": "\(uuid)"])
        await refresh(vm: uuid)
        suppressionCounts.withLock { $0.lifts += 1 }
        suppression.lifted(uuid)
    }

    /// The host this xenopsd runs on, as the database names it (nil before its row exists).
    func host(in s: DatabaseState) -> String? {
        if let ref = try? s.ref(uuid: hostUUID, in: tables.host) { return ref }
        guard standsForMaster else { return nil }
        let master = XenAPI.localHost(in: s, tables: tables)
        return s.contains(tables.host, master) ? master : nil
    }

    /// Xenops' diagnostics document, with the VMs whose events are suppressed now and their
    /// holders (`GET /diagnostics`).
    public func diagnostics() -> JSON {
        let held: [JSON] = suppression.suppressed.map {
            .object([.init("vm", .string($0)), .init("holders", .int(suppression.holders(of: $0)))])
        }
        let document = xenops.diagnostics()
        guard case .object(let members) = document else { return document }
        let counts = suppressionCounts.withLock { $0 }
        return .object(members + [.init("suppressed_vms", .array(held)),
                                  .init("suppression", .object([.init("lifts", .int(counts.lifts)),
                                                                .init("ignored_updates", .int(counts.ignored))]))])
    }

    /// Whether an update for `uuid` is dropped (the log line is xapi's).
    func ignoresUpdates(of uuid: String) -> Bool {
        guard suppression.isSuppressed(uuid) else { return false }
        suppressionCounts.withLock { $0.ignored += 1 }
        logger.debug("xenopsd event: ignoring event for VM (VM migrating away)", metadata: ["vm": "\(uuid)"])
        return true
    }

    /// Runs an API operation on VM `uuid` as foreground work: other VMs' signals give way to it
    /// (`PriorityGate`), and this VM's own lane is served as urgent, because the barrier that
    /// ends the operation waits for every signal in it.
    public func foreground<R>(vm uuid: String, _ body: () async throws -> R) async rethrows -> R {
        let lane = LaneKey.vm(uuid)
        lanes.focus(lane)
        defer { lanes.unfocus(lane) }
        return try await xenops.priority.foreground(key: uuid, body)
    }
}
