import Synchronization

/// The deadlines of parked event calls, served by one sleeping task for all of them.
///
/// A task per parked call (sleep until the deadline, cancelled when a change came first) cost a
/// task, a dispatch timer and, at wake-up, a cancellation handled on Swift's global pool: about
/// 35 µs of server CPU per `event.from` round trip, spent in the middle of a fan-out where 1,000
/// calls wake at once (BENCHMARKS.md "RPC throughput", bench/events fan-out). Here adding and
/// removing a deadline is a heap push and a dictionary update under a short lock; the sleeper
/// is replaced only when a deadline earlier than the one it sleeps for arrives.
final class ParkDeadlines: Sendable {
    private struct Entry {
        var deadline: ContinuousClock.Instant
        var id: UInt64
    }

    private struct State {
        /// A binary min-heap by deadline; entries whose id has left `active` are skipped.
        var heap: [Entry] = []
        var active: [UInt64: ContinuousClock.Instant] = [:]
        /// The running sleeper's target and generation (a replaced sleeper finds its
        /// generation gone and leaves quietly).
        var sleeperTarget: ContinuousClock.Instant?
        var sleeperGeneration: UInt64 = 0
        var sleeper: Task<Void, Never>?

        mutating func push(_ entry: Entry) {
            heap.append(entry)
            var child = heap.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard heap[child].deadline < heap[parent].deadline else { break }
                heap.swapAt(child, parent)
                child = parent
            }
        }

        mutating func popMin() -> Entry? {
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

        /// The earliest deadline still wanted, dropping stale entries on the way.
        mutating func earliest() -> ContinuousClock.Instant? {
            while let top = heap.first {
                if active[top.id] == top.deadline { return top.deadline }
                _ = popMin()
            }
            return nil
        }

        /// Drops stale entries once they outnumber live ones (calls woken by changes long
        /// before their deadline), so memory follows the parked calls, not their history.
        mutating func compactIfSparse() {
            guard heap.count > 256, heap.count > 4 * active.count else { return }
            heap = []
            heap.reserveCapacity(active.count)
            for (id, deadline) in active { push(Entry(deadline: deadline, id: id)) }
        }
    }

    private let state = Mutex(State())

    /// Calls `expire(id)` for `id` once `deadline` has passed, unless `remove(id)` came first.
    /// The owner passes the same `expire` every time (the sleeper keeps the one it started with).
    func add(id: UInt64, deadline: ContinuousClock.Instant, expire: @escaping @Sendable (UInt64) -> Void) {
        let start = state.withLock { s -> UInt64? in
            s.active[id] = deadline
            s.push(Entry(deadline: deadline, id: id))
            if let target = s.sleeperTarget, target <= deadline { return nil }
            s.sleeper?.cancel()
            s.sleeperGeneration &+= 1
            s.sleeperTarget = deadline
            return s.sleeperGeneration
        }
        if let generation = start {
            let task = Task { [weak self] in
                guard let self else { return }
                await self.sleep(generation: generation, until: deadline, expire: expire)
            }
            state.withLock { s in
                if s.sleeperGeneration == generation { s.sleeper = task } else { task.cancel() }
            }
        }
    }

    func remove(id: UInt64) {
        state.withLock { s in
            s.active[id] = nil
            s.compactIfSparse()
        }
    }

    private func sleep(generation: UInt64, until first: ContinuousClock.Instant,
                       expire: @Sendable (UInt64) -> Void) async {
        var target = first
        while true {
            guard (try? await Task.sleep(until: target, clock: .continuous)) != nil else { return }
            let now = ContinuousClock.now
            let (due, next) = state.withLock { s -> ([UInt64], ContinuousClock.Instant?) in
                guard s.sleeperGeneration == generation else { return ([], nil) }
                var due: [UInt64] = []
                while let deadline = s.earliest(), deadline <= now, let entry = s.popMin() {
                    s.active[entry.id] = nil
                    due.append(entry.id)
                }
                let next = s.earliest()
                s.sleeperTarget = next
                if next == nil { s.sleeper = nil }
                return (due, next)
            }
            for id in due { expire(id) }
            guard let next else { return }
            target = next
        }
    }
}
