import DequeModule

/// The rows of one class, the uuid index, and the bounded deletion tombstones that let
/// `event.from` report `del` for objects removed after a token.
struct Table: Sendable {
    struct Tombstone: Sendable {
        var ref: String
        var created: Int64
        var deleted: Int64
    }

    var rows: [String: Row] = [:]
    var refsByUUID: [String: String] = [:]
    var tombstones: Deque<Tombstone> = []
    /// Deletion generation per tombstoned ref, for O(1) liveness checks of change-log entries.
    var tombstoneGenerations: [String: Int64] = [:]

    /// xen-api ocaml/database/db_cache_types.ml `Table.remove`: once 512 deletions are queued
    /// the oldest are trimmed down to 256; older tokens silently miss those deletions.
    static let tombstoneHighWater = 512
    static let tombstoneLowWater = 256

    mutating func addTombstone(_ tombstone: Tombstone) {
        tombstones.append(tombstone)
        tombstoneGenerations[tombstone.ref] = tombstone.deleted
        if tombstones.count >= Table.tombstoneHighWater {
            while tombstones.count > Table.tombstoneLowWater {
                let old = tombstones.removeFirst()
                if tombstoneGenerations[old.ref] == old.deleted {
                    tombstoneGenerations[old.ref] = nil
                }
            }
        }
    }

    /// The tombstone of `ref` if it was deleted at exactly `generation` and is still kept.
    func tombstone(ref: String, deletedAt generation: Int64) -> Tombstone? {
        guard tombstoneGenerations[ref] == generation else { return nil }
        return tombstones.last { $0.ref == ref && $0.deleted == generation }
    }
}
