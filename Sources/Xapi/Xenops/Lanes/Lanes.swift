import Synchronization

/// The parallel events loop's lanes shared by its workers: `LaneState` behind a mutex, with
/// the continuations of idle workers. A push or a finish that makes an item takeable hands it
/// straight to an idle worker, resumed after the lock is released.
final class Lanes: Sendable {
    typealias Item = LaneState.Item
    typealias Taken = LaneState.Taken

    private struct State {
        var lanes: LaneState
        var idle: [CheckedContinuation<Taken?, Never>] = []
        var closed = false
        var closeWaiters: [CheckedContinuation<Void, Never>] = []

        /// An idle worker and the item it is to run, if both exist.
        mutating func handoff() -> (CheckedContinuation<Taken?, Never>, Taken)? {
            guard !idle.isEmpty, let taken = lanes.take() else { return nil }
            return (idle.removeLast(), taken)
        }
    }

    private let state: Mutex<State>

    init(workers: Int = 2) {
        state = Mutex(State(lanes: LaneState(workers: workers)))
    }

    func push(_ item: Item, lane: LaneKey, urgent: Bool = false) {
        let handoff = state.withLock { s -> (CheckedContinuation<Taken?, Never>, Taken)? in
            guard !s.closed, s.lanes.push(item, lane: lane, urgent: urgent) else { return nil }
            return s.handoff()
        }
        if let (worker, taken) = handoff { worker.resume(returning: taken) }
    }

    /// The next item of the next ready lane; nil once closed.
    func next() async -> Taken? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Taken?, Never>) in
            let immediate = state.withLock { s -> Taken?? in
                if s.closed { return .some(nil) }
                if let taken = s.lanes.take() { return .some(taken) }
                s.idle.append(continuation)
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
    }

    func finished(_ lane: LaneKey) {
        let handoff = state.withLock { s -> (CheckedContinuation<Taken?, Never>, Taken)? in
            s.lanes.finished(lane)
            return s.handoff()
        }
        if let (worker, taken) = handoff { worker.resume(returning: taken) }
    }

    func focus(_ lane: LaneKey) {
        state.withLock { $0.lanes.focus(lane) }
    }

    func unfocus(_ lane: LaneKey) {
        state.withLock { $0.lanes.unfocus(lane) }
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
}
