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
    /// The same entries per table, so a reader interested in a few classes (xapi's metadata
    /// sync, `event.from` on `vm`) skips a storm of changes to others without scanning them.
    private var byTable: [Int: [Entry]] = [:]
    private var superseded = 0

    mutating func append(_ entry: Entry, supersedes: Bool) {
        entries.append(entry)
        byTable[entry.table, default: []].append(entry)
        if supersedes { superseded += 1 }
    }

    /// Entries with a generation greater than `generation`, oldest first (some may be stale).
    func entries(after generation: Int64) -> ArraySlice<Entry> {
        Self.suffix(of: entries, after: generation)
    }

    /// Entries of `tables` (all when nil) with a generation greater than `generation`, oldest
    /// first (some may be stale).
    func entries(after generation: Int64, in tables: Set<Int>?) -> [Entry] {
        guard let tables else { return Array(entries(after: generation)) }
        var result: [Entry] = []
        for table in tables {
            guard let log = byTable[table] else { continue }
            result += Self.suffix(of: log, after: generation)
        }
        if tables.count > 1 { result.sort { $0.generation < $1.generation } }
        return result
    }

    private static func suffix(of log: [Entry], after generation: Int64) -> ArraySlice<Entry> {
        var low = 0
        var high = log.count
        while low < high {
            let mid = (low + high) / 2
            if log[mid].generation <= generation { low = mid + 1 } else { high = mid }
        }
        return log[low...]
    }

    /// Drops superseded entries once they outnumber live ones, keeping appends amortised O(1).
    mutating func compactIfNeeded(isLive: (Entry) -> Bool) {
        guard superseded > 4096, superseded * 2 > entries.count else { return }
        entries.removeAll { !isLive($0) }
        for table in byTable.keys { byTable[table]!.removeAll { !isLive($0) } }
        superseded = 0
    }

    var count: Int { entries.count }

    /// Restored rows arrive in storage order; the log must be in generation order.
    mutating func sortByGeneration() {
        entries.sort { $0.generation < $1.generation }
        for table in byTable.keys { byTable[table]!.sort { $0.generation < $1.generation } }
    }
}
