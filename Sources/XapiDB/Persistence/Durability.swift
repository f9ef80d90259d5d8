import Synchronization

/// Connects writers to the persistence service: writes announce that something changed, the
/// service sleeps until then, and a caller that must not acknowledge before its write is on disk
/// parks until the flushed generation reaches it. One flush covers every write made before it,
/// so under load many RPCs share one SQLite commit (group commit).
final class Durability: Sendable {
    private struct State {
        var enabled = false
        var durableGeneration: Int64 = 0
        var changePending = false
        var serviceWaiter: CheckedContinuation<Void, Never>?
        var waiters: [(generation: Int64, continuation: CheckedContinuation<Void, Never>)] = []

        /// Nothing to wait for: persistence is off, or `generation` is already on disk.
        func covers(_ generation: Int64) -> Bool { !enabled || durableGeneration >= generation }
    }

    private let state = Mutex(State())

    /// Turned on by the persistence service; without it (`--in-memory`) nothing waits.
    func enable(durableGeneration: Int64) {
        state.withLock {
            $0.enabled = true
            $0.durableGeneration = durableGeneration
        }
    }

    func changed() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard s.enabled else { return nil }
            s.changePending = true
            defer { s.serviceWaiter = nil }
            return s.serviceWaiter
        }
        waiter?.resume()
    }

    /// The service's wait for the next batch of changes.
    func waitForChanges() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s -> Bool in
                if s.changePending {
                    s.changePending = false
                    return true
                }
                s.serviceWaiter = continuation
                return false
            }
            if ready { continuation.resume() }
        }
        state.withLock { $0.changePending = false }
    }

    /// Wakes the service so it can observe shutdown.
    func poke() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.changePending = true
            defer { s.serviceWaiter = nil }
            return s.serviceWaiter
        }
        waiter?.resume()
    }

    func markDurable(_ generation: Int64) {
        let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.durableGeneration = max(s.durableGeneration, generation)
            let durable = s.durableGeneration
            let done = s.waiters.filter { $0.generation <= durable }.map(\.continuation)
            s.waiters.removeAll { $0.generation <= durable }
            return done
        }
        for continuation in ready { continuation.resume() }
    }

    /// Returns once everything up to `generation` is on disk (at once when persistence is off).
    func wait(for generation: Int64) async {
        // Most calls wrote nothing new: answer without suspending, which would cost a trip
        // through the executor on every request.
        if state.withLock({ $0.covers(generation) }) { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if s.covers(generation) { return true }
                s.waiters.append((generation, continuation))
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Callers parked until a flush (tests check that a wait really waits).
    var parkedCount: Int { state.withLock { $0.waiters.count } }

    /// Releases every waiter (at shutdown, after the last flush or when it failed).
    func releaseAll() {
        let all = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.enabled = false
            defer { s.waiters = [] }
            return s.waiters.map(\.continuation)
        }
        for continuation in all { continuation.resume() }
    }
}
