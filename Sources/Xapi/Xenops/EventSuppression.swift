import Synchronization

/// xapi's `Events_from_xenopsd.with_suppressed` bookkeeping (xen-api ocaml/xapi/xapi_xenops.ml):
/// while an operation holds a VM, the events loop ignores that VM's updates (a VM migrating away
/// would otherwise be seen Halted on the source). Concurrent holders share it; the last one out
/// lifts the suppression, refreshes the VM and waits for a barrier, and only then do the others,
/// who wait for it, return — xapi does all of that under one mutex, here a `lifting` phase does.
/// A hold taken inside another of the same task (`nestedHolds`) neither waits nor lifts: xapi's
/// would wait for itself.
final class EventSuppression: Sendable {
    /// The VMs the current task already holds.
    @TaskLocal static var nestedHolds: Set<String> = []

    private struct VMState {
        var holders = 0
        var lifting = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex<[String: VMState]>([:])

    /// Whether the events loop must ignore the VM's updates now.
    func isSuppressed(_ vm: String) -> Bool {
        state.withLock { ($0[vm]?.holders ?? 0) > 0 }
    }

    /// The VMs held now (for diagnostics).
    var suppressed: [String] {
        state.withLock { $0.filter { $0.value.holders > 0 }.map(\.key).sorted() }
    }

    func holders(of vm: String) -> Int {
        state.withLock { $0[vm]?.holders ?? 0 }
    }

    /// A hold nested in one of the same task's: counted, never waited for.
    func enterNested(_ vm: String) {
        state.withLock { $0[vm, default: VMState()].holders += 1 }
    }

    func leaveNested(_ vm: String) {
        state.withLock { $0[vm, default: VMState()].holders -= 1 }
    }

    /// Takes a hold, after any lifting in progress has finished.
    func enter(_ vm: String) async {
        while true {
            let lifting = state.withLock { states -> Bool in
                if states[vm]?.lifting == true { return true }
                states[vm, default: VMState()].holders += 1
                return false
            }
            if !lifting { return }
            await waitUntilLifted(vm)
        }
    }

    /// Gives a hold back. True for the last holder, who must refresh, wait for its barrier and
    /// then call `lifted`; the others return once it has.
    func leave(_ vm: String) async -> Bool {
        let last = state.withLock { states -> Bool in
            states[vm, default: VMState()].holders -= 1
            if states[vm]!.holders > 0 { return false }
            states[vm]!.lifting = true
            return true
        }
        if !last { await waitUntilLifted(vm) }
        return last
    }

    /// The last holder's refresh has reached the database: everyone waiting goes on.
    func lifted(_ vm: String) {
        let waiters = state.withLock { states -> [CheckedContinuation<Void, Never>] in
            guard var entry = states[vm] else { return [] }
            let waiters = entry.waiters
            entry.waiters = []
            entry.lifting = false
            states[vm] = entry.holders == 0 ? nil : entry
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns after the next lift of the VM's suppression (at once if it is neither held nor
    /// being lifted).
    private func waitUntilLifted(_ vm: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { states -> Bool in
                guard let entry = states[vm], entry.lifting || entry.holders > 0 else { return true }
                states[vm]!.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
}
