import Wire
import Logging
import Synchronization
import Timing

/// xenopsd's server core: queues operations, expands them into atomic steps (xen-api ocaml/xenopsd/lib/xenops_server.ml, `atomics_of_operation`),
/// runs the steps on the backend with progress, cancel points and the update signals its atomics emit,
/// and cleans up through `*_check_state` when an operation fails.
final class Engine: Sendable {
    let metadata: MetadataStore
    let backend: DomainBackend
    let tasks: TaskTable
    let updates: Updates
    let scheduler: Deadlines
    let configuration: XenopsConfiguration
    let clock: any ServerClock
    let logger: Logger
    let priority: PriorityGate
    let queues = WorkQueues<WorkItem>(name: "default")
    let parallelQueues = WorkQueues<AtomItem>(name: "parallel")
    let nestedQueues = WorkQueues<AtomItem>(name: "nested_parallel")
    let receiveMemoryQueues = WorkQueues<WorkItem>(name: "receive_memory")
    /// Default-queue items waiting, per tag, for a receive that holds the tag.
    private let receiving = Mutex([String: [WorkItem]]())
    /// VMs in the middle of `VM_reboot`: `VM.stat` says Running throughout.
    private let rebooting = Mutex([String: Int]())

    init(metadata: MetadataStore, backend: DomainBackend, tasks: TaskTable, updates: Updates, scheduler: Deadlines,
         configuration: XenopsConfiguration, clock: any ServerClock, priority: PriorityGate, logger: Logger) {
        self.priority = priority
        self.metadata = metadata
        self.backend = backend
        self.tasks = tasks
        self.updates = updates
        self.scheduler = scheduler
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
    }

    // MARK: queueing

    /// The queue a VM's operations go to: its uuid, except that MxGPU VMs share one.
    func tag(for vm: String) -> String {
        metadata.devices(vm, VGPUConfig.self).contains { $0.implementation == "MxGPU" } ? "mxgpu" : vm
    }

    /// Queues `operation` on its VM's queue; returns the task id at once.
    func queue(_ operation: Operation, dbg: String) -> String {
        let task = tasks.add(dbg: dbg)
        if !push(WorkItem(operation: operation, task: task)) {
            try? tasks.destroy(task.id)
        }
        return task.id
    }

    /// Queues an operation whose task is destroyed at once (the internal checks: they never
    /// show in `TASK.list` nor produce `Task` signals).
    func queueUntracked(_ operation: Operation, dbg: String) {
        let task = tasks.add(dbg: dbg)
        try? tasks.destroy(task.id)
        push(WorkItem(operation: operation, task: task))
    }

    /// Onto the default queues, unless a migration's `VM_receive_memory` holds the tag: then
    /// the item waits for the receive to end (in xenopsd the queue sets share one table of held
    /// tags, so a `VM_check_state` of the arriving domain cannot run beside its receive and
    /// act on the `action-request=poweroff` its creation wrote).
    @discardableResult
    private func push(_ item: WorkItem) -> Bool {
        let tag = tag(for: item.operation.vm)
        let held = receiving.withLock { held -> Bool in
            guard held[tag] != nil else { return false }
            held[tag]!.append(item)
            return true
        }
        return held || queues.push(tag: tag, item)
    }

    /// A receive holds these tags until `releaseReceive`.
    func holdForReceive(_ tags: [String]) {
        receiving.withLock { held in for tag in tags where held[tag] == nil { held[tag] = [] } }
    }

    func releaseReceive(_ tags: [String]) {
        let waiting = receiving.withLock { held in tags.flatMap { held.removeValue(forKey: $0) ?? [] } }
        for item in waiting { push(item) }
    }

    /// Queues a migration's `VM_receive_memory` on the queues of its own worker set; its task
    /// is destroyed at once (the source learns the outcome through the handshakes).
    func queueReceive(_ operation: Operation, dbg: String) {
        let task = tasks.add(dbg: dbg)
        try? tasks.destroy(task.id)
        receiveMemoryQueues.push(tag: tag(for: operation.vm), WorkItem(operation: operation, task: task))
    }

    /// Queues and waits for the task to end (xenopsd's `queue_operation_and_wait`).
    func queueAndWait(_ operation: Operation, dbg: String) async throws(XenopsError) {
        let id = queue(operation, dbg: dbg)
        switch await tasks.waitFinished(id, timeout: configuration.atomDeadline, scheduler: scheduler) {
        case .finished(let record):
            try? tasks.destroy(id)
            if case .failed(let error) = record.state { throw error }
        case .destroyed:
            return
        case .timedOut:
            throw .internalError("Timed out while waiting on task \(id)")
        }
    }

    /// Runs an operation inline under a task that is destroyed at once (cleanup).
    func immediate(_ operation: Operation, dbg: String) async throws(XenopsError) {
        let task = tasks.add(dbg: dbg)
        try? tasks.destroy(task.id)
        try await perform(operation, task: task)
    }

    // MARK: workers

    /// A worker runs one queued operation; the task ends Completed or Failed.
    func execute(_ item: WorkItem) async {
        do throws(XenopsError) {
            try await perform(item.operation, task: item.task)
            tasks.finish(item.task.id, .success(nil))
        } catch {
            logger.info("task failed", metadata: ["task": "\(item.task.id)", "operation": "\(item.operation.json.text)", "error": "\(error)"])
            tasks.finish(item.task.id, .failure(error))
        }
    }

    /// A parallel-queue worker runs one atom of a `Parallel` step.
    func execute(_ item: AtomItem) async {
        do throws(XenopsError) {
            try await performAtomic(item.atomic, task: item.task) { _ in }
            tasks.finish(item.task.id, .success(nil))
        } catch {
            tasks.finish(item.task.id, .failure(error))
        }
    }

    // MARK: perform

    /// xenopsd's `perform`: power-state precondition, the operation, and on failure the matching
    /// check_state run inline to leave things consistent, then the error.
    func perform(_ operation: Operation, task: TaskHandle) async throws(XenopsError) {
        try verifyPowerState(operation)
        do throws(XenopsError) {
            try await performExn(operation, task: task)
        } catch {
            logger.info("operation failed: triggering cleanup", metadata: [
                "operation": "\(operation.json.text)", "error": "\(error)",
            ])
            do throws(XenopsError) {
                try await cleanupAfterFailure(operation, task: task)
            } catch let cleanupError {
                logger.error("cleanup failed", metadata: ["operation": "\(operation.json.text)", "error": "\(cleanupError)"])
            }
            throw error
        }
    }

    private func verifyPowerState(_ operation: Operation) throws(XenopsError) {
        let (vm, expected): (String, [PowerState])
        switch operation {
        case .vmStart(let id, _): (vm, expected) = (id, [.halted])
        case .vmReboot(let id, _), .vmMigrate(let id, _): (vm, expected) = (id, [.running, .paused])
        case .vmResume(let id): (vm, expected) = (id, [.suspended, .halted])
        default: return
        }
        let power = powerState(try metadata.vm(vm))
        if !expected.contains(power) { throw .badPowerState(actual: power, expected: expected[0]) }
    }

    private func performExn(_ operation: Operation, task: TaskHandle) async throws(XenopsError) {
        switch operation {
        case .vmStart(let id, _):
            let vm = try metadata.vm(id)
            if backend.powerState(of: vm) == .running {
                logger.info("VM is already running", metadata: ["vm": "\(id)"])
                return
            }
            try await performAtomics(try atomics(of: operation), task: task)
            signalVM(id)
        case .vmPoweroff(let id, _), .vmShutdown(let id, _), .vmSuspend(let id), .vmResume(let id):
            try await performAtomics(try atomics(of: operation), task: task)
            signalVM(id)
        case .vmReboot(let id, _):
            setRebooting(id, true)
            defer { setRebooting(id, false) }
            try await performAtomics(try atomics(of: operation), task: task)
            signalVM(id)
        case .vmRestoreDevices, .vbdHotplug, .vbdHotunplug, .vifHotplug, .vifHotunplug:
            try await performAtomics(try atomics(of: operation), task: task)
        case .vmCheckState(let id):
            try await checkVM(id, task: task)
        case .vmMigrate(let id, let target):
            try await migrate(id, to: target, task: task)
        case .vmReceiveMemory(let id, let finalID, let channel):
            try await receiveMemory(id, finalID: finalID, channel: channel, task: task)
        case .vbdCheckState(let id):
            let vm = try metadata.vm(id.vm)
            let vbd: VBDConfig = try metadata.device(id)
            let request = isLive(vm) ? backend.actionRequest(vm, vbd) : .needsUnplug
            if request == .needsUnplug { try await performExn(.atomic(.vbdUnplug(id, force: true)), task: task) }
            // Also reflects a spontaneously ejected CD.
            signal(.vbd, id)
        case .vifCheckState(let id):
            let vm = try metadata.vm(id.vm)
            let vif: VIFConfig = try metadata.device(id)
            let request = isLive(vm) ? backend.actionRequest(vm, vif) : .needsUnplug
            if request == .needsUnplug { try await performExn(.atomic(.vifUnplug(id, force: true)), task: task) }
        case .pciCheckState(let id):
            let vm = try metadata.vm(id.vm)
            _ = try metadata.device(id, PCIConfig.self)
            if !isLive(vm) { try await performExn(.atomic(.pciUnplug(id)), task: task) }
        case .atomic(let atomic):
            try await performAtomic(atomic, task: task) { task.setProgress($0) }
        }
    }

    private func isLive(_ vm: VMConfig) -> Bool {
        let power = backend.powerState(of: vm)
        return power == .running || power == .paused
    }

    /// As xenops_server.ml's `VM_check_state`: map the domain's request to the VM's configured actions and run them.
    private func checkVM(_ id: String, task: TaskHandle) async throws(XenopsError) {
        let vm = try metadata.vm(id)
        let extra = backend.extra(id)
        let uptime: Duration? = if let extra, extra.domid != nil { clock.now - extra.createdAt } else { nil }
        let actions: [VMConfig.Action]
        switch backend.domainActionRequest(vm) {
        case .needsReboot: actions = vm.onReboot
        case .needsPoweroff: actions = vm.onShutdown
        case .needsCrashdump:
            if let uptime, uptime < configuration.crashRestartGuard {
                logger.warning("VM crashed too quickly after start; shutting down", metadata: ["vm": "\(id)", "uptime": "\(uptime)"])
                actions = vm.onCrash.map { $0 == .start ? .shutdown : $0 }
            } else {
                actions = vm.onCrash
            }
        case .needsSuspend:
            logger.warning("VM has unexpectedly suspended", metadata: ["vm": "\(id)"])
            actions = [.shutdown]
        case .needsSoftreset: actions = vm.onSoftreboot
        case nil:
            logger.debug("VM is not requesting any attention", metadata: ["vm": "\(id)"])
            actions = []
        }
        var operations: [Operation] = []
        for action in actions {
            switch action {
            case .coredump: break
            case .shutdown: operations.append(.vmShutdown(id, timeout: nil))
            case .start:
                if let uptime, uptime < configuration.minimumRebootDelay {
                    logger.debug("VM rebooted too quickly; inserting delay", metadata: ["vm": "\(id)"])
                    operations.append(.atomic(.vmDelay(id, seconds: configuration.rebootDelay.seconds)))
                }
                operations.append(.vmReboot(id, timeout: nil))
            case .pause: operations.append(.atomic(.vmPause(id)))
            case .softreboot: operations.append(.atomic(.vmSoftreboot(id)))
            }
        }
        if !operations.isEmpty {
            // What the guest asked for is an operation, not a look: it must not hold the
            // background slot the rest of the host's checks and signals share (a reboot delay
            // would stop them all for its seconds).
            try await priority.promoted(key: id) { () async throws(XenopsError) in
                for operation in operations { try await performExn(operation, task: task) }
            }
        }
        signalVM(id)
    }

    /// Runs the steps in order, setting the task's progress to the cumulative weight after each.
    private func performAtomics(_ atomics: [Atomic], task: TaskHandle) async throws(XenopsError) {
        let total = atomics.reduce(0) { $0 + $1.weight }
        var done = 0.0
        for atomic in atomics {
            let share = atomic.weight / total
            let start = done
            let progress: @Sendable (Double) -> Void = { task.setProgress(start + $0 * share) }
            logger.trace("performing", metadata: ["atomic": "\(atomic.json.text)", "task": "\(task.id)"])
            try await performAtomic(atomic, task: task, progress: progress)
            progress(1)
            done += share
        }
    }

    // MARK: atomics

    /// One step; each begins with a cancel point.
    func performAtomic(_ atomic: Atomic, task: TaskHandle, progress: @escaping @Sendable (Double) -> Void) async throws(XenopsError) {
        try task.checkCancelling()
        switch atomic {
        case .bestEffort(let inner):
            do throws(XenopsError) {
                try await performAtomic(inner, task: task, progress: progress)
            } catch {
                logger.debug("ignoring error during best-effort step", metadata: ["atomic": "\(inner.json.text)", "error": "\(error)"])
            }
        case .parallel(_, let description, let atoms):
            try await parallelAtomic(description, atoms, nested: false, task: task)
        case .nestedParallel(_, let description, let atoms):
            try await parallelAtomic(description, atoms, nested: true, task: task)
        case .serial(_, _, let atoms):
            for atom in atoms { try await performAtomic(atom, task: task, progress: progress) }

        case .vbdPlug(let id):
            try await backend.plugVBD(try metadata.vm(id.vm), try metadata.device(id, VBDConfig.self), task: task)
            signal(.vbd, id)
        case .vbdUnplug(let id, let force):
            do throws(XenopsError) {
                try await backend.unplug(try metadata.vm(id.vm), try metadata.device(id, VBDConfig.self), force: force, task: task)
            } catch {
                signal(.vbd, id)
                throw error
            }
            signal(.vbd, id)
        case .vbdSetActive(let id, let active):
            backend.setActive(try metadata.vm(id.vm), try metadata.device(id, VBDConfig.self), active)
            signal(.vbd, id)
        case .vbdInsert(let id, let disk):
            let (vm, vbd) = (try metadata.vm(id.vm), try metadata.device(id, VBDConfig.self))
            try requireLive(vm)
            try backend.insert(vm, vbd, disk)
            signal(.vbd, id)
        case .vbdEject(let id):
            let (vm, vbd) = (try metadata.vm(id.vm), try metadata.device(id, VBDConfig.self))
            if vbd.kind == .disk { throw .mediaNotEjectable }
            try requireLive(vm)
            try backend.eject(vm, vbd)
            signal(.vbd, id)

        case .vifPlug(let id):
            try await backend.plugVIF(try metadata.vm(id.vm), try metadata.device(id, VIFConfig.self), task: task)
            signal(.vif, id)
        case .vifUnplug(let id, let force):
            do throws(XenopsError) {
                try await backend.unplug(try metadata.vm(id.vm), try metadata.device(id, VIFConfig.self), force: force, task: task)
            } catch {
                signal(.vif, id)
                throw error
            }
            signal(.vif, id)
        case .vifSetActive(let id, let active):
            backend.setActive(try metadata.vm(id.vm), try metadata.device(id, VIFConfig.self), active)
            signal(.vif, id)
        case .vifSetIPConfiguration(let id, let ipv6, let configuration):
            // As xenopsd: the running device first, then the stored configuration.
            var vif = try metadata.device(id, VIFConfig.self)
            try backend.setIPConfiguration(try metadata.vm(id.vm), vif, ipv6: ipv6, configuration)
            if ipv6 { vif.ipv6 = configuration } else { vif.ipv4 = configuration }
            try metadata.add(vif)
            signal(.vif, id)
        case .vifMove(let id, let bridge):
            var vif = try metadata.device(id, VIFConfig.self)
            try backend.move(try metadata.vm(id.vm), vif, toBridge: bridge)
            vif.bridge = bridge
            try metadata.add(vif)
            signal(.vif, id)
        case .vifSetLockingMode(let id, let mode):
            var vif = try metadata.device(id, VIFConfig.self)
            try backend.setLockingMode(try metadata.vm(id.vm), vif, mode)
            vif.lockingMode = mode
            try metadata.add(vif)
            signal(.vif, id)

        case .pciPlug(let id):
            try backend.plugPCI(try metadata.vm(id.vm), try metadata.device(id, PCIConfig.self))
            signal(.pci, id)
        case .pciUnplug(let id):
            if let vm = try? metadata.vm(id.vm), let pci = try? metadata.device(id, PCIConfig.self) { backend.unplugPCI(vm, pci) }
            signal(.pci, id)
        case .vgpuSetActive(let id, let active):
            backend.setActive(try metadata.vm(id.vm), try metadata.device(id, VGPUConfig.self), active)
            signal(.vgpu, id)

        case .vmCreate(let id):
            try backend.create(try metadata.vm(id))
        case .vmBuild(let id, _):
            try backend.build(try metadata.vm(id))
        case .vmCreateDeviceModel(let id, _):
            try backend.createDeviceModel(try metadata.vm(id))
            for vgpu in metadata.devices(id, VGPUConfig.self) { signal(.vgpu, vgpu.id) }
        case .vmDestroyDeviceModel(let id):
            backend.destroyDeviceModel(try metadata.vm(id))
        case .vmDestroy(let id):
            try backend.destroy(try metadata.vm(id))
        case .vmPause(let id):
            try backend.pause(try metadata.vm(id))
            signalVM(id)
        case .vmUnpause(let id):
            let vm = try metadata.vm(id)
            if backend.powerState(of: vm) == .paused {
                try backend.unpause(vm)
                signalVM(id)
            } else {
                logger.info("VM is not paused", metadata: ["vm": "\(id)"])
            }
        case .vmSetVcpus(let id, let count):
            let vm = try metadata.vm(id)
            guard count > 0, count <= vm.vcpuMax else { throw .invalidVcpus(max: vm.vcpuMax) }
            try backend.setVCPUs(vm, count)
        case .vmSetMemoryDynamicRange(let id, let min, let max):
            try backend.setMemoryDynamicRange(try metadata.vm(id), min: min, max: max)
        case .vmSetDomainActionRequest(let id, let request):
            backend.setDomainActionRequest(try metadata.vm(id), request)
        case .vmShutdownDomain(let id, let request, let timeout):
            try await shutdownDomain(try metadata.vm(id), request, timeout: timeout, task: task)
        case .vmSave(let id):
            try await backend.save(try metadata.vm(id), task: task, progress: progress)
        case .vmRestore(let id):
            try backend.restore(try metadata.vm(id), progress: progress)
        case .vmDelay(let id, let seconds):
            logger.debug("waiting before next VM action", metadata: ["vm": "\(id)", "seconds": "\(seconds)"])
            let clock = self.clock
            let slept = await task.interruptible {
                do { try await clock.sleep(for: .seconds(seconds)) } catch { return false }
                return true
            }
            if slept != true { throw .cancelled(task: task.id) }
        case .vmSoftreboot(let id):
            try backend.softReset(try metadata.vm(id))
        case .vmRemove(let id):
            try remove(id)
        case .vmRename(let from, let to, _):
            try metadata.rename(from, to: to)
            try backend.rename(from, to: to)
            updates.remove(.vm(from))
            signalVM(to)
        }
    }

    private func requireLive(_ vm: VMConfig) throws(XenopsError) {
        let power = backend.powerState(of: vm)
        if power != .running && power != .paused { throw .badPowerState(actual: power, expected: .running) }
    }

    /// Ask the guest (ack within min(ack timeout, timeout)), then wait for the domain to stop
    /// within what remains.
    private func shutdownDomain(_ vm: VMConfig, _ request: ShutdownRequest, timeout: Double, task: TaskHandle) async throws(XenopsError) {
        let start = clock.now
        let total = Duration.seconds(timeout)
        let ack = min(configuration.domainShutdownAckTimeout, total)
        guard try await backend.requestShutdown(vm, request, ackTimeout: ack, task: task) else {
            throw .failedToAcknowledgeShutdownRequest
        }
        let remaining = max(.zero, total - (clock.now - start))
        guard try await backend.waitShutdown(vm, timeout: remaining, task: task) else {
            throw .failedToShutdown(id: vm.id, timeout: timeout)
        }
    }

    private func remove(_ id: String) throws(XenopsError) {
        let vm = try metadata.vm(id)
        let power = backend.powerState(of: vm)
        if power == .running || power == .paused { throw .badPowerState(actual: power, expected: .halted) }
        for vbd in metadata.devices(id, VBDConfig.self) { updates.remove(.vbd(vbd.id)) }
        for vif in metadata.devices(id, VIFConfig.self) { updates.remove(.vif(vif.id)) }
        for pci in metadata.devices(id, PCIConfig.self) { updates.remove(.pci(pci.id)) }
        for vgpu in metadata.devices(id, VGPUConfig.self) { updates.remove(.vgpu(vgpu.id)) }
        backend.forget(id)
        metadata.remove(id)
        updates.remove(.vm(id))
    }

    /// Each atom becomes its own task on the parallel (or nested) queues, in chunks; the step
    /// waits for all of them and fails with the first error. Cancelling the operation cancels
    /// its atoms, and the step still waits for them, so no atom outlives the step.
    private func parallelAtomic(_ description: String, _ atoms: [Atomic], nested: Bool, task: TaskHandle) async throws(XenopsError) {
        let queues = nested ? nestedQueues : parallelQueues
        let prefix = "\(nested ? "Nested_parallel" : "Parallel"):task=\(task.id).atoms=\(atoms.count).(\(description))"
        // Atoms get the step's name as dbg (as in xenopsd), not the operation's.
        let dbg = prefix
        var errors: [XenopsError] = []
        let chunks = stride(from: 0, to: atoms.count, by: max(1, configuration.maxParallelAtoms)).map {
            Array(atoms[$0..<min($0 + max(1, configuration.maxParallelAtoms), atoms.count)])
        }
        for (chunkIndex, chunk) in chunks.enumerated() {
            let started = clock.now
            let subtasks = chunk.enumerated().map { index, atom -> (TaskHandle, Atomic, String) in
                let sub = tasks.add(dbg: dbg)
                let name = "\(prefix).chunk=\(chunkIndex).atom=\(index)"
                // The operation's task lists each atom as a subtask.
                tasks.beginSubtask(task.id, name)
                queues.push(tag: name, AtomItem(atomic: atom, task: sub, parent: task))
                return (sub, atom, name)
            }
            let table = tasks
            let token = tasks.onCancel(task.id) { for (sub, _, _) in subtasks { try? table.cancel(sub.id) } }
            for (sub, atom, name) in subtasks {
                let remaining = max(.zero, expiresAfter(atom) - (clock.now - started))
                let outcome: Result<Void, XenopsError>
                switch await tasks.waitFinished(sub.id, timeout: remaining, scheduler: scheduler) {
                case .finished(let record):
                    try? tasks.destroy(sub.id)
                    if case .failed(let error) = record.state { outcome = .failure(error) } else { outcome = .success(()) }
                case .destroyed:
                    outcome = .failure(.internalError("task \(sub.id) was destroyed"))
                case .timedOut:
                    try? tasks.cancel(sub.id)
                    outcome = .failure(.internalError("Timed out while waiting on task \(sub.id) (\(dbg))"))
                }
                tasks.endSubtask(task.id, name, outcome, duration: clock.now - started)
                if case .failure(let error) = outcome { errors.append(error) }
            }
            tasks.removeCancelCallback(task.id, token)
        }
        if let error = errors.first(where: { if case .cancelled = $0 { false } else { true } }) ?? errors.first {
            if tasks.isCancelling(task.id) { throw .cancelled(task: task.id) }
            throw error
        }
    }

    /// xenopsd's `atomic_expires_after`: the deadline per leaf, summed over serial steps and over
    /// parallel chunks (each chunk as long as its slowest atom).
    private func expiresAfter(_ atomic: Atomic) -> Duration {
        switch atomic {
        case .serial(_, _, let atoms):
            return atoms.reduce(.zero) { $0 + expiresAfter($1) }
        case .parallel(_, _, let atoms), .nestedParallel(_, _, let atoms):
            let size = max(1, configuration.maxParallelAtoms)
            return stride(from: 0, to: atoms.count, by: size).reduce(.zero) { total, start in
                total + (atoms[start..<min(start + size, atoms.count)].map(expiresAfter).max() ?? .zero)
            }
        default:
            return configuration.atomDeadline
        }
    }

    // MARK: cleanup

    /// As xenops_server.ml's `trigger_cleanup_after_failure`: bring the object back to a sensible state after a failure.
    private func cleanupAfterFailure(_ operation: Operation, task: TaskHandle) async throws(XenopsError) {
        let dbg = (try? tasks.stat(task.id).dbg) ?? "cleanup"
        switch operation {
        case .vmCheckState, .vbdCheckState, .vifCheckState, .pciCheckState:
            return
        case .vmStart(let id, _), .vmPoweroff(let id, _), .vmReboot(let id, _), .vmShutdown(let id, _),
             .vmSuspend(let id), .vmResume(let id), .vmRestoreDevices(let id), .vmMigrate(let id, _):
            try await immediate(.vmCheckState(id), dbg: dbg)
        case .vmReceiveMemory:
            // receiveMemory destroys what it made itself.
            return
        case .vbdHotplug(let id), .vbdHotunplug(let id, _):
            try await immediate(.vbdCheckState(id), dbg: dbg)
        case .vifHotplug(let id), .vifHotunplug(let id, _):
            try await immediate(.vifCheckState(id), dbg: dbg)
        case .atomic(let atomic):
            try await cleanupAfterFailure(atomic, dbg: dbg)
        }
    }

    private func cleanupAfterFailure(_ atomic: Atomic, dbg: String) async throws(XenopsError) {
        switch atomic {
        case .vbdPlug(let id), .vbdUnplug(let id, _), .vbdSetActive(let id, _), .vbdInsert(let id, _), .vbdEject(let id):
            try await immediate(.vbdCheckState(id), dbg: dbg)
        case .vifPlug(let id), .vifUnplug(let id, _), .vifSetActive(let id, _), .vifSetIPConfiguration(let id, _, _),
             .vifSetLockingMode(let id, _), .vifMove(let id, _):
            try await immediate(.vifCheckState(id), dbg: dbg)
        case .pciPlug(let id), .pciUnplug(let id):
            try await immediate(.pciCheckState(id), dbg: dbg)
        case .vgpuSetActive(let id, _):
            try await immediate(.vmCheckState(id.vm), dbg: dbg)
        case .vmRemove, .vmRename:
            return
        case .vmCreate(let id), .vmBuild(let id, _), .vmCreateDeviceModel(let id, _), .vmDestroyDeviceModel(let id),
             .vmDestroy(let id), .vmPause(let id), .vmUnpause(let id), .vmSetVcpus(let id, _), .vmSetMemoryDynamicRange(let id, _, _),
             .vmSetDomainActionRequest(let id, _), .vmShutdownDomain(let id, _, _), .vmSave(let id), .vmRestore(let id),
             .vmDelay(let id, _), .vmSoftreboot(let id):
            try await immediate(.vmCheckState(id), dbg: dbg)
        case .bestEffort(let inner):
            try await cleanupAfterFailure(inner, dbg: dbg)
        case .parallel(_, _, let atoms), .nestedParallel(_, _, let atoms), .serial(_, _, let atoms):
            for atom in atoms { try await cleanupAfterFailure(atom, dbg: dbg) }
        }
    }

    // MARK: state

    /// `VM.stat`'s state, with a rebooting VM shown as Running (no Halted blip).
    func stat(_ vm: VMConfig) -> VMState {
        var state = backend.state(of: vm)
        if rebooting.withLock({ $0[vm.id] != nil }) { state.powerState = .running }
        return state
    }

    /// The power state alone (what preconditions need), masked like `stat` during a reboot.
    func powerState(_ vm: VMConfig) -> PowerState {
        if rebooting.withLock({ $0[vm.id] != nil }) { return .running }
        return backend.powerState(of: vm)
    }

    private func setRebooting(_ vm: String, _ on: Bool) {
        rebooting.withLock { counts in
            let count = (counts[vm] ?? 0) + (on ? 1 : -1)
            counts[vm] = count > 0 ? count : nil
        }
    }

    // MARK: signals (xenops_server.ml: VM, VBD, PCI and VGPU only while the object exists)

    func signalVM(_ id: String) { if metadata.exists(id) { updates.add(.vm(id)) } }
    func signal(_ kind: DeviceKind, _ id: DeviceID) {
        if kind == .vif || metadata.exists(kind, id) { updates.add(kind.dynamic(id)) }
    }
}
