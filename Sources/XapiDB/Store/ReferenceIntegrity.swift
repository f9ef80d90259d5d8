/// A field of one class, by datamodel names (`VM.parent`), for listing the fields a check skips.
public struct FieldPath: Sendable, Hashable, CustomStringConvertible {
    public let className: String
    public let field: String

    public init(_ className: String, _ field: String) {
        self.className = className
        self.field = field
    }

    public var description: String { "\(className).\(field)" }
}

/// One breach of the database's referential integrity, found by `DatabaseState.integrityFaults`.
public enum IntegrityFault: Sendable, Hashable, CustomStringConvertible {
    /// `row`'s `field` names `target`, which is neither `OpaqueRef:NULL` nor a live row of
    /// `targetClass`.
    case dangling(FieldPath, row: String, target: String, targetClass: String)
    /// A derived set (`VM.VBDs`) differs from what the children's forward refs (`VBD.VM`) give,
    /// or one side of a many-to-many pair lacks the other: `missing` should be in it, `extra`
    /// should not.
    case drift(FieldPath, row: String, missing: [String], extra: [String])

    public var description: String {
        switch self {
        case .dangling(let path, let row, let target, let targetClass):
            "\(path) of \(row) names \(target), which is no \(targetClass)"
        case .drift(let path, let row, let missing, let extra):
            "\(path) of \(row) is out of step with its relation: missing \(missing), extra \(extra)"
        }
    }
}

extension DatabaseState {
    /// Every reference held in a `ref`, `ref set`, `ref option` or map field (keys and values)
    /// that names no live row, except in `allowedStale` fields; and every derived set or
    /// many-to-many side that disagrees with the fields it is derived from. Cost: one pass over
    /// every field of every row, so for tests and diagnostics, not for a call's path.
    public func integrityFaults(allowingStale allowedStale: Set<FieldPath> = []) -> [IntegrityFault] {
        var faults: [IntegrityFault] = []
        for schema in model.classes where schema.isTable {
            let checked = schema.fields.filter { field in
                field.type.holdsReferences && !allowedStale.contains(FieldPath(schema.name, field.name))
            }
            for (ref, row) in tables[schema.index].rows.sorted(by: { $0.key < $1.key }) {
                for field in checked {
                    for (target, targetClass) in field.type.references(in: row.fields[field.index])
                    where target != nullRef && !isLive(target, ofClass: targetClass) {
                        faults.append(.dangling(FieldPath(schema.name, field.name), row: ref, target: target, targetClass: targetClass))
                    }
                }
            }
        }
        faults += relationDrift()
        return faults
    }

    /// Removes every mention of `targets` from the rows that remain, as xapi's database GC does
    /// after a host leaves (ocaml/xapi/db_gc_util.ml): a single ref becomes `OpaqueRef:NULL`, a
    /// set or map loses the member. Derived sets are left to the relations. One pass over every
    /// field that can hold a ref: for rare, large removals, not for a call's path.
    public mutating func dropReferences(to targets: Set<String>) throws(XapiError) {
        guard !targets.isEmpty else { return }
        for schema in model.classes where schema.isTable {
            let fields = schema.fields.filter { field in
                guard field.type.holdsReferences else { return false }
                if case .reverseSet = field.relation { return false }
                return true
            }
            guard !fields.isEmpty else { continue }
            for (ref, row) in tables[schema.index].rows.sorted(by: { $0.key < $1.key }) {
                for field in fields {
                    let old = row.fields[field.index]
                    let new = field.type.dropping(targets, from: old)
                    if new != old { try set(schema.index, ref, field: field.index, to: new) }
                }
            }
        }
    }

    /// The first ref in `value` (of `type`) that is neither `OpaqueRef:NULL` nor a live row of
    /// its class: what a write must not store.
    public func firstDanglingReference(in value: Value, of type: FieldType) -> (ref: String, className: String)? {
        guard type.holdsReferences else { return nil }
        return type.references(in: value).first { $0.ref != nullRef && !isLive($0.ref, ofClass: $0.className) }
    }

    private func isLive(_ ref: String, ofClass name: String) -> Bool {
        guard let schema = model.class(named: name), schema.isTable else { return false }
        return tables[schema.index].rows[ref] != nil
    }

    /// Derived sets recomputed from the forward refs and compared, as sets, with what is stored.
    private func relationDrift() -> [IntegrityFault] {
        var faults: [IntegrityFault] = []
        for schema in model.classes where schema.isTable {
            for field in schema.fields {
                let expected: [String: Set<String>]
                switch field.relation {
                case .reverseSet(let childClass, let childField):
                    var derived: [String: Set<String>] = [:]
                    for (child, row) in tables[childClass].rows {
                        if case .string(let parent) = row.fields[childField] { derived[parent, default: []].insert(child) }
                    }
                    expected = derived
                case .manyToMany(let otherClass, let otherField):
                    var derived: [String: Set<String>] = [:]
                    for (other, row) in tables[otherClass].rows {
                        for mine in row.fields[otherField].refList { derived[mine, default: []].insert(other) }
                    }
                    expected = derived
                case .forwardRef, nil:
                    continue
                }
                for (ref, row) in tables[schema.index].rows.sorted(by: { $0.key < $1.key }) {
                    let stored = Set(row.fields[field.index].refList)
                    let wanted = expected[ref] ?? []
                    guard stored != wanted else { continue }
                    // Dangling members are reported as dangling; drift is about live rows.
                    faults.append(.drift(FieldPath(schema.name, field.name), row: ref,
                                         missing: wanted.subtracting(stored).sorted(),
                                         extra: stored.subtracting(wanted).sorted()))
                }
            }
        }
        return faults
    }
}

extension FieldType {
    /// Whether a value of this type can hold a ref, anywhere inside it.
    var holdsReferences: Bool {
        switch self {
        case .ref: true
        case .set(let element), .option(let element): element.holdsReferences
        case .map(let key, let value): key.holdsReferences || value.holdsReferences
        default: false
        }
    }

    /// `value` without the refs in `targets`: a ref becomes NULL, sets and maps lose them.
    func dropping(_ targets: Set<String>, from value: Value) -> Value {
        switch (self, value) {
        case (.ref, .string(let ref)) where targets.contains(ref): .string(nullRef)
        case (.set(let element), .array(let items)):
            .array(items.filter { item in
                if case .ref = element, case .string(let ref) = item { return !targets.contains(ref) }
                return true
            }.map { element.dropping(targets, from: $0) })
        case (.map(let key, let valueType), .structure(let structure)):
            .structure(Structure(structure.members.filter { member in
                if case .ref = key, targets.contains(member.key) { return false }
                if case .ref = valueType, case .string(let ref) = member.value, targets.contains(ref) { return false }
                return true
            }))
        default: value
        }
    }

    /// The refs a value of this type holds (map keys and values alike), each with its class.
    func references(in value: Value) -> [(ref: String, className: String)] {
        switch (self, value) {
        case (.ref(let className), .string(let ref)): [(ref, className)]
        case (.set(let element), .array(let items)): items.flatMap { element.references(in: $0) }
        case (.option(let element), let single): element.references(in: single)
        case (.map(let key, let valueType), .structure(let structure)):
            structure.members.flatMap { member in key.references(in: .string(member.key)) + valueType.references(in: member.value) }
        default: []
        }
    }
}
