import Wire
import DequeModule
import Synchronization

/// Something a worker runs. Items with a `coalescingKey` are dropped on push when an item with
/// the same key is already waiting in that tag's queue (xenopsd's `should_keep`: duplicate
/// `*_check_state` operations); items without one are always kept.
protocol QueueItem: Sendable {
    associatedtype Key: Hashable & Sendable
    var coalescingKey: Key? { get }
    var description: JSON { get }
}

/// Per-tag FIFOs served round-robin, one item per turn, at most one worker per tag at a time
/// (xenopsd's `Queues` + `Redirector`).
///
/// * Unlike xenopsd, tags holding a requested operation (an item with no coalescing key: a
///   start, a plug…) are served before tags holding only background checks, so a storm of
///   `VM_check_state` for a thousand VMs does not stand between a client and its VM (CA-87377's
///   starvation, one layer down). Every `backgroundShare`-th pick goes to the full round while
///   both kinds wait, so checks are delayed, never starved.
/// * `pop` takes the smallest tag after the last one served (wrapping), removes one item, and
///   moves the rest of that tag's FIFO into a private queue: later pushes for the tag land there,
///   so no other worker can take them until `finished(tag)` puts the queue back in the round.
/// * Coalescing keeps a per-tag set of waiting keys, so a push costs O(log tags), not xenopsd's
///   scan of the FIFO.
/// * Idle workers are continuations handed an item directly by the push that finds them.
final class WorkQueues<Item: QueueItem>: Sendable {
    private enum Idle {
        case pending
        case released
        case waiting(CheckedContinuation<(tag: String, item: Item)?, Never>)
    }

    private struct State {
        /// Tags in the round, with their FIFOs.
        var shared: [String: Deque<Item>] = [:]
        /// `shared`'s keys in order, for the round-robin.
        var tags: [String] = []
        /// Requested (non-coalescing) items per tag in `shared`.
        var requested: [String: Int] = [:]
        /// The tags of `requested`, in order: served first.
        var urgentTags: [String] = []
        /// Urgent picks in a row while background-only tags waited.
        var urgentStreak = 0
        /// The background-only tag served last, for their own round-robin.
        var lastBackgroundTag: String?
        var lastTag: String?
        /// Tags being served: the rest of their FIFO.
        var overrides: [String: Deque<Item>] = [:]
        /// Migration-style aliases: pushes for the key go to the value's queue.
        var aliases: [String: String] = [:]
        var waitingKeys: [String: Set<Item.Key>] = [:]
        var idle: [Int: Idle] = [:]
        var idleOrder: Deque<Int> = []
        var stopped = false
        var pushed = 0
        var coalesced = 0
        /// Tags whose served item came from the background round (no requested item waited):
        /// at most `backgroundLimit` at once, so a worker stays free for requested items while
        /// the others wait on `PriorityGate` with checks.
        var backgroundServed: Set<String> = []
        var backgroundLimit = Int.max
    }

    private let state = Mutex(State())

    /// Workers parked in `pop` (tests wait for a worker to park, not for time).
    var idleWorkerCount: Int { state.withLock { $0.idle.count } }
    let name: String
    /// One pick in this many goes to the full round while background-only tags wait.
    static var backgroundShare: Int { 8 }

    init(name: String) { self.name = name }

    /// How many workers may serve background-only tags at once (see `State.backgroundServed`).
    func limitBackground(to workers: Int) {
        state.withLock { $0.backgroundLimit = max(1, workers) }
    }

    /// Whether a requested item waits behind the item being served for `tag`: a check there
    /// holds up an operation someone waits for.
    func requestedQueued(behind tag: String) -> Bool {
        state.withLock { $0.overrides[tag]?.contains { $0.coalescingKey == nil } ?? false }
    }

    /// Appends `item` to `tag`'s FIFO unless it coalesces with a waiting one; false if dropped.
    @discardableResult
    func push(tag: String, _ item: Item) -> Bool {
        let (kept, handoff) = state.withLock { state -> (Bool, (CheckedContinuation<(tag: String, item: Item)?, Never>, String, Item)?) in
            let tag = state.aliases[tag] ?? tag
            if let key = item.coalescingKey {
                if state.waitingKeys[tag, default: []].contains(key) {
                    state.coalesced += 1
                    return (false, nil)
                }
                state.waitingKeys[tag, default: []].insert(key)
            }
            state.pushed += 1
            if state.overrides[tag] != nil {
                state.overrides[tag]!.append(item)
                return (true, nil)
            }
            Self.enqueueShared(&state, tag: tag, items: [item])
            return (true, Self.handOff(&state))
        }
        if let (continuation, tag, item) = handoff { continuation.resume(returning: (tag, item)) }
        return kept
    }

    /// The next item in round-robin order, suspending while there is none; nil once the queues
    /// are stopped, the worker is released, or the calling task is cancelled.
    func pop(worker: Int) async -> (tag: String, item: Item)? {
        let immediate = state.withLock { state -> (tag: String, item: Item)?? in
            if state.stopped { return .some(nil) }
            if let next = Self.take(&state) { return .some(next) }
            state.idle[worker] = .pending
            state.idleOrder.append(worker)
            return .none
        }
        if case .some(let next) = immediate { return next }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> (tag: String, item: Item)?? in
                    switch state.idle[worker] {
                    case .pending:
                        if let next = Self.take(&state) {
                            state.idle[worker] = nil
                            state.idleOrder.removeAll { $0 == worker }
                            return .some(next)
                        }
                        state.idle[worker] = .waiting(continuation)
                        return .none
                    default:
                        state.idle[worker] = nil
                        state.idleOrder.removeAll { $0 == worker }
                        return .some(nil)
                    }
                }
                if case .some(let next) = now { continuation.resume(returning: next) }
            }
        } onCancel: {
            self.release(worker: worker)
        }
    }

    /// Makes an idle `worker` return nil from `pop` (pool shrinking, shutdown).
    func release(worker: Int) {
        let continuation = state.withLock { state -> CheckedContinuation<(tag: String, item: Item)?, Never>? in
            switch state.idle[worker] {
            case .pending:
                state.idle[worker] = .released
                return nil
            case .waiting(let continuation):
                state.idle[worker] = nil
                state.idleOrder.removeAll { $0 == worker }
                return continuation
            case .released, .none:
                return nil
            }
        }
        continuation?.resume(returning: nil)
    }

    /// The item popped for `tag` is done: the tag's remaining items rejoin the round.
    func finished(tag: String) {
        let handoff = state.withLock { state -> (CheckedContinuation<(tag: String, item: Item)?, Never>, String, Item)? in
            let rest = state.overrides.removeValue(forKey: tag) ?? []
            state.aliases = state.aliases.filter { $0.value != tag }
            // The caller pops again next and takes the background work it leaves itself: waking
            // an idle worker for it cost more than a check on a busy executor (xenops-bench
            // signals, 1,000 busy in-process agents: 266 checks/s instead of 71,600/s).
            state.backgroundServed.remove(tag)
            guard !rest.isEmpty else { return nil }
            Self.enqueueShared(&state, tag: tag, items: rest)
            return Self.handOff(&state)
        }
        if let (continuation, tag, item) = handoff { continuation.resume(returning: (tag, item)) }
    }

    /// Operations pushed for `alias` go to `tag`'s queue until `tag` finishes its current item.
    func alias(tag: String, alias: String) {
        state.withLock { $0.aliases[alias] = tag }
    }

    /// Stops: idle workers get nil, later pops return nil at once.
    func stop() {
        let continuations = state.withLock { state -> [CheckedContinuation<(tag: String, item: Item)?, Never>] in
            state.stopped = true
            var out: [CheckedContinuation<(tag: String, item: Item)?, Never>] = []
            for (worker, idle) in state.idle {
                if case .waiting(let continuation) = idle { out.append(continuation) }
                state.idle[worker] = .released
            }
            state.idle = [:]
            state.idleOrder = []
            return out
        }
        for continuation in continuations { continuation.resume(returning: nil) }
    }

    /// Waiting items per tag (shared and private queues), tags in order.
    func snapshot() -> [(tag: String, items: [Item])] {
        state.withLock { state in
            var all: [String: [Item]] = [:]
            for (tag, queue) in state.shared { all[tag, default: []] += Array(queue) }
            for (tag, queue) in state.overrides where !queue.isEmpty { all[tag, default: []] += Array(queue) }
            return all.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        }
    }

    var length: Int {
        state.withLock { state in
            state.shared.values.reduce(0) { $0 + $1.count } + state.overrides.values.reduce(0) { $0 + $1.count }
        }
    }


    var counters: (pushed: Int, coalesced: Int) { state.withLock { ($0.pushed, $0.coalesced) } }

    // MARK: state transitions

    private static func enqueueShared(_ state: inout State, tag: String, items: some Collection<Item>) {
        if state.shared[tag] == nil {
            state.shared[tag] = []
            state.tags.insert(tag, at: insertionIndex(of: tag, in: state.tags))
        }
        state.shared[tag]!.append(contentsOf: items)
        let requested = items.count { $0.coalescingKey == nil }
        if requested > 0 {
            if state.requested[tag] == nil {
                state.urgentTags.insert(tag, at: insertionIndex(of: tag, in: state.urgentTags))
            }
            state.requested[tag, default: 0] += requested
        }
    }

    /// Pops for the longest-idle worker, if any: the continuation to resume and what it gets.
    private static func handOff(_ state: inout State) -> (CheckedContinuation<(tag: String, item: Item)?, Never>, String, Item)? {
        for (position, worker) in state.idleOrder.enumerated() {
            guard case .waiting(let continuation) = state.idle[worker] else { continue }
            guard let next = take(&state) else { return nil }
            state.idle[worker] = nil
            state.idleOrder.remove(at: position)
            return (continuation, next.tag, next.item)
        }
        return nil
    }

    /// Round-robin: the first tag after the last one served, wrapping around; among the urgent
    /// tags while there are any, save for the background share.
    private static func take(_ state: inout State) -> (tag: String, item: Item)? {
        guard !state.tags.isEmpty else { return nil }
        let backgroundFull = state.backgroundServed.count >= state.backgroundLimit
        let backgroundWaits = state.tags.count > state.urgentTags.count && !backgroundFull
        let tag: String
        if state.urgentTags.isEmpty {
            guard !backgroundFull else { return nil }
            tag = next(after: state.lastTag, in: state.tags)
        } else if backgroundWaits && state.urgentStreak >= backgroundShare - 1 {
            tag = nextBackground(&state)
            state.urgentStreak = 0
        } else {
            tag = next(after: state.lastTag, in: state.urgentTags)
            state.urgentStreak = backgroundWaits ? state.urgentStreak + 1 : 0
        }
        state.tags.remove(at: insertionIndex(of: tag, in: state.tags))
        if state.requested.removeValue(forKey: tag) != nil {
            state.urgentTags.remove(at: insertionIndex(of: tag, in: state.urgentTags))
        } else {
            state.backgroundServed.insert(tag)
        }
        var queue = state.shared.removeValue(forKey: tag)!
        let item = queue.removeFirst()
        if let key = item.coalescingKey { state.waitingKeys[tag]?.remove(key) }
        if state.waitingKeys[tag]?.isEmpty == true { state.waitingKeys[tag] = nil }
        state.overrides[tag] = queue
        state.lastTag = tag
        return (tag, item)
    }

    /// The background-only tag after the last one given this share (some must wait).
    private static func nextBackground(_ state: inout State) -> String {
        var index = state.lastBackgroundTag.map { insertionIndex(of: $0, in: state.tags, after: true) } ?? 0
        while true {
            if index == state.tags.count { index = 0 }
            let tag = state.tags[index]
            if state.requested[tag] == nil {
                state.lastBackgroundTag = tag
                return tag
            }
            index += 1
        }
    }

    private static func next(after last: String?, in tags: [String]) -> String {
        guard let last else { return tags[0] }
        let index = insertionIndex(of: last, in: tags, after: true)
        return tags[index == tags.count ? 0 : index]
    }

    /// Binary search in sorted tags: first index ≥ `tag`, or > `tag` when `after`.
    private static func insertionIndex(of tag: String, in tags: [String], after: Bool = false) -> Int {
        var low = 0
        var high = tags.count
        while low < high {
            let mid = (low + high) / 2
            if tags[mid] < tag || (after && tags[mid] == tag) { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
