public import Wire
/// What `Updates.get` returns: barriers oldest first (each with its snapshot's ids newer than
/// `from`), then the ids changed since `from` in order of their latest change, and the token to
/// pass next time.
public struct UpdatesBatch: Sendable, Hashable {
    public struct Barrier: Sendable, Hashable {
        public let id: Int
        public let updates: [Dynamic]
    }

    public var barriers: [Barrier]
    public var updates: [Dynamic]
    public var next: Int

    public var isEmpty: Bool { barriers.isEmpty && updates.isEmpty }
}

/// The table dump of diagnostics (xenopsd's `Updates.Dump`): entries with their stamps, and
/// barriers newest first as `(id, event id, snapshot)`.
public struct UpdatesDump: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        public let stamp: Int
        public let id: Dynamic
    }

    public struct Barrier: Sendable, Hashable {
        public let id: Int
        public let eventID: Int
        public let entries: [Entry]
    }

    public var updates: [Entry]
    public var barriers: [Barrier]

    /// `{"updates":[{"id":1,"v":"[\"Vm\",\"a\"]"}],"barriers":[[1,2,[…]]]}`.
    public var json: JSON {
        func entries(_ list: [Entry]) -> JSON {
            .array(list.map { .object(["id": .int($0.stamp), "v": .string($0.id.json.text)]) })
        }
        return .object([
            "updates": entries(updates),
            "barriers": .array(barriers.map { .array([.int($0.id), .int($0.eventID), entries($0.entries)]) }),
        ])
    }
}

/// The pure last-modified table (xenopsd's `UpdateRecorder`): id → stamp of its latest change,
/// barrier snapshots, and the counter. No locks, no waiting — `Updates` wraps it.
///
/// Every mutation takes the next stamp. `add` of a present id moves it to the new stamp, which is
/// the coalescing: between two reads an object shows up once, at the time of its latest change.
struct UpdateRecorder: Sendable {
    struct Barrier: Sendable {
        let id: Int
        /// The value of `next` when the barrier was injected.
        let eventID: Int
        /// The matching entries at injection time, ordered by stamp.
        let stamps: [Int]
        let ids: [Dynamic]
    }

    private(set) var stamps: [Dynamic: Int] = [:]
    private var log = StampLog()
    /// Non-task ids per VM, so a VM's barrier snapshot costs its own entries, not the table.
    private var byVM: [String: Set<Dynamic>] = [:]
    /// Oldest first (xenopsd keeps them newest first; the order of the answers is the same).
    private(set) var barriers: [Barrier] = []
    private(set) var next = 1

    var lastID: Int { next - 1 }
    var count: Int { stamps.count }

    /// Returns the stamp given to `id`.
    @discardableResult
    mutating func add(_ id: Dynamic) -> Int {
        let stamp = next
        next += 1
        if let old = stamps.updateValue(stamp, forKey: id) {
            log.remove(old)
        } else if let vm = id.vm {
            byVM[vm, default: []].insert(id)
        }
        log.append(stamp, id)
        return stamp
    }

    mutating func remove(_ id: Dynamic) {
        next += 1
        guard let old = stamps.removeValue(forKey: id) else { return }
        log.remove(old)
        if let vm = id.vm {
            byVM[vm]?.remove(id)
            if byVM[vm]?.isEmpty == true { byVM[vm] = nil }
        }
    }

    /// Keeps only the ids satisfying `keep` (xenopsd's `filter`; a full scan by nature).
    mutating func filter(_ keep: (Dynamic) -> Bool) {
        for id in stamps.keys where !keep(id) {
            let stamp = stamps.removeValue(forKey: id)!
            log.remove(stamp)
            if let vm = id.vm {
                byVM[vm]?.remove(id)
                if byVM[vm]?.isEmpty == true { byVM[vm] = nil }
            }
        }
        next += 1
    }

    /// A barrier whose snapshot holds the VM's own entries (the VM and its devices, never tasks):
    /// what xenopsd's `UPDATES.inject_barrier` does, in time proportional to that VM's entries.
    mutating func injectBarrier(_ barrierID: Int, vm: String) {
        let entries = (byVM[vm] ?? []).map { (stamps[$0]!, $0) }
        inject(barrierID, entries)
    }

    /// A barrier over every entry satisfying `matching` (a full scan; xenopsd's general form).
    mutating func injectBarrier(_ barrierID: Int, matching: (Dynamic) -> Bool) {
        inject(barrierID, stamps.filter { matching($0.key) }.map { ($0.value, $0.key) })
    }

    private mutating func inject(_ barrierID: Int, _ entries: [(Int, Dynamic)]) {
        let sorted = entries.sorted { $0.0 < $1.0 }
        barriers.append(Barrier(id: barrierID, eventID: next, stamps: sorted.map(\.0), ids: sorted.map(\.1)))
        next += 1
    }

    mutating func removeBarrier(_ barrierID: Int) {
        barriers.removeAll { $0.id == barrierID }
        next += 1
    }

    /// Drops the oldest barriers beyond `limit` (a consumer that never removes them would
    /// otherwise grow the table forever). Returns the ids dropped.
    mutating func trimBarriers(to limit: Int) -> [Int] {
        guard barriers.count > limit else { return [] }
        let dropped = barriers.prefix(barriers.count - limit).map(\.id)
        barriers.removeFirst(barriers.count - limit)
        return dropped
    }

    /// Everything newer than `from` (ocaml/xapi-idl/lib/updates.ml, `get`): barriers with `eventID > from`, walking from
    /// the newest and stopping at the first older one, returned oldest first with their snapshot
    /// entries newer than `from`; then the table's entries newer than `from` by stamp. The token
    /// is the newest stamp returned, or the newest returned barrier's event id if larger, or
    /// `from` when there is nothing.
    func get(from: Int) -> UpdatesBatch {
        var updates: [Dynamic] = []
        var lastEvent = from
        log.forEach(after: from) { stamp, id in
            updates.append(id)
            lastEvent = stamp
        }
        var recent: [UpdatesBatch.Barrier] = []
        var newestEvent: Int?
        var index = barriers.count - 1
        while index >= 0, barriers[index].eventID > from {
            let barrier = barriers[index]
            if newestEvent == nil { newestEvent = barrier.eventID }
            let start = barrier.stamps.firstIndex(after: from)
            recent.append(UpdatesBatch.Barrier(id: barrier.id, updates: Array(barrier.ids[start...])))
            index -= 1
        }
        recent.reverse()
        let next = newestEvent.map { max(lastEvent, $0) } ?? lastEvent
        return UpdatesBatch(barriers: recent, updates: updates, next: next)
    }

    /// Whether a reader holding `from` would get something (cheaper than `get`).
    func hasNews(after from: Int) -> Bool {
        if let newest = log.lastStamp, newest > from { return true }
        return barriers.last.map { $0.eventID > from } ?? false
    }

    func dump() -> UpdatesDump {
        var entries: [UpdatesDump.Entry] = []
        log.forEach { entries.append(UpdatesDump.Entry(stamp: $0, id: $1)) }
        let barriers = self.barriers.reversed().map { barrier in
            UpdatesDump.Barrier(
                id: barrier.id, eventID: barrier.eventID,
                entries: zip(barrier.stamps, barrier.ids).map { UpdatesDump.Entry(stamp: $0, id: $1) })
        }
        return UpdatesDump(updates: entries, barriers: barriers)
    }

    /// Rough bytes held by the table, for the benchmark's memory figure.
    var approximateBytes: Int {
        let entry = MemoryLayout<Dynamic>.stride + MemoryLayout<Int>.stride
        return log.approximateBytes + stamps.capacity * entry * 2
            + byVM.values.reduce(0) { $0 + $1.capacity * MemoryLayout<Dynamic>.stride * 2 }
            + barriers.reduce(0) { $0 + $1.ids.capacity * entry }
    }
}
