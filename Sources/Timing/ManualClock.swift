import Synchronization

/// A clock that moves only when told to, so timeouts and delays are driven by a test instead of
/// waited for. Part of the module, not of a test target, so every layer's tests can drive the
/// same clock the server's code sleeps on.
public final class ManualClock: ServerClock {
    private enum Sleeper {
        case pending(Duration)
        case cancelled
        case waiting(Duration, CheckedContinuation<Void, any Error>)
    }

    private struct State {
        var now: Duration = .zero
        var wall: Double = 1_700_000_000
        var sleepers: [UInt64: Sleeper] = [:]
        var next: UInt64 = 0
        var sleeperWatchers: [(id: UInt64, count: Int, within: Duration?, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())

    public init() {}

    public var now: Duration { state.withLock { $0.now } }
    public var wallTime: Double {
        state.withLock { state in
            let (seconds, attoseconds) = state.now.components
            return state.wall + Double(seconds) + Double(attoseconds) / 1e18
        }
    }

    public func sleep(until deadline: Duration) async throws {
        let id = state.withLock { state -> UInt64? in
            if deadline <= state.now { return nil }
            state.next += 1
            state.sleepers[state.next] = .pending(deadline)
            return state.next
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (outcome, watchers) = state.withLock { state -> (Result<Void, any Error>?, [CheckedContinuation<Void, Never>]) in
                    switch state.sleepers[id] {
                    case .pending(let deadline):
                        if deadline <= state.now {
                            state.sleepers[id] = nil
                            return (.success(()), [])
                        }
                        state.sleepers[id] = .waiting(deadline, continuation)
                        return (nil, Self.satisfiedWatchers(&state))
                    default:
                        state.sleepers[id] = nil
                        return (.failure(CancellationError()), [])
                    }
                }
                for watcher in watchers { watcher.resume() }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let continuation = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                switch state.sleepers[id] {
                case .pending:
                    state.sleepers[id] = .cancelled
                    return nil
                case .waiting(_, let continuation):
                    state.sleepers[id] = nil
                    return continuation
                default:
                    return nil
                }
            }
            continuation?.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward, waking every sleeper now due.
    public func advance(by duration: Duration) {
        let due = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.now += duration
            var due: [CheckedContinuation<Void, any Error>] = []
            for (id, sleeper) in state.sleepers {
                if case .waiting(let deadline, let continuation) = sleeper, deadline <= state.now {
                    due.append(continuation)
                    state.sleepers[id] = nil
                }
            }
            return due
        }
        for continuation in due { continuation.resume() }
    }

    /// Suspends until at least `count` tasks sleep (with a deadline within `within` from now, if
    /// given), or until the calling task is cancelled (a test's time limit).
    public func waitForSleepers(_ count: Int = 1, dueWithin within: Duration? = nil) async {
        let id = state.withLock { state -> UInt64 in
            state.next += 1
            return state.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Bool in
                    if Task.isCancelled || Self.sleeping(state, within: within) >= count { return true }
                    state.sleeperWatchers.append((id, count, within, continuation))
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard let index = state.sleeperWatchers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleeperWatchers.remove(at: index).continuation
            }
            continuation?.resume()
        }
    }

    public var sleeperCount: Int { state.withLock { Self.sleeping($0, within: nil) } }

    private static func sleeping(_ state: State, within: Duration?) -> Int {
        state.sleepers.values.filter {
            guard case .waiting(let deadline, _) = $0 else { return false }
            return within.map { deadline <= state.now + $0 } ?? true
        }.count
    }

    private static func satisfiedWatchers(_ state: inout State) -> [CheckedContinuation<Void, Never>] {
        var ready: [CheckedContinuation<Void, Never>] = []
        var waiting: [(id: UInt64, count: Int, within: Duration?, continuation: CheckedContinuation<Void, Never>)] = []
        for watcher in state.sleeperWatchers {
            if sleeping(state, within: watcher.within) >= watcher.count {
                ready.append(watcher.continuation)
            } else {
                waiting.append(watcher)
            }
        }
        state.sleeperWatchers = waiting
        return ready
    }
}
