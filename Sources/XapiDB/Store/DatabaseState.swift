/// The whole object database as one value: tables, the global generation counter, the change
/// log and the bookkeeping that writes produce for events and persistence. It performs no I/O
/// and takes no locks; `Database` owns it behind a mutex, so every method here runs atomically
/// with respect to every other reader and writer.
///
/// Every write advances the global generation by one (xapi's `Database.increment`), stamps the
/// rows it touches, and keeps relations consistent: writing `VBD.VM` also modifies the old and
/// the new VM, whose `VBDs` sets change.
public struct DatabaseState: Sendable {
    public let model: Datamodel
    var tables: [Table]
    /// The generation of the latest write; tokens and `created`/`modified` stamps use it.
    public internal(set) var generation: Int64 = 0
    var changeLog = ChangeLog()
    /// Messages change under their own generation in tokens, so they get their own log: a
    /// token's message part then never makes a scan start before its object part.
    var messageLog = ChangeLog()
    /// What the current write transaction changed; drained by `Database` after the lock.
    var pending = PendingEffects()
    /// Persisted objects changed since the last flush.
    var dirty: [Int: Set<String>] = [:]
    /// Highest generation of a change to a persisted table.
    var lastPersistedChange: Int64 = 0
    var events: EventState
    /// Messages are a table like any other here, but xapi keeps their generation apart, as the
    /// second number of `event.from` tokens.
    public internal(set) var messageGeneration: Int64 = 0
    let messageTableIndex: Int

    init(model: Datamodel) {
        self.model = model
        tables = Array(repeating: Table(), count: model.classes.count)
        events = EventState(model: model)
        messageTableIndex = model.class(named: "message")?.index ?? -1
    }

    // MARK: Reading

    public func schema(_ table: Int) -> ClassSchema { model.classes[table] }

    /// Index of a table by its exact datamodel name; a missing name is a programming error.
    public func table(_ name: String) -> Int {
        guard let schema = model.class(named: name), schema.isTable else {
            preconditionFailure("\(name) is not a table of the datamodel")
        }
        return schema.index
    }

    public func contains(_ table: Int, _ ref: String) -> Bool {
        tables[table].rows[ref] != nil
    }

    public func row(_ table: Int, _ ref: String) throws(XapiError) -> Row {
        guard let row = tables[table].rows[ref] else {
            throw .handleInvalid(class: model.classes[table].name, ref: ref)
        }
        return row
    }

    public func value(_ table: Int, _ ref: String, _ field: Int) throws(XapiError) -> Value {
        try row(table, ref).fields[field]
    }

    /// The full record: every field of the class, in datamodel order.
    public func record(_ table: Int, _ ref: String) throws(XapiError) -> Structure {
        record(of: try row(table, ref), table: table)
    }

    public func record(of row: Row, table: Int) -> Structure {
        let fields = model.classes[table].fields
        var members: [Structure.Member] = []
        members.reserveCapacity(fields.count)
        for field in fields {
            members.append(Structure.Member(key: field.name, value: row.fields[field.index]))
        }
        return Structure(members)
    }

    public func refs(_ table: Int) -> [String] { Array(tables[table].rows.keys) }

    public func rows(_ table: Int) -> [String: Row] { tables[table].rows }

    public func count(_ table: Int) -> Int { tables[table].rows.count }

    public func ref(uuid: String, in table: Int) throws(XapiError) -> String {
        guard let ref = tables[table].refsByUUID[uuid] else {
            throw .uuidInvalid(class: model.classes[table].name, uuid: uuid)
        }
        return ref
    }

    /// Field values of a fresh row: defaults, or each type's zero value.
    public func initialFields(_ table: Int) -> [Value] {
        model.classes[table].fields.map(\.initialValue)
    }

    // MARK: Writing

    /// Adds a row. Fields referencing other objects update those objects' reverse sets.
    public mutating func insert(_ table: Int, ref: String, fields: [Value]) throws(XapiError) {
        let schema = model.classes[table]
        precondition(fields.count == schema.fields.count, "row of \(schema.name) has the wrong arity")
        guard tables[table].rows[ref] == nil else {
            throw .uniquenessViolation(table: schema.name, field: "_ref", value: ref)
        }
        var uuid: String?
        if let u = schema.uuidField, case .string(let s) = fields[u] {
            guard tables[table].refsByUUID[s] == nil else {
                throw .uniquenessViolation(table: schema.name, field: "uuid", value: s)
            }
            uuid = s
        }
        generation += 1
        tables[table].rows[ref] = Row(fields: fields, created: generation, modified: generation)
        if let uuid { tables[table].refsByUUID[uuid] = ref }
        recordChange(.add, table: table, ref: ref, supersedes: false)
        for field in schema.fields {
            switch field.relation {
            case .forwardRef(let parentClass, let parentField):
                if case .string(let parent) = fields[field.index] {
                    linkReverse(parentClass, parent, parentField, add: ref)
                }
            case .manyToMany(let otherClass, let otherField):
                for other in fields[field.index].refList {
                    linkReverse(otherClass, other, otherField, add: ref)
                }
            case .reverseSet, nil:
                break
            }
        }
    }

    /// Writes one field. Writing a forward ref moves this row between the parents' reverse sets.
    public mutating func set(_ table: Int, _ ref: String, field: Int, to value: Value) throws(XapiError) {
        let old = try row(table, ref).fields[field]
        let schema = model.classes[table]
        if field == schema.uuidField, case .string(let newUUID) = value, old != value {
            guard tables[table].refsByUUID[newUUID] == nil else {
                throw .uniquenessViolation(table: schema.name, field: "uuid", value: newUUID)
            }
            if case .string(let oldUUID) = old { tables[table].refsByUUID[oldUUID] = nil }
            tables[table].refsByUUID[newUUID] = ref
        }
        generation += 1
        tables[table].rows[ref]!.fields[field] = value
        tables[table].rows[ref]!.modified = generation
        recordChange(.mod, table: table, ref: ref, supersedes: true)
        switch schema.fields[field].relation {
        case .forwardRef(let parentClass, let parentField):
            guard old != value else { break }
            if case .string(let oldParent) = old { linkReverse(parentClass, oldParent, parentField, remove: ref) }
            if case .string(let newParent) = value { linkReverse(parentClass, newParent, parentField, add: ref) }
        case .manyToMany(let otherClass, let otherField):
            let before = Set(old.refList)
            let after = Set(value.refList)
            for gone in before.subtracting(after) { linkReverse(otherClass, gone, otherField, remove: ref) }
            for added in after.subtracting(before) { linkReverse(otherClass, added, otherField, add: ref) }
        case .reverseSet, nil:
            break
        }
    }

    /// Removes a row, leaving a tombstone for `event.from` and detaching it from its parents.
    /// Children that point at it keep their (now dangling) references, as in xapi.
    public mutating func delete(_ table: Int, _ ref: String) throws(XapiError) {
        let removed = try row(table, ref)
        let schema = model.classes[table]
        if events.wantsNextEvents(table: table) {
            events.recordNextEvent(.del, table: table, ref: ref, className: schema.eventName, snapshot: record(of: removed, table: table))
        }
        generation += 1
        tables[table].rows[ref] = nil
        if let u = schema.uuidField, case .string(let uuid) = removed.fields[u] {
            tables[table].refsByUUID[uuid] = nil
        }
        tables[table].addTombstone(.init(ref: ref, created: removed.created, deleted: generation))
        appendLog(table: table, ref: ref, supersedes: true)
        if table == events.sessionTable { events.invalidateSession(ref) }
        for field in schema.fields {
            switch field.relation {
            case .forwardRef(let parentClass, let parentField):
                if case .string(let parent) = removed.fields[field.index] {
                    linkReverse(parentClass, parent, parentField, remove: ref)
                }
            case .manyToMany(let otherClass, let otherField):
                for other in removed.fields[field.index].refList {
                    linkReverse(otherClass, other, otherField, remove: ref)
                }
            case .reverseSet, nil:
                break
            }
        }
    }

    /// Marks a row modified without changing it, advancing the generation by two as xapi's
    /// `touch` does; returns the generation the row was stamped with.
    @discardableResult
    public mutating func touch(_ table: Int, _ ref: String) throws(XapiError) -> Int64 {
        _ = try row(table, ref)
        generation += 1
        let stamp = generation
        tables[table].rows[ref]!.modified = stamp
        recordChange(.mod, table: table, ref: ref, supersedes: true)
        generation += 1
        return stamp
    }

    /// Adds or removes `child` in a parent's derived set; the parent counts as modified at the
    /// current generation. Missing parents (dangling or null refs) are ignored.
    private mutating func linkReverse(_ parentTable: Int, _ parent: String, _ field: Int,
                                      add child: String? = nil, remove gone: String? = nil) {
        guard tables[parentTable].rows[parent] != nil else { return }
        // Take the set out of the row so the array is uniquely referenced and grows in place:
        // a parent with 100,000 children must not be copied for each new one.
        var value = Value.null
        swap(&value, &tables[parentTable].rows[parent]!.fields[field])
        var items: [Value] = []
        if case .array(let existing) = value { items = existing }
        value = .null
        var changed = false
        if let child {
            // Callers link a child once (a forward ref that does not change is not relinked).
            items.append(.string(child))
            changed = true
        }
        if let gone, let index = items.firstIndex(of: .string(gone)) {
            items.remove(at: index)
            changed = true
        }
        tables[parentTable].rows[parent]!.fields[field] = .array(items)
        guard changed else { return }
        tables[parentTable].rows[parent]!.modified = generation
        recordChange(.mod, table: parentTable, ref: parent, supersedes: true)
    }

    private mutating func recordChange(_ kind: ChangeKind, table: Int, ref: String, supersedes: Bool) {
        appendLog(table: table, ref: ref, supersedes: supersedes)
        if events.wantsNextEvents(table: table) {
            let snapshot = record(of: tables[table].rows[ref]!, table: table)
            events.recordNextEvent(kind, table: table, ref: ref, className: model.classes[table].eventName, snapshot: snapshot)
        }
    }

    private mutating func appendLog(table: Int, ref: String, supersedes: Bool) {
        if table == messageTableIndex {
            messageLog.append(.init(generation: generation, table: table, ref: ref), supersedes: supersedes)
        } else {
            changeLog.append(.init(generation: generation, table: table, ref: ref), supersedes: supersedes)
        }
        pending.changed.append(.init(table: table, ref: ref))
        if table == messageTableIndex { messageGeneration = generation }
        if model.classes[table].isPersisted {
            dirty[table, default: []].insert(ref)
            lastPersistedChange = generation
            pending.persistedGeneration = generation
        }
    }

    /// Whether a change-log entry still describes the object's latest state.
    func isLive(_ entry: ChangeLog.Entry) -> Bool {
        let table = tables[entry.table]
        if let row = table.rows[entry.ref] { return row.modified == entry.generation }
        return table.tombstoneGenerations[entry.ref] == entry.generation
    }

    @usableFromInline
    mutating func finishTransaction() -> PendingEffects {
        let tablesSnapshot = tables
        let isLive = { (entry: ChangeLog.Entry) -> Bool in
            if let row = tablesSnapshot[entry.table].rows[entry.ref] { return row.modified == entry.generation }
            return tablesSnapshot[entry.table].tombstoneGenerations[entry.ref] == entry.generation
        }
        changeLog.compactIfNeeded(isLive: isLive)
        messageLog.compactIfNeeded(isLive: isLive)
        var effects = pending
        pending = PendingEffects()
        effects.wakeups = events.drainWakeups()
        effects.wakeups += events.collectWakeups(changes: effects.changed)
        return effects
    }

    // MARK: Restoring

    /// Puts back a row read from persistent storage, with its original stamps.
    mutating func restore(_ table: Int, ref: String, row: Row) {
        tables[table].rows[ref] = row
        if let u = model.classes[table].uuidField, case .string(let uuid) = row.fields[u] {
            tables[table].refsByUUID[uuid] = ref
        }
        let entry = ChangeLog.Entry(generation: row.modified, table: table, ref: ref)
        if table == messageTableIndex {
            messageLog.append(entry, supersedes: false)
            messageGeneration = max(messageGeneration, row.modified)
        } else {
            changeLog.append(entry, supersedes: false)
        }
    }

    mutating func finishRestore(generation restored: Int64) {
        generation = max(restored, generation)
        changeLog.sortByGeneration()
        messageLog.sortByGeneration()
        deriveReverseSets()
    }

    /// Recomputes every derived set (`VM.VBDs`) from the forward refs it mirrors (`VBD.VM`),
    /// children in the order they were created: what was stored for it is not trusted, so a set
    /// cannot come back from disk out of step with the refs it is made of.
    mutating func deriveReverseSets() {
        for schema in model.classes where schema.isTable {
            for field in schema.fields {
                guard case .reverseSet(let childClass, let childField) = field.relation else { continue }
                var children: [String: [(created: Int64, ref: String)]] = [:]
                for (child, row) in tables[childClass].rows {
                    if case .string(let parent) = row.fields[childField], tables[schema.index].rows[parent] != nil {
                        children[parent, default: []].append((row.created, child))
                    }
                }
                for parent in Array(tables[schema.index].rows.keys) {
                    let ordered = (children[parent] ?? []).sorted { ($0.created, $0.ref) < ($1.created, $1.ref) }
                    tables[schema.index].rows[parent]!.fields[field.index] = .array(ordered.map { .string($0.ref) })
                }
            }
        }
    }
}

public enum ChangeKind: String, Sendable {
    case add, mod, del
}

/// The consequences of a write transaction, acted upon after the database lock is released.
@usableFromInline
struct PendingEffects: Sendable {
    struct Changed: Sendable, Hashable {
        var table: Int
        var ref: String
    }

    var changed: [Changed] = []
    var wakeups: [EventWakeup] = []
    /// The generation of the transaction's last change to a persisted table (0: none).
    var persistedGeneration: Int64 = 0
}

extension Value {
    /// The refs of a set-of-refs value (empty for anything else).
    public var refList: [String] {
        guard case .array(let items) = self else { return [] }
        return items.compactMap(\.stringValue)
    }
}
