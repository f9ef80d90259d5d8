import Foundation

/// xapi's datamodel as data: every class, field, type, qualifier, default, relation and message
/// signature, loaded once from the facts extracted from xen-api (`datamodel.json`). Everything
/// that would otherwise be hand-written per class — accessors, constructors, records, reverse
/// sets, dispatch — is derived from this.
public struct Datamodel: Sendable {
    public let classes: [ClassSchema]
    /// xapi's static RBAC roles, most powerful first (ocaml/idl/datamodel_roles.ml).
    public let roleNames: [String]
    private let byName: [String: Int]
    private let byLowercasedName: [String: Int]

    /// The datamodel of xapi at the commit named in `datamodelJSON`'s source line.
    public static let xapi: Datamodel = {
        do {
            return try Datamodel(json: Array(datamodelJSON.utf8))
        } catch {
            preconditionFailure("embedded datamodel does not parse: \(error)")
        }
    }()

    public init(json: [UInt8]) throws {
        let file = try JSONDecoder().decode(DatamodelFile.self, from: Data(json))
        var classes: [ClassSchema] = []
        roleNames = file.roles ?? []
        for (index, raw) in file.classes.enumerated() {
            classes.append(try ClassSchema(raw, index: index, roleNames: roleNames))
        }
        byName = Dictionary(uniqueKeysWithValues: classes.map { ($0.name, $0.index) })
        byLowercasedName = Dictionary(classes.map { ($0.name.lowercased(), $0.index) }, uniquingKeysWith: { a, _ in a })
        Datamodel.resolveRelations(&classes, byName: byName)
        self.classes = classes
        silentTables = Set(classes.filter { !$0.generatesEvents }.map(\.index))
    }

    /// Exact datamodel spelling (`VM`, `host`, `VM_metrics`), as wire names and `event.inject` use.
    public func `class`(named name: String) -> ClassSchema? {
        byName[name].map { classes[$0] }
    }

    /// Case-insensitive, as event subscriptions match.
    public func `class`(lowercased name: String) -> ClassSchema? {
        byLowercasedName[name.lowercased()].map { classes[$0] }
    }

    /// Classes that are database tables (everything with a record except xapi's in-memory
    /// pseudo-classes such as `event` and `data_source`).
    public var tables: [ClassSchema] { classes.filter(\.isTable) }

    /// Tables whose changes never become events (sessions, users, secrets…).
    public let silentTables: Set<Int>

    private static func resolveRelations(_ classes: inout [ClassSchema], byName: [String: Int]) {
        for relation in Relation.xapi {
            guard let ci = byName[relation.one.className], let pi = byName[relation.many.className],
                  let cf = classes[ci].fieldIndex[relation.one.field],
                  let pf = classes[pi].fieldIndex[relation.many.field]
            else { continue }
            let childField = classes[ci].fields[cf]
            let parentField = classes[pi].fields[pf]
            switch (childField.type, parentField.type) {
            case (.ref, .set(.ref)):
                classes[ci].fields[cf].relation = .forwardRef(parentClass: pi, parentField: pf)
                classes[pi].fields[pf].relation = .reverseSet(childClass: ci, childField: cf)
            case (.set(.ref), .set(.ref)) where !(ci == pi && cf == pf):
                classes[ci].fields[cf].relation = .manyToMany(otherClass: pi, otherField: pf)
                classes[pi].fields[pf].relation = .manyToMany(otherClass: ci, otherField: cf)
            default:
                continue
            }
        }
    }
}

public enum Lifecycle: String, Sendable, Codable {
    case published, deprecated, removed, prototyped
}

/// RW: settable and taken from `create`; RC ("RO/constructor"): taken from `create` only;
/// RO ("RO/runtime"): maintained by the server.
public enum Qualifier: String, Sendable, Codable {
    case readWrite = "RW"
    case constructor = "RO/constructor"
    case runtime = "RO/runtime"
}

public struct ClassSchema: Sendable {
    public let name: String
    public let index: Int
    public let lifecycle: Lifecycle
    public internal(set) var fields: [FieldSchema]
    public let fieldIndex: [String: Int]
    public let messages: [MessageSchema]
    public let enums: [String: [String]]
    /// Has a record in the database (xapi's `in_db`).
    public let isTable: Bool
    /// xapi's `gen_events`: sessions, users, secrets … never appear in events.
    public let generatesEvents: Bool
    /// xapi's `PersistNothing` classes (sessions, tasks, per-device metrics) live only in memory.
    public let isPersisted: Bool
    public let uuidField: Int?
    public let nameLabelField: Int?
    /// Lower-cased name: event `class` values and subscriptions use it.
    public let eventName: String

    init(_ raw: DatamodelFile.Class, index: Int, roleNames: [String] = []) throws {
        name = raw.name
        self.index = index
        lifecycle = raw.state
        var fields: [FieldSchema] = []
        for (i, f) in raw.fields.enumerated() {
            guard let type = FieldType(parsing: f.type) else {
                throw DatamodelError.unparsableType(class: raw.name, name: f.name, type: f.type)
            }
            var defaultValue: Value?
            if let text = f.default {
                guard let parsed = type.parseDefault(text) else {
                    throw DatamodelError.unparsableDefault(class: raw.name, field: f.name, text: text)
                }
                defaultValue = parsed
            }
            fields.append(FieldSchema(name: f.name, index: i, type: type, qualifier: f.qualifier,
                                      defaultValue: defaultValue, lifecycle: f.state))
        }
        self.fields = fields
        fieldIndex = Dictionary(uniqueKeysWithValues: fields.map { ($0.name, $0.index) })
        messages = try raw.messages.map { try MessageSchema($0, className: raw.name, roleNames: roleNames) }
        enums = Dictionary(raw.enums.map { ($0.name, $0.values) }, uniquingKeysWith: { a, _ in a })
        isTable = raw.messages.contains { $0.name == "get_record" } && !fields.isEmpty
        generatesEvents = isTable && !ClassSchema.silentClasses.contains(raw.name)
        isPersisted = !ClassSchema.transientClasses.contains(raw.name)
        uuidField = fieldIndex["uuid"]
        nameLabelField = fieldIndex["name_label"]
        eventName = raw.name.lowercased()
    }

    /// xen-api ocaml/idl/datamodel.ml `~gen_events:false` (in-database classes among them).
    static let silentClasses: Set<String> = ["session", "user", "secret", "auth", "data_source",
                                            "sr_stat", "probe_result", "vdi_nbd_server_info", "event"]
    /// xen-api ocaml/idl/datamodel.ml `~persist:PersistNothing`.
    static let transientClasses: Set<String> = ["session", "task", "VIF_metrics", "VBD_metrics"]

    public func field(_ name: String) -> FieldSchema? {
        fieldIndex[name].map { fields[$0] }
    }

    public func message(_ name: String) -> MessageSchema? {
        messages.first { $0.name == name }
    }
}

public struct FieldSchema: Sendable {
    public let name: String
    public let index: Int
    public let type: FieldType
    public let qualifier: Qualifier
    /// The datamodel default; fields without one are required in `create` when RW or RC.
    public let defaultValue: Value?
    public let lifecycle: Lifecycle
    public internal(set) var relation: RelationEnd?

    /// What a new row holds when nothing else is given.
    public var initialValue: Value { defaultValue ?? type.zeroValue }

    /// Taken from the `create` struct (xapi reads RW and StaticRO fields from it).
    public var isConstructorInput: Bool { qualifier != .runtime }
}

public struct MessageSchema: Sendable {
    public struct Parameter: Sendable {
        public let name: String
        public let type: FieldType
        public let defaultValue: Value?

        public init(name: String, type: FieldType, defaultValue: Value? = nil) {
            self.name = name
            self.type = type
            self.defaultValue = defaultValue
        }
    }

    public let className: String
    public let name: String
    public let parameters: [Parameter]
    public let result: FieldType
    /// Generated by xapi from the fields (getters, setters, constructors, get_all…).
    public let isImplicit: Bool
    /// Has an `Async.` form.
    public let isAsync: Bool
    public let lifecycle: Lifecycle
    public let errors: [String]
    /// The static roles allowed to call it (its RBAC permission's roles).
    public let roles: [String]

    /// The first parameter is the session (every message but the login family).
    public var takesSession: Bool { parameters.first?.type == .ref("session") }

    /// Parameters the caller passes after the session.
    public var callParameters: ArraySlice<Parameter> { takesSession ? parameters.dropFirst() : parameters[...] }

    public var wireName: String { "\(className).\(name)" }

    /// A message the datamodel facts do not list but xapi serves (`get_all_where`).
    public init(className: String, name: String, parameters: [Parameter], result: FieldType,
                isImplicit: Bool, isAsync: Bool, lifecycle: Lifecycle = .published, errors: [String] = [], roles: [String] = []) {
        self.className = className
        self.name = name
        self.parameters = parameters
        self.result = result
        self.isImplicit = isImplicit
        self.isAsync = isAsync
        self.lifecycle = lifecycle
        self.errors = errors
        self.roles = roles
    }

    init(_ raw: DatamodelFile.Message, className: String, roleNames: [String]) throws {
        self.className = className
        name = raw.name
        var parameters: [Parameter] = []
        for p in raw.params {
            guard let type = FieldType(parsing: p.type) else {
                throw DatamodelError.unparsableType(class: className, name: "\(raw.name).\(p.name)", type: p.type)
            }
            parameters.append(Parameter(name: p.name, type: type,
                                        defaultValue: ParameterDefaults.value(className: className, message: raw.name, parameter: p.name)))
        }
        self.parameters = parameters
        // `<class> record` is the placeholder the JSON uses for generic messages; never dispatched.
        result = FieldType(parsing: raw.result) ?? .void
        isImplicit = raw.implicit
        isAsync = raw.async
        lifecycle = raw.state
        errors = raw.errors
        roles = roleNames.indices.filter { (raw.r ?? 0) >> $0 & 1 == 1 }.map { roleNames[$0] }
    }
}

/// The two ends of a relation, as seen from one field.
public enum RelationEnd: Sendable, Hashable {
    /// This ref field (`VBD.VM`) is the "one" side; the parent's set field lists this row.
    case forwardRef(parentClass: Int, parentField: Int)
    /// This set field (`VM.VBDs`) is derived from the children's forward refs.
    case reverseSet(childClass: Int, childField: Int)
    /// Both sides are sets kept in step (`PCI.attached_VMs` ↔ `VM.attached_PCIs`).
    case manyToMany(otherClass: Int, otherField: Int)
}

public enum DatamodelError: Error, Sendable {
    case unparsableType(class: String, name: String, type: String)
    case unparsableDefault(class: String, field: String, text: String)
}

/// The on-disk shape of `datamodel.json`.
struct DatamodelFile: Decodable {
    struct Field: Decodable {
        var name: String
        var type: String
        var qualifier: Qualifier
        var state: Lifecycle
        var `default`: String?
    }

    struct Param: Decodable {
        var name: String
        var type: String
    }

    struct Message: Decodable {
        var name: String
        var params: [Param]
        var result: String
        var errors: [String]
        var implicit: Bool
        var state: Lifecycle
        var async: Bool
        /// Bitmask over the file's `roles`.
        var r: Int?
    }

    struct Enum: Decodable {
        var name: String
        var values: [String]
    }

    struct Class: Decodable {
        var name: String
        var state: Lifecycle
        var fields: [Field]
        var messages: [Message]
        var enums: [Enum]
    }

    var classes: [Class]
    var roles: [String]?
}
