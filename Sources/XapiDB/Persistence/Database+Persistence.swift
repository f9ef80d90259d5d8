import Synchronization

extension Database {
    /// Moves the persisted changes since the last call into a batch (under the lock, so the
    /// batch is a consistent cut at its generation).
    func takeDirtyBatch() -> PersistenceBatch {
        state.withLock { s in
            var batch = PersistenceBatch(generation: s.lastPersistedChange)
            for (table, refs) in s.dirty {
                let schema = s.model.classes[table]
                for ref in refs {
                    if let row = s.tables[table].rows[ref] {
                        batch.upserts.append(.init(className: schema.name, ref: ref, created: row.created,
                                                   modified: row.modified, record: s.record(of: row, table: table)))
                    } else {
                        batch.deletions.append(ref)
                    }
                }
            }
            s.dirty = [:]
            return batch
        }
    }

    /// Loads a store's objects into an empty database, keeping refs, uuids and generations.
    /// Fields the stored record lacks take their defaults; unknown classes and fields are skipped.
    func restore(_ objects: [PersistenceBatch.Object], generation: Int64) -> Int {
        state.withLock { s in
            var restored = 0
            for object in objects {
                guard let schema = s.model.class(named: object.className), schema.isTable else { continue }
                var fields = s.initialFields(schema.index)
                for member in object.record where schema.fieldIndex[member.key] != nil {
                    fields[schema.fieldIndex[member.key]!] = member.value
                }
                s.restore(schema.index, ref: object.ref,
                          row: Row(fields: fields, created: object.created, modified: object.modified))
                restored += 1
            }
            s.finishRestore(generation: max(generation, objects.map(\.modified).max() ?? 0))
            return restored
        }
    }

    /// Returns once every change made so far to persisted tables is on disk; immediately when
    /// the database runs in memory only.
    public func waitUntilDurable() async {
        await durability.wait(for: lastPersistedChange)
    }

    /// Returns once the changes up to `generation` are on disk: what one call wrote
    /// (`WriteScope`); at once for 0, a call that wrote nothing.
    public func waitUntilDurable(upTo generation: Int64) async {
        guard generation > 0 else { return }
        await durability.wait(for: generation)
    }

    /// The generation of the latest change to a persisted table.
    var lastPersistedChange: Int64 { state.withLock { $0.lastPersistedChange } }
}

extension Database {
    /// Puts a batch that failed to save back into the dirty set, so the retry writes the objects'
    /// then-current state.
    func requeue(_ batch: PersistenceBatch) {
        state.withLock { s in
            for object in batch.upserts {
                if let schema = s.model.class(named: object.className) { s.dirty[schema.index, default: []].insert(object.ref) }
            }
            for ref in batch.deletions {
                for table in s.model.tables where table.isPersisted {
                    if s.tables[table.index].tombstoneGenerations[ref] != nil { s.dirty[table.index, default: []].insert(ref) }
                }
            }
            s.lastPersistedChange = max(s.lastPersistedChange, batch.generation)
        }
    }
}
