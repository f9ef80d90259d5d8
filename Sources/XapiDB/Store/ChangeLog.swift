/// The objects changed since any generation, in generation order: each object's latest change
/// (or deletion) has one live entry, so finding what changed after a token costs a binary search
/// plus the entries after it — in proportion to the change, not to the number of objects.
/// Superseded entries stay until compaction and are recognised by their generation no longer
/// matching the row's (or tombstone's).
public struct ChangeLog: Sendable {
    public struct Entry: Sendable, Hashable {
        public var generation: Int64
        public var table: Int
        public var ref: String
    }

    private(set) var entries: [Entry] = []
    private var superseded = 0

    mutating func append(_ entry: Entry, supersedes: Bool) {
        entries.append(entry)
        if supersedes { superseded += 1 }
    }

    /// Entries with a generation greater than `generation`, oldest first (some may be stale).
    func entries(after generation: Int64) -> ArraySlice<Entry> {
        var low = 0
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].generation <= generation { low = mid + 1 } else { high = mid }
        }
        return entries[low...]
    }

    /// Drops superseded entries once they outnumber live ones, keeping appends amortised O(1).
    mutating func compactIfNeeded(isLive: (Entry) -> Bool) {
        guard superseded > 4096, superseded * 2 > entries.count else { return }
        entries.removeAll { !isLive($0) }
        superseded = 0
    }

    var count: Int { entries.count }

    /// Restored rows arrive in storage order; the log must be in generation order.
    mutating func sortByGeneration() {
        entries.sort { $0.generation < $1.generation }
    }
}
