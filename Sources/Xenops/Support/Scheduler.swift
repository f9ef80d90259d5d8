import Synchronization

/// One-shot timers on the engine's clock (xenopsd's `Scheduler`): `UPDATES.get` timeouts and
/// similar deadlines. Each timer is a suspended task (no thread); the table exists so
/// diagnostics can list what is pending, as `xenops-cli diagnostics` does.
final class Scheduler: Sendable {
    struct TimerID: Hashable, Sendable { let raw: UInt64 }

    private struct Entry {
        var deadline: Duration
        var description: String
        var task: Task<Void, Never>?
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())
    let clock: any XenopsClock

    init(clock: any XenopsClock) { self.clock = clock }

    /// Runs `action` once after `delay`, unless cancelled first.
    @discardableResult
    func oneShot(after delay: Duration, _ description: String, _ action: @escaping @Sendable () -> Void) -> TimerID {
        let deadline = clock.now + delay
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            state.entries[state.nextID] = Entry(deadline: deadline, description: description)
            return state.nextID
        }
        let task = Task { [clock] in
            do { try await clock.sleep(until: deadline) } catch { return }
            let due = self.state.withLock { $0.entries.removeValue(forKey: id) != nil }
            if due { action() }
        }
        let cancelledMeanwhile = state.withLock { state -> Bool in
            guard state.entries[id] != nil else { return true }
            state.entries[id]!.task = task
            return false
        }
        if cancelledMeanwhile { task.cancel() }
        return TimerID(raw: id)
    }

    func cancel(_ id: TimerID) {
        let task = state.withLock { $0.entries.removeValue(forKey: id.raw)?.task }
        task?.cancel()
    }

    var pendingCount: Int { state.withLock { $0.entries.count } }

    /// `[{"time": seconds from now, "thing": description}]`, soonest first.
    func dump() -> JSON {
        let now = clock.now
        let entries = state.withLock { Array($0.entries.values) }.sorted { $0.deadline < $1.deadline }
        return .array(entries.map {
            .object(["time": .double(($0.deadline - now).seconds), "thing": .string($0.description)])
        })
    }
}
