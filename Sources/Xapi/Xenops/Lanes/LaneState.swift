import DequeModule
import Xenops

/// The rules of the parallel events loop's lanes, as a value: FIFOs keyed by lane, served
/// round-robin one item per turn, at most one worker per lane at a time. A signal already
/// waiting in its lane is not queued twice (the later copy would read the same state).
/// `Lanes` wraps it with the workers' continuations; tests drive it directly.
struct LaneState {
    enum Item: Sendable, Hashable {
        case update(Dynamic)
        case wake(Int)
    }

    /// An item taken for a worker: its lane, and whether that lane is served as urgent.
    typealias Taken = (lane: LaneKey, item: Item, urgent: Bool)

    private var queues: [LaneKey: Deque<Item>] = [:]
    private var waitingUpdates: [LaneKey: Set<Dynamic>] = [:]
    private var ready: Deque<LaneKey> = []
    private var busy: Set<LaneKey> = []
    /// Lanes holding a barrier wake-up: served ahead of the others until it is done.
    private var urgent: Set<LaneKey> = []
    /// Lanes of VMs under an API operation, counted per operation: served as urgent while it
    /// lasts, since its barrier will wait for every signal in them.
    private var focused: [LaneKey: Int] = [:]
    /// Lanes whose worker runs a background item, at most `backgroundLimit`: a worker held by
    /// `PriorityGate` must not be the one an urgent lane waits for.
    private var background: Set<LaneKey> = []
    private let backgroundLimit: Int

    /// `workers`: how many take items; all but one may hold background items at once.
    init(workers: Int) {
        backgroundLimit = max(1, workers - 1)
    }

    /// What a worker runs behind `PriorityGate`: another VM's signal, neither urgent nor a task's.
    static func isBackground(_ lane: LaneKey, _ item: Item, urgent: Bool) -> Bool {
        guard case .update = item else { return false }
        return !urgent && !lane.isTask
    }

    func isUrgent(_ lane: LaneKey) -> Bool { urgent.contains(lane) || focused[lane] != nil }

    /// Lanes served before the round-robin: urgent ones and tasks' (an API call waits on both).
    private func isFirst(_ lane: LaneKey) -> Bool { isUrgent(lane) || lane.isTask }

    /// Items queued in all lanes.
    var queuedCount: Int { queues.values.reduce(0) { $0 + $1.count } }

    /// Queues `item` on `lane`; an `urgent` item moves its lane to the front of the round-robin.
    /// Returns false when the item was a signal already waiting in its lane.
    @discardableResult
    mutating func push(_ item: Item, lane: LaneKey, urgent isUrgentItem: Bool = false) -> Bool {
        if case .update(let id) = item {
            guard waitingUpdates[lane, default: []].insert(id).inserted else { return false }
        }
        queues[lane, default: []].append(item)
        if isUrgentItem || isFirst(lane) {
            if isUrgentItem { urgent.insert(lane) }
            if !busy.contains(lane) {
                if let index = ready.firstIndex(of: lane) { ready.remove(at: index) }
                ready.prepend(lane)
            }
        } else if queues[lane]!.count == 1, !busy.contains(lane) {
            ready.append(lane)
        }
        return true
    }

    /// The next item for a worker, or nil when nothing may run now (nothing ready, or only
    /// background items with every background slot taken).
    mutating func take() -> Taken? {
        // Lanes that are not background go to the front of `ready`, so with every background
        // slot taken the first lane tells whether anything may run.
        if background.count >= backgroundLimit, let lane = ready.first, let item = queues[lane]?.first,
           Self.isBackground(lane, item, urgent: isUrgent(lane)) {
            return nil
        }
        while let lane = ready.popFirst() {
            guard var queue = queues[lane], let item = queue.popFirst() else { continue }
            let laneUrgent = isUrgent(lane)
            if Self.isBackground(lane, item, urgent: laneUrgent) { background.insert(lane) }
            queues[lane] = queue.isEmpty ? nil : queue
            if case .wake = item, !queue.contains(where: { if case .wake = $0 { true } else { false } }) {
                urgent.remove(lane)
            }
            if case .update(let id) = item { waitingUpdates[lane]?.remove(id) }
            if waitingUpdates[lane]?.isEmpty == true { waitingUpdates[lane] = nil }
            busy.insert(lane)
            return (lane, item, laneUrgent)
        }
        return nil
    }

    /// A worker finished `lane`'s item: the lane goes to the back of the round-robin if it has
    /// more (to the front if it is served first).
    mutating func finished(_ lane: LaneKey) {
        busy.remove(lane)
        background.remove(lane)
        if queues[lane]?.isEmpty == false {
            if isFirst(lane) { ready.prepend(lane) } else { ready.append(lane) }
        }
    }

    /// Serves `lane` as urgent until the matching `unfocus`; work already waiting in it moves
    /// to the front of the round-robin.
    mutating func focus(_ lane: LaneKey) {
        focused[lane, default: 0] += 1
        if !busy.contains(lane), let index = ready.firstIndex(of: lane) {
            ready.remove(at: index)
            ready.prepend(lane)
        }
    }

    mutating func unfocus(_ lane: LaneKey) {
        let count = (focused[lane] ?? 1) - 1
        focused[lane] = count > 0 ? count : nil
    }
}
