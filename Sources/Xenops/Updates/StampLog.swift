/// The live entries of an `Updates` table ordered by stamp, so "everything newer than `from`"
/// costs O(log n + k) instead of xenopsd's scan-and-sort of the whole map.
///
/// Stamps are handed out in increasing order, so every insertion is an append at the end; only
/// removals (an id overwritten by a newer stamp, or removed) hit the middle. That makes a list of
/// small sorted chunks a good fit (a two-level B-tree): append is O(1), removal is two binary
/// searches plus a shift inside one chunk of at most `chunkCapacity` entries, and a range read
/// is a binary search followed by a sequential walk. Chunks that shrink below a quarter are
/// merged with a neighbour, so there are never more than about `8n / chunkCapacity` of them.
struct StampLog: Sendable {
    static let chunkCapacity = 256

    private struct Chunk: Sendable {
        var stamps: [Int] = []
        var ids: [Dynamic] = []
    }

    private var chunks: [Chunk] = []
    private(set) var count = 0

    var lastStamp: Int? { chunks.last?.stamps.last }

    /// Appends an entry whose stamp is larger than every stamp present.
    mutating func append(_ stamp: Int, _ id: Dynamic) {
        precondition(chunks.last?.stamps.last.map { $0 < stamp } ?? true, "stamps must increase")
        if chunks.isEmpty || chunks[chunks.count - 1].stamps.count >= Self.chunkCapacity {
            var chunk = Chunk()
            chunk.stamps.reserveCapacity(Self.chunkCapacity)
            chunk.ids.reserveCapacity(Self.chunkCapacity)
            chunks.append(chunk)
        }
        chunks[chunks.count - 1].stamps.append(stamp)
        chunks[chunks.count - 1].ids.append(id)
        count += 1
    }

    /// Removes the entry with exactly this stamp, if present.
    mutating func remove(_ stamp: Int) {
        guard let c = chunkIndex(containing: stamp) else { return }
        guard let i = Self.index(of: stamp, in: chunks[c].stamps) else { return }
        chunks[c].stamps.remove(at: i)
        chunks[c].ids.remove(at: i)
        count -= 1
        if chunks[c].stamps.isEmpty {
            chunks.remove(at: c)
        } else if chunks[c].stamps.count < Self.chunkCapacity / 4 {
            mergeSmall(c)
        }
    }

    mutating func removeAll() {
        chunks = []
        count = 0
    }

    /// Calls `body` for each entry with a stamp greater than `from`, oldest first.
    func forEach(after from: Int, _ body: (Int, Dynamic) -> Void) {
        // First chunk whose last stamp is > from.
        var low = 0
        var high = chunks.count
        while low < high {
            let mid = (low + high) / 2
            if chunks[mid].stamps[chunks[mid].stamps.count - 1] > from { high = mid } else { low = mid + 1 }
        }
        var c = low
        guard c < chunks.count else { return }
        var i = chunks[c].stamps.firstIndex(after: from)
        while c < chunks.count {
            let chunk = chunks[c]
            while i < chunk.stamps.count {
                body(chunk.stamps[i], chunk.ids[i])
                i += 1
            }
            c += 1
            i = 0
        }
    }

    /// Every entry, oldest first (dumps).
    func forEach(_ body: (Int, Dynamic) -> Void) { forEach(after: Int.min, body) }

    /// Rough bytes held, for the memory figures of the benchmark.
    var approximateBytes: Int {
        chunks.reduce(0) { $0 + $1.stamps.capacity * 8 + $1.ids.capacity * MemoryLayout<Dynamic>.stride } + chunks.capacity * MemoryLayout<Chunk>.stride
    }

    // MARK: internals

    /// The chunk whose range could hold `stamp`: the last one starting at or before it.
    private func chunkIndex(containing stamp: Int) -> Int? {
        var low = 0
        var high = chunks.count
        while low < high {
            let mid = (low + high) / 2
            if chunks[mid].stamps[0] <= stamp { low = mid + 1 } else { high = mid }
        }
        return low == 0 ? nil : low - 1
    }

    private static func index(of stamp: Int, in stamps: [Int]) -> Int? {
        let i = stamps.firstIndex(after: stamp - 1)
        return i < stamps.count && stamps[i] == stamp ? i : nil
    }

    private mutating func mergeSmall(_ c: Int) {
        let size = chunks[c].stamps.count
        if c + 1 < chunks.count, size + chunks[c + 1].stamps.count <= Self.chunkCapacity {
            let next = chunks.remove(at: c + 1)
            chunks[c].stamps += next.stamps
            chunks[c].ids += next.ids
        } else if c > 0, size + chunks[c - 1].stamps.count <= Self.chunkCapacity {
            let current = chunks.remove(at: c)
            chunks[c - 1].stamps += current.stamps
            chunks[c - 1].ids += current.ids
        }
    }
}
