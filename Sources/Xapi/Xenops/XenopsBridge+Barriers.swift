import Logging
import Synchronization
import XapiDB
import Xenops

extension XenopsBridge {
    struct BarrierState {
        var next = 1
        var waiting: [Int: CheckedContinuation<Void, Never>] = [:]
        /// The VM each barrier is for: its wake-up goes in that VM's lane even when the barrier
        /// carries no signal (they were all taken by earlier batches and may still be in the lane).
        var vms: [Int: String] = [:]
        /// Barriers whose waiter was cancelled before it was injected: never injected.
        var cancelledEarly: Set<Int> = []
        /// Barriers whose waiter was cancelled while injected: their wake-up finds no one.
        var abandoned: Set<Int> = []
    }

    /// xapi's `Events_from_xenopsd.wait`: returns once every signal about `vm` raised before the
    /// call has been applied to the database, or at once when the waiting task is cancelled
    /// (the barrier's wake-up still passes through the VM's lane later and is dropped then).
    public func barrier(vm uuid: String) async {
        let id = barriers.withLock { state -> Int in
            let id = state.next
            state.next += 1
            state.vms[id] = uuid
            return id
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let inject = barriers.withLock { state -> Bool in
                    guard state.cancelledEarly.remove(id) == nil else {
                        state.vms[id] = nil
                        return false
                    }
                    state.waiting[id] = continuation
                    return true
                }
                if inject { xenops.updates.injectBarrier(vm: uuid, id: id) } else { continuation.resume() }
            }
        } onCancel: {
            let continuation = barriers.withLock { state -> CheckedContinuation<Void, Never>? in
                guard let continuation = state.waiting.removeValue(forKey: id) else {
                    if state.vms[id] != nil { state.cancelledEarly.insert(id) }
                    return nil
                }
                state.abandoned.insert(id)
                return continuation
            }
            continuation?.resume()
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

    func wake(barrier id: Int) {
        xenops.updates.removeBarrier(id)
        let (continuation, abandoned) = barriers.withLock { state -> (CheckedContinuation<Void, Never>?, Bool) in
            state.vms[id] = nil
            return (state.waiting.removeValue(forKey: id), state.abandoned.remove(id) != nil)
        }
        if let continuation {
            continuation.resume()
        } else if !abandoned {
            logger.warning("barrier woken that nobody waits for", metadata: ["barrier": "\(id)"])
        }
    }
}
