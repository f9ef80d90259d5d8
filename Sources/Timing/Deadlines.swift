import Synchronization

/// The server's one timer service: actions that run once their deadline on a `ServerClock`
/// passes, unless cancelled first. Xenops' timeouts (xenopsd's `Scheduler`: `UPDATES.get`,
/// priority pauses) and the database's parked `event.from`/`event.next` deadlines all use it.
///
/// One sleeping task serves every deadline. A task per timer (sleep, cancelled when the wait
/// ended first) cost a task, a dispatch timer and, at wake-up, a cancellation handled on Swift's
/// global pool: about 35 µs of server CPU per `event.from` round trip, spent in the middle of a
/// fan-out where 1,000 calls wake at once (BENCHMARKS.md "RPC throughput", bench/events). Here
/// scheduling and cancelling are a heap push and a dictionary update under a short lock; the
/// sleeper is replaced only when a deadline earlier than the one it sleeps for arrives.
public final class Deadlines: Sendable {
    public struct TimerID: Hashable, Sendable {
        let raw: UInt64
    }

    /// A pending timer, for diagnostics (`xenops-cli diagnostics`' scheduler section).
    public struct Pending: Sendable {
        public let deadline: Duration
        public let description: String
    }

    private struct Timer {
        var deadline: Duration
        var description: String
        var action: @Sendable () -> Void
    }

    private struct HeapEntry {
        var deadline: Duration
        var id: UInt64
    }

    private struct State {
        /// A binary min-heap by deadline; entries whose id has left `timers` are skipped.
        var heap: [HeapEntry] = []
        var timers: [UInt64: Timer] = [:]
        var nextID: UInt64 = 0
        /// The running sleeper's target and generation (a replaced sleeper finds its
        /// generation gone and leaves quietly).
        var sleeperTarget: Duration?
        var sleeperGeneration: UInt64 = 0
        var sleeper: Task<Void, Never>?

        mutating func push(_ entry: HeapEntry) {
            heap.append(entry)
            var child = heap.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard heap[child].deadline < heap[parent].deadline else { break }
                heap.swapAt(child, parent)
                child = parent
            }
        }

        mutating func popMin() -> HeapEntry? {
            guard !heap.isEmpty else { return nil }
            heap.swapAt(0, heap.count - 1)
            let top = heap.removeLast()
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < heap.count, heap[left].deadline < heap[smallest].deadline { smallest = left }
                if right < heap.count, heap[right].deadline < heap[smallest].deadline { smallest = right }
                guard smallest != parent else { return top }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
        }

        /// The earliest deadline still wanted, dropping cancelled entries on the way.
        mutating func earliest() -> Duration? {
            while let top = heap.first {
                if timers[top.id] != nil { return top.deadline }
                _ = popMin()
            }
            return nil
        }

        /// Drops cancelled entries once they outnumber live ones (waits that ended long before
        /// their deadline), so memory follows the pending timers, not their history.
        mutating func compactIfSparse() {
            guard heap.count > 256, heap.count > 4 * timers.count else { return }
            heap = []
            heap.reserveCapacity(timers.count)
            for (id, timer) in timers { push(HeapEntry(deadline: timer.deadline, id: id)) }
        }

        /// Takes the timers due at `now`, and says what the sleeper should wait for next.
        mutating func takeDue(now: Duration) -> ([@Sendable () -> Void], next: Duration?) {
            var due: [@Sendable () -> Void] = []
            while let deadline = earliest(), deadline <= now, let entry = popMin() {
                if let timer = timers.removeValue(forKey: entry.id) { due.append(timer.action) }
            }
            return (due, earliest())
        }
    }

    private let state = Mutex(State())
    public let clock: any ServerClock

    public init(clock: any ServerClock = SystemClock()) {
        self.clock = clock
    }

    /// Runs `action` once `clock.now >= deadline`, unless `cancel` comes first. The action runs
    /// outside any lock, on the sleeper's task: it should be short (resume a continuation).
    @discardableResult
    public func schedule(at deadline: Duration, _ description: String = "",
                         _ action: @escaping @Sendable () -> Void) -> TimerID {
        let (id, generation) = state.withLock { s -> (UInt64, UInt64?) in
            s.nextID += 1
            s.timers[s.nextID] = Timer(deadline: deadline, description: description, action: action)
            s.push(HeapEntry(deadline: deadline, id: s.nextID))
            if let target = s.sleeperTarget, target <= deadline { return (s.nextID, nil) }
            s.sleeper?.cancel()
            s.sleeperGeneration &+= 1
            s.sleeperTarget = deadline
            return (s.nextID, s.sleeperGeneration)
        }
        if let generation {
            // Detached and high: the one sleeper serves every timer, so it must not inherit the
            // low priority of a background body that happened to schedule first.
            let task = Task.detached(priority: .high) { [weak self] in
                guard let self else { return }
                await self.sleep(generation: generation, until: deadline)
            }
            state.withLock { s in
                if s.sleeperGeneration == generation { s.sleeper = task } else { task.cancel() }
            }
        }
        return TimerID(raw: id)
    }

    @discardableResult
    public func schedule(after delay: Duration, _ description: String = "",
                         _ action: @escaping @Sendable () -> Void) -> TimerID {
        schedule(at: clock.now + delay, description, action)
    }

    /// Forgets the timer; its action will not run (a no-op once it has run).
    public func cancel(_ id: TimerID) {
        state.withLock { s in
            s.timers[id.raw] = nil
            s.compactIfSparse()
        }
    }

    public var pendingCount: Int { state.withLock { $0.timers.count } }

    /// Heap entries kept, cancelled ones included (tests check they are compacted).
    var heapCount: Int { state.withLock { $0.heap.count } }

    /// The pending timers, soonest first.
    public func pending() -> [Pending] {
        state.withLock { s in s.timers.values.map { Pending(deadline: $0.deadline, description: $0.description) } }
            .sorted { $0.deadline < $1.deadline }
    }

    private func sleep(generation: UInt64, until first: Duration) async {
        var target = first
        while true {
            guard (try? await clock.sleep(until: target)) != nil else { return }
            let now = clock.now
            let (due, next) = state.withLock { s -> ([@Sendable () -> Void], Duration?) in
                guard s.sleeperGeneration == generation else { return ([], nil) }
                let (due, next) = s.takeDue(now: now)
                s.sleeperTarget = next
                if next == nil { s.sleeper = nil }
                return (due, next)
            }
            for action in due { action() }
            guard let next else { return }
            target = next
        }
    }
}
