import Foundation
import DequeModule
import Synchronization
public import Timing

/// Keeps background work (checks and signals of VMs no caller is waiting for) off the CPUs while
/// foreground work (an operation a client requested, up to the barrier that ends it) runs.
///
/// Task priorities alone do not do this on Linux: `.low` jobs run on threads of their own that
/// the kernel schedules as fairly as the rest, so a backlog of other VMs' signals left a
/// `VM.start` half of the two cores and twice its idle time (bench/e2e). Here:
/// * with no foreground work, at most `idleLimit` background bodies run at once (by default
///   one core's worth less than the machine has), so that an operation arriving finds a core
///   free and little background work in flight to finish;
/// * while foreground work is in flight, background work waits, for at most `pause` after the
///   oldest of it began; after that `limit` bodies may run at once, so a long operation (a
///   clean shutdown waiting for its guest) slows the rest of the host down but never stops it.
///
/// Foreground work names the object it is for (a VM's id); background work for the same object
/// is never held back, because the foreground may be waiting for it: an operation queued behind
/// a check of its own VM, or a barrier behind its VM's earlier signals.
public final class PriorityGate: Sendable {
    private struct Waiter {
        let id: Int
        let key: String?
        let continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        let limit: Int
        let idleLimit: Int
        let pause: Duration
        var foreground: [Int: (key: String?, since: Duration)] = [:]
        var foregroundKeys: [String: Int] = [:]
        var nextID = 0
        var backgroundRunning = 0
        var waiting: Deque<Waiter> = []
        /// Waiters between taking an id and queueing their continuation, and those of them
        /// cancelled in that window (they go at once when they come to queue).
        var unqueued: Set<Int> = []
        var cancelled: Set<Int> = []
        /// A wake-up is scheduled for the end of the current pause.
        var timerArmed = false

        /// When the pause ends, or nil when background work is not paused.
        func pauseEnd(now: Duration) -> Duration? {
            guard let oldest = foreground.values.map(\.since).min() else { return nil }
            let end = oldest + pause
            return end > now ? end : nil
        }

        func mayRun(key: String?, now: Duration) -> Bool {
            if foreground.isEmpty { return backgroundRunning < idleLimit }
            if let key, foregroundKeys[key] != nil { return true }
            return pauseEnd(now: now) == nil && backgroundRunning < limit
        }

        /// The waiters that may go now, each given a slot: those for a foreground object
        /// wherever they are in the queue, then the others in arrival order.
        mutating func admit(now: Duration) -> [CheckedContinuation<Void, Never>] {
            var admitted: [CheckedContinuation<Void, Never>] = []
            if !foregroundKeys.isEmpty, waiting.contains(where: { $0.key.map { foregroundKeys[$0] != nil } ?? false }) {
                var held: Deque<Waiter> = []
                for waiter in waiting {
                    if let key = waiter.key, foregroundKeys[key] != nil {
                        backgroundRunning += 1
                        admitted.append(waiter.continuation)
                    } else {
                        held.append(waiter)
                    }
                }
                waiting = held
            }
            while let first = waiting.first, mayRun(key: first.key, now: now) {
                waiting.removeFirst()
                backgroundRunning += 1
                admitted.append(first.continuation)
            }
            return admitted
        }

        /// Whether the caller must schedule a wake-up at the pause's end: waiters are held by it.
        mutating func armTimer(now: Duration) -> Duration? {
            guard !waiting.isEmpty, !timerArmed, let end = pauseEnd(now: now) else { return nil }
            timerArmed = true
            return end
        }
    }

    private let state: Mutex<State>
    /// Ends pauses; its clock is the gate's time.
    private let deadlines: Deadlines
    private var now: Duration { deadlines.clock.now }

    /// `limit`: background bodies at once while foreground work has run longer than `pause`;
    /// `idleLimit`: at once with no foreground work (nil: one less than the active processors).
    public init(limit: Int = 1, idleLimit: Int? = nil, pause: Duration = .milliseconds(50),
                deadlines: Deadlines = Deadlines()) {
        let processors = ProcessInfo.processInfo.activeProcessorCount
        state = Mutex(State(limit: max(1, limit), idleLimit: max(1, idleLimit ?? processors - 1), pause: pause))
        self.deadlines = deadlines
    }

    /// How many background bodies may run at once with no foreground work. A layer with
    /// several workers lets no more than this many take background work, so none of them
    /// waits here (a wake-up per body) while the others could serve foreground work.
    public var idleLimit: Int { state.withLock { $0.idleLimit } }

    /// Foreground work in flight, for diagnostics and tests.
    public var foregroundCount: Int { state.withLock { $0.foreground.count } }

    /// Background bodies held back now (tests wait for a body to be held, not for time).
    var waitingCount: Int { state.withLock { $0.waiting.count } }

    /// Runs `body` as foreground work for `key`: background work gives way while it runs.
    public func foreground<R, E: Error>(key: String? = nil, _ body: () async throws(E) -> R) async throws(E) -> R {
        let (id, admitted) = state.withLock { state -> (Int, [CheckedContinuation<Void, Never>]) in
            let id = state.nextID
            state.nextID += 1
            let now = self.now
            state.foreground[id] = (key, now)
            if let key { state.foregroundKeys[key, default: 0] += 1 }
            return (id, state.admit(now: now))
        }
        for waiter in admitted { waiter.resume() }
        defer { endForeground(id) }
        return try await body()
    }

    /// Runs `body` as background work for `key`, first waiting while the gate holds it back.
    /// A cancelled waiter runs `body` at once: cancellation is how a worker shuts down, and
    /// the body sees the cancellation itself.
    public func background<R>(key: String? = nil, _ body: () async throws -> R) async rethrows -> R {
        await acquire(key: key)
        defer { release() }
        return try await Self.$holdsSlot.withValue(true) { try await body() }
    }

    /// Whether the current task runs a background body, holding a slot.
    @TaskLocal static var holdsSlot = false

    /// Runs `body` as foreground work for `key`. Inside a background body (a check that found
    /// its guest asking to be rebooted), the body's slot is given up meanwhile and taken back
    /// after, so a long operation does not hold up the rest of the background work.
    public func promoted<R, E: Error>(key: String?, _ body: () async throws(E) -> R) async throws(E) -> R {
        guard Self.holdsSlot else { return try await foreground(key: key, body) }
        release()
        let result: Result<R, E> = await Self.$holdsSlot.withValue(false) {
            do throws(E) {
                return .success(try await foreground(key: key, body))
            } catch {
                return .failure(error)
            }
        }
        await acquire(key: key)
        return try result.get()
    }

    private func endForeground(_ id: Int) {
        let (admitted, timer) = state.withLock { state -> ([CheckedContinuation<Void, Never>], Duration?) in
            if let key = state.foreground.removeValue(forKey: id)?.key {
                let count = (state.foregroundKeys[key] ?? 1) - 1
                state.foregroundKeys[key] = count > 0 ? count : nil
            }
            let now = self.now
            return (state.admit(now: now), state.armTimer(now: now))
        }
        for waiter in admitted { waiter.resume() }
        if let timer { wake(at: timer) }
    }

    private func release() {
        let admitted = state.withLock { state in
            state.backgroundRunning -= 1
            return state.admit(now: self.now)
        }
        for waiter in admitted { waiter.resume() }
    }

    /// At the end of a pause: let waiters go, and wait for the next pause's end if one began
    /// meanwhile (a newer operation is now the oldest).
    private func wake(at deadline: Duration) {
        deadlines.schedule(at: deadline, "priority pause end") { [self] in
            let (admitted, timer) = state.withLock { state -> ([CheckedContinuation<Void, Never>], Duration?) in
                state.timerArmed = false
                let now = self.now
                return (state.admit(now: now), state.armTimer(now: now))
            }
            for waiter in admitted { waiter.resume() }
            if let timer { wake(at: timer) }
        }
    }

    private func acquire(key: String?) async {
        let id: Int? = state.withLock { state in
            if state.waiting.isEmpty && state.mayRun(key: key, now: self.now) {
                state.backgroundRunning += 1
                return nil
            }
            defer { state.nextID += 1 }
            state.unqueued.insert(state.nextID)
            return state.nextID
        }
        guard let id else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let (admitted, timer) = state.withLock { state -> ([CheckedContinuation<Void, Never>], Duration?) in
                    state.unqueued.remove(id)
                    if state.cancelled.remove(id) != nil {
                        state.backgroundRunning += 1
                        return ([continuation], nil)
                    }
                    // The gate may have opened between taking the id and queueing.
                    state.waiting.append(Waiter(id: id, key: key, continuation: continuation))
                    let now = self.now
                    return (state.admit(now: now), state.armTimer(now: now))
                }
                for waiter in admitted { waiter.resume() }
                if let timer { wake(at: timer) }
            }
        } onCancel: {
            let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard let index = state.waiting.firstIndex(where: { $0.id == id }) else {
                    if state.unqueued.contains(id) { state.cancelled.insert(id) }  // else already admitted
                    return nil
                }
                state.backgroundRunning += 1
                return state.waiting.remove(at: index).continuation
            }
            continuation?.resume()
        }
    }
}
