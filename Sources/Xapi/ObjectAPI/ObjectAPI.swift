public import XapiDB

/// The messages xapi generates from the datamodel for every class — records, lookups, field
/// getters and setters, map and set editors, constructors and destructors — derived here from
/// the message's name and the class's fields instead of being written per class.
public enum ObjectAPI {
    /// The classes whose xapi `destroy` is the database delete alone, so the derived form is
    /// theirs: xen-api ocaml/xapi/xapi_secret.ml, xapi_user.ml and xapi_vm_appliance.ml
    /// (`Db.<Class>.destroy`), xapi_subject.ml (then a hook script, which nothing here runs) and
    /// message_forwarding.ml `Observer.destroy` (then xapi_observer.ml `Db.Observer.destroy`,
    /// after unregistering on the observed hosts, where nothing runs here). Every other generated
    /// destroy has preconditions and cascades, declared in its class's handler table; one missing
    /// there answers NOT_IMPLEMENTED rather than deleting a row other rows still name.
    public static let rowOnlyDestroys: Set<String> = ["secret", "user", "subject", "VM_appliance", "Observer"]

    /// The generic implementation of `message`, or nil when it is not one of the derived forms.
    public static func handler(for message: MessageSchema, model: Datamodel) -> Handler? {
        guard let schema = model.class(named: message.className), schema.isTable else { return nil }
        let table = schema.index
        let params = Array(message.callParameters)
        /// Where the argument the datamodel calls `name` sits in `Call.args`, resolved once as the
        /// handler is built at start: a derived form reading a parameter its message lacks stops
        /// the server there, not in a client's call.
        func position(_ name: String) -> Int {
            guard let position = params.firstIndex(where: { $0.name == name }) else {
                preconditionFailure("\(message.wireName) has no parameter \(name)")
            }
            return position
        }
        switch message.name {
        case "get_record":
            let this = position("self")
            return { call in
                let ref = call.text(this)
                let answer = try call.database.read { s throws(XapiError) -> SharedAnswer in
                    let row = try s.row(table, ref)
                    return call.api.recordCache.answer(for: ref, modified: row.modified) { .structure(s.record(of: row, table: table)) }
                }
                call.reply.share(answer)
                return answer.value
            }
        case "get_by_uuid":
            let uuid = position("uuid")
            return { call in
                .string(try call.database.read { s throws(XapiError) in try s.ref(uuid: call.text(uuid), in: table) })
            }
        case "get_by_name_label" where schema.nameLabelField != nil:
            let label = position("label")
            return { call in .array(refs(of: table, in: call.database) { $0[schema.nameLabelField!] == call.args[label] }.map(Value.string)) }
        case "get_all":
            return { call in .array(call.database.read { $0.refs(table) }.map(Value.string)) }
        case "get_all_records":
            return { call in try allRecords(table, call.database) { _ throws(XapiError) in true } }
        case "get_all_records_where":
            let expr = position("expr")
            return { call in
                let expression = try WhereExpression(parsing: call.text(expr))
                return try allRecords(table, call.database) { (row: Row) throws(XapiError) -> Bool in
                    try expression.evaluate(columnLookup(schema, row))
                }
            }
        case "get_all_where":
            let expr = position("expr")
            return { call in
                let expression = try WhereExpression(parsing: call.text(expr))
                let refs = try refsWhere(table, call.database) { (row: Row) throws(XapiError) -> Bool in
                    try expression.evaluate(columnLookup(schema, row))
                }
                return .array(refs.map(Value.string))
            }
        case "create" where message.isImplicit:
            let args = position("args")
            return { call in .string(try create(table, record: call.args[args], call: call)) }
        case "destroy" where message.isImplicit && rowOnlyDestroys.contains(schema.name):
            let this = position("self")
            return { call in
                try call.database.write { s throws(XapiError) in try s.delete(table, call.text(this)) }
                return .emptyString
            }
        default:
            break
        }
        if message.isImplicit, let (prefix, field) = fieldMessage(message.name, schema) {
            let index = field.index
            let this = position("self")
            switch prefix {
            case "get_":
                return { call in try call.database.read { s throws(XapiError) in try s.value(table, call.text(this), index) } }
            case "set_":
                return setter(table, index, this: this, value: position("value"))
            case "add_to_":
                let (key, value) = (position("key"), position("value"))
                return { call in
                    try call.database.write { s throws(XapiError) in
                        let ref = call.text(this)
                        var map = try s.value(table, ref, index).structureValue ?? Structure()
                        let key = call.args[key].mapKey
                        if map[key] != nil {
                            throw .mapDuplicateKey(table: schema.name, field: field.name, ref: ref, key: key)
                        }
                        map.append(key, call.args[value])
                        try s.assertLiveReferences(table, field: index, .structure(map))
                        try s.set(table, ref, field: index, to: .structure(map))
                    }
                    return .emptyString
                }
            case "remove_from_":
                let key = position("key")
                return { call in
                    try call.database.write { s throws(XapiError) in
                        let ref = call.text(this)
                        var map = try s.value(table, ref, index).structureValue ?? Structure()
                        let key = call.args[key].mapKey
                        guard map[key] != nil else { return }
                        map[key] = nil
                        try s.set(table, ref, field: index, to: .structure(map))
                    }
                    return .emptyString
                }
            case "add_":
                let value = position("value")
                return { call in
                    try call.database.write { s throws(XapiError) in
                        let ref = call.text(this)
                        var items = try s.value(table, ref, index).arrayValue ?? []
                        guard !items.contains(call.args[value]) else { return }
                        items.append(call.args[value])
                        try s.assertLiveReferences(table, field: index, .array(items))
                        try s.set(table, ref, field: index, to: .array(items))
                    }
                    return .emptyString
                }
            case "remove_":
                let value = position("value")
                return { call in
                    try call.database.write { s throws(XapiError) in
                        let ref = call.text(this)
                        var items = try s.value(table, ref, index).arrayValue ?? []
                        guard let position = items.firstIndex(of: call.args[value]) else { return }
                        items.remove(at: position)
                        try s.set(table, ref, field: index, to: .array(items))
                    }
                    return .emptyString
                }
            default:
                break
            }
        }
        // Explicit setters of constructor-only fields (`VM.set_VCPUs_max`, `VDI.set_name_label`)
        // behave as plain setters unless a custom handler says otherwise.
        if message.name.hasPrefix("set_"), let field = schema.field(String(message.name.dropFirst(4))),
           params.count == 2, params[0].type == .ref(schema.name), params[1].type == field.type {
            return setter(table, field.index, this: 0, value: 1)
        }
        return nil
    }

    private static func setter(_ table: Int, _ index: Int, this: Int, value: Int) -> Handler {
        { call in
            try call.database.write { s throws(XapiError) in
                let ref = call.text(this)
                _ = try s.row(table, ref)   // HANDLE_INVALID for the object before its argument
                try s.assertLiveReferences(table, field: index, call.args[value])
                try s.set(table, ref, field: index, to: call.args[value])
            }
            return .emptyString
        }
    }

    /// Splits `add_to_other_config` into (`add_to_`, other_config) for the class's fields.
    private static func fieldMessage(_ name: String, _ schema: ClassSchema) -> (String, FieldSchema)? {
        for prefix in ["add_to_", "remove_from_", "get_", "set_", "add_", "remove_"] where name.hasPrefix(prefix) {
            if let field = schema.field(String(name.dropFirst(prefix.count))) {
                switch (prefix, field.type) {
                case ("add_to_", .map), ("remove_from_", .map), ("add_", .set), ("remove_", .set), ("get_", _), ("set_", _):
                    return (prefix, field)
                default:
                    continue
                }
            }
        }
        return nil
    }

    /// A where-expression column lookup over one row's fields.
    static func columnLookup(_ schema: ClassSchema, _ row: Row) -> (String) -> String? {
        { column in schema.field(column: column).map { row.fields[$0.index].databaseString } }
    }

    static func refs(of table: Int, in database: Database, where predicate: (Row) -> Bool) -> [String] {
        database.read { s in s.rows(table).filter { predicate($0.value) }.map(\.key) }
    }

    static func refsWhere(_ table: Int, _ database: Database, _ predicate: (Row) throws(XapiError) -> Bool) throws(XapiError) -> [String] {
        try database.read { s throws(XapiError) in
            var refs: [String] = []
            for (ref, row) in s.rows(table) where try predicate(row) { refs.append(ref) }
            return refs
        }
    }

    static func allRecords(_ table: Int, _ database: Database, _ predicate: (Row) throws(XapiError) -> Bool) throws(XapiError) -> Value {
        try database.read { s throws(XapiError) in
            var records = Structure()
            for (ref, row) in s.rows(table) where try predicate(row) {
                records.append(ref, .structure(s.record(of: row, table: table)))
            }
            return .structure(records)
        }
    }

    /// xapi's generated constructor: every RW and constructor-only field is read from the struct
    /// (unknown keys ignored); a missing field without a default fails as xapi's dispatcher does.
    public static func constructorFields(_ table: Int, record: Value, call: Call) throws(XapiError) -> [Value] {
        let model = call.database.model
        let schema = model.classes[table]
        guard case .structure(let given) = record else { throw .internalError("Expected record, got '\(record.debugDescription)'") }
        var fields = schema.fields.map(\.initialValue)
        for field in schema.fields where field.isConstructorInput {
            if let value = given[field.name] {
                fields[field.index] = try call.api.decoder.decode(value, as: field.type)
            } else if field.defaultValue == nil {
                throw .internalError("Server_helpers.Dispatcher_FieldNotFound(\"\(field.name)\")")
            }
        }
        if let u = schema.uuidField { fields[u] = .string(Identifiers.uuid()) }
        return fields
    }

    static func create(_ table: Int, record: Value, call: Call) throws(XapiError) -> String {
        let fields = try constructorFields(table, record: record, call: call)
        let ref = Identifiers.ref()
        try call.database.write { s throws(XapiError) in
            try s.assertLiveReferences(table, fields)
            try s.insert(table, ref: ref, fields: fields)
        }
        return ref
    }
}

extension Call {
    /// The string or ref argument at a position resolved when the handler was built. Dispatch
    /// has already decoded it to that declared type, so it is a string.
    fileprivate func text(_ position: Int) -> String { args[position].stringValue ?? "" }
}
