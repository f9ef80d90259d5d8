import Logging
import Synchronization
import Timing


/// The xenopsd a VM migrates to. In this process it is another host's `Xenops`; xenopsd reaches
/// it at a URL, over the connections `MigrationChannel` stands for.
public struct MigrationTarget: Sendable, Hashable {
    let xenops: Xenops

    public init(_ xenops: Xenops) { self.xenops = xenops }

    public static func == (a: MigrationTarget, b: MigrationTarget) -> Bool { a.xenops === b.xenops }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(xenops)) }
}

/// What the two ends of a migration say to each other (xenopsd's `/migrate/vm` and
/// `/migrate/mem` connections): handshakes (`Xenops_migrate.Handshake`) and the memory
/// image, each direction a mailbox. A receive that hears nothing within its bound fails, so a
/// dead peer never leaves a worker waiting.
public final class MigrationChannel: Sendable, Hashable {
    enum Message: Sendable {
        case success
        case failure(XenopsError)
        case memory(SuspendImage)
    }

    final class Mailbox: Sendable {
        private struct State {
            var messages: [Message] = []
            var waiter: CheckedContinuation<Message, Never>?
            var timer: (Deadlines, Deadlines.TimerID)?
        }

        private let state = Mutex(State())

        func send(_ message: Message) {
            let (waiter, timer) = state.withLock { s -> (CheckedContinuation<Message, Never>?, (Deadlines, Deadlines.TimerID)?) in
                guard let waiter = s.waiter else {
                    s.messages.append(message)
                    return (nil, nil)
                }
                defer { (s.waiter, s.timer) = (nil, nil) }
                return (waiter, s.timer)
            }
            if let (scheduler, id) = timer { scheduler.cancel(id) }
            waiter?.resume(returning: message)
        }

        func receive(within timeout: Duration, scheduler: Deadlines) async -> Message {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { s -> Message? in
                    if !s.messages.isEmpty { return s.messages.removeFirst() }
                    s.waiter = continuation
                    return nil
                }
                if let ready {
                    continuation.resume(returning: ready)
                    return
                }
                let id = scheduler.schedule(after: timeout, "migration handshake") { [weak self] in
                    self?.send(.failure(.internalError("migration: the other host did not answer")))
                }
                // The timer is cancelled when a message comes first (it may already have).
                let stale = state.withLock { s -> Bool in
                    guard s.waiter != nil else { return true }
                    s.timer = (scheduler, id)
                    return false
                }
                if stale { scheduler.cancel(id) }
            }
        }
    }

    let toDestination = Mailbox()
    let toSource = Mailbox()

    init() {}

    public static func == (a: MigrationChannel, b: MigrationChannel) -> Bool { a === b }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

/// When a `VM_rename` happens (xenopsd's `rename_when`).
public enum RenameWhen: String, Sendable, Hashable {
    case preMigration = "Pre_migration"
    case postMigration = "Post_migration"
}

extension Engine {
    /// xenopsd's temporary ids of a migration: the first 24 characters of the uuid, eleven
    /// zeros, then 0 for the source's domain moved aside and 1 for the destination's new one.
    static func temporaryID(_ id: String, destination: Bool) -> String {
        String(id.prefix(24)) + "00000000000" + (destination ? "1" : "0")
    }

    /// `VM_migrate` on the source (xenops_server.ml): the destination imports the metadata under
    /// its temporary id and starts receiving; after its first handshake the memory is copied
    /// live in rounds, the guest suspended for the last, the image sent, the domain renamed
    /// aside; after the final handshakes it is destroyed and forgotten here.
    func migrate(_ id: String, to target: MigrationTarget, task: TaskHandle) async throws(XenopsError) {
        let vm = try metadata.vm(id)
        let (temporarySource, temporaryDestination) = (Self.temporaryID(id, destination: false), Self.temporaryID(id, destination: true))
        logger.debug("VM.migrate", metadata: ["vm": "\(id)", "destination_id": "\(temporaryDestination)", "source_id": "\(temporarySource)"])
        // Operations on the temporary id land in this worker's queue.
        queues.alias(tag: tag(for: id), alias: temporarySource)
        target.xenops.vm.importMetadata(try metadata.metadata(id).renamed(to: temporaryDestination))
        let channel = MigrationChannel()
        target.xenops.engine.queueReceive(.vmReceiveMemory(temporaryDestination, finalID: id, channel), dbg: "VM.receive_memory")
        let timeout = configuration.atomDeadline
        do throws(XenopsError) {
            try Self.expectSuccess(await channel.toSource.receive(within: timeout, scheduler: scheduler))   // synchronisation point 1
            task.setProgress(0.05)
            let remaining = try await copyMemoryLive(vm, task: task)
            try await performAtomic(.vmSave(id), task: task) { task.setProgress(0.8 + $0 * 0.1) }
            guard let image = backend.extra(id)?.suspendImage else { throw .internalError("VM \(id) was not saved") }
            try await sleepForCopy(remaining, task: task)      // the final round, with the guest suspended
            backend.updateExtra(id) { $0.suspendImage = nil }
            channel.toDestination.send(.memory(image))
            try await performAtomic(.vmRename(id, temporarySource, .preMigration), task: task) { _ in }   // point 2
            channel.toDestination.send(.success)                                                         // point 3
            try Self.expectSuccess(await channel.toSource.receive(within: timeout, scheduler: scheduler)) // point 4
        } catch {
            channel.toDestination.send(.failure(error))
            throw error
        }
        task.setProgress(0.95)
        let cleanup = try atomics(of: .vmShutdown(temporarySource, timeout: nil)) + [.vmRemove(temporarySource)]
        for atomic in cleanup { try await performAtomic(atomic, task: task) { _ in } }
    }

    /// `VM_receive_memory` on the destination: an empty domain under the temporary id, the
    /// image restored into it, then, once the source has let go, the VM renamed to its own id,
    /// its devices plugged (their XenbusState handshakes) and the guest unpaused.
    func receiveMemory(_ id: String, finalID: String, channel: MigrationChannel, task: TaskHandle) async throws(XenopsError) {
        receiveMemoryQueues.alias(tag: tag(for: id), alias: finalID)
        let held = [tag(for: id), finalID]
        holdForReceive(held)
        defer { releaseReceive(held) }
        let timeout = configuration.atomDeadline
        var renamed = false
        do throws(XenopsError) {
            try await performAtomic(.vmCreate(id), task: task) { _ in }
            channel.toSource.send(.success)                                                                 // point 1
            guard case .memory(let image) = await channel.toDestination.receive(within: timeout, scheduler: scheduler) else {
                throw .internalError("migration: no memory image came")
            }
            backend.updateExtra(id) { $0.suspendImage = image }
            try await performAtomic(.vmRestore(id), task: task) { _ in }
            try Self.expectSuccess(await channel.toDestination.receive(within: timeout, scheduler: scheduler)) // point 3
            try await performAtomic(.vmRename(id, finalID, .postMigration), task: task) { _ in }
            renamed = true
            for atomic in try atomics(of: .vmRestoreDevices(finalID)) + [.vmUnpause(finalID), .vmSetDomainActionRequest(finalID, nil)] {
                try await performAtomic(atomic, task: task) { _ in }
            }
            channel.toSource.send(.success)                                                                 // point 4
            signalVM(finalID)
        } catch {
            logger.info("VM.receive_memory failed; destroying the new domain", metadata: ["vm": "\(finalID)", "error": "\(error)"])
            // Cleaned up before the source hears of it, so its failure means nothing is left here.
            let current = renamed ? finalID : id
            for atomic in [Atomic.vmDestroy(current), .vmRemove(current)] {
                try? await performAtomic(atomic, task: task) { _ in }
            }
            channel.toSource.send(.failure(error))
            throw error
        }
    }

    private static func expectSuccess(_ message: MigrationChannel.Message) throws(XenopsError) {
        switch message {
        case .success: return
        case .failure(let error): throw error
        case .memory: throw .internalError("migration: unexpected memory image")
        }
    }

    /// The live rounds of a migration's copy (xenguest): all memory first, then what the guest
    /// dirtied meanwhile, until a round is small enough or the rounds run out; returns what is
    /// left for the final round. Instant when no bandwidth is configured.
    private func copyMemoryLive(_ vm: VMConfig, task: TaskHandle) async throws(XenopsError) -> Int64 {
        guard configuration.migrationBandwidth != nil else { return 0 }
        let memory = (backend.domain(of: vm.id)?.totalMemoryKiB ?? vm.memoryStaticMax / 1024) * 1024
        var round = memory
        var sent: Int64 = 0
        var rounds = 0
        while round > configuration.migrationFinalRoundBytes, rounds < configuration.migrationMaxRounds {
            try await sleepForCopy(round, task: task)
            sent += round
            rounds += 1
            task.setProgress(0.05 + 0.75 * min(1, Double(sent) / Double(max(memory, 1))))
            round = Int64(Double(round) * configuration.migrationDirtyFraction)
        }
        return round
    }

    private func sleepForCopy(_ bytes: Int64, task: TaskHandle) async throws(XenopsError) {
        guard let bandwidth = configuration.migrationBandwidth, bandwidth > 0, bytes > 0 else { return }
        let clock = self.clock
        let duration = Duration.seconds(Double(bytes) / Double(bandwidth))
        let slept = await task.interruptible {
            do { try await clock.sleep(for: duration) } catch { return false }
            return true
        }
        if slept != true { throw .cancelled(task: task.id) }
    }
}
