import XapiDB

/// Messages (alerts). xapi keeps them outside its database; here they are a table whose changes
/// count towards the separate message generation of `event.from` tokens. The generic record
/// accessors serve `get_record`, `get_all_records_where` and friends.
enum MessageHandlers {
    static let table = ClassHandlers("message", [
        "create": create,
        "destroy": { call in
            try destroy([try call.string("self")], call)
            return .emptyString
        },
        "destroy_many": { call in
            try destroy(try call.strings("messages"), call)
            return .emptyString
        },
        "get_since": { call in
            let since = try call.argument("since").dateValue
            return records(call) { $0["timestamp"].dateValue > since }
        },
        "get": { call in
            let since = try call.argument("since").dateValue
            let cls = try call.argument("cls")
            let uuid = try call.argument("obj_uuid")
            return records(call) { $0["cls"] == cls && $0["obj_uuid"] == uuid && $0["timestamp"].dateValue > since }
        },
    ])

    /// The `cls` enum names the class an alert is about.
    private static let classOfCls = ["VM": "VM", "Host": "host", "SR": "SR", "Pool": "pool", "VMPP": "VMPP",
                                     "VMSS": "VMSS", "PVS_proxy": "PVS_proxy", "VDI": "VDI", "Certificate": "Certificate"]

    private static let create: Handler = { call in
        let cls = try call.string("cls")
        let uuid = try call.string("obj_uuid")
        let (name, priority, body) = (try call.argument("name"), try call.argument("priority"), try call.argument("body"))
        let database = call.database
        guard let className = classOfCls[cls], let schema = database.model.class(named: className) else {
            throw XapiError.uuidInvalid(class: cls, uuid: uuid)
        }
        let table = call.tables.message.table
        return .string(try database.write { s throws(XapiError) in
            guard (try? s.ref(uuid: uuid, in: schema.index)) != nil else { throw .uuidInvalid(class: cls, uuid: uuid) }
            return try s.create(table, [
                "name": name, "priority": priority, "cls": .string(cls), "obj_uuid": .string(uuid),
                "timestamp": .dateTime(.now()), "body": body,
            ])
        })
    }

    private static func destroy(_ refs: [String], _ call: Call) throws(XapiError) {
        let table = call.tables.message.table
        try call.database.write { s throws(XapiError) in
            for ref in refs { try s.delete(table, ref) }
        }
    }

    private static func records(_ call: Call, where predicate: (Structure) -> Bool) -> Value {
        let table = call.tables.message.table
        return call.database.read { s in
            var result = Structure()
            for (ref, row) in s.rows(table) {
                let record = s.record(of: row, table: table)
                if predicate(record) { result.append(ref, .structure(record)) }
            }
            return .structure(result)
        }
    }
}

extension Optional where Wrapped == Value {
    var dateValue: DateTime { self?.dateValue ?? .epoch }
}
