import XapiDB

/// Every callable wire name: `Class.message` and its alias `Class_message` (Python calls
/// `event_from`), derived from the datamodel, plus `get_all_records_where` and `get_all_where`
/// beside each generated `get_all_records`, as xapi serves them.
struct MethodTable: Sendable {
    private let byName: [String: MessageSchema]
    /// Canonical names, for `system.listMethods`.
    let names: [String]

    init(model: Datamodel) {
        var byName: [String: MessageSchema] = [:]
        var names: [String] = []
        for schema in model.classes {
            var messages = schema.messages
            // The facts list `get_all_records` but not the filtered forms xapi generates beside it.
            if let all = schema.message("get_all_records"), all.isImplicit {
                let parameters = all.parameters + [MessageSchema.Parameter(name: "expr", type: .string)]
                if schema.message("get_all_records_where") == nil {
                    messages.append(MessageSchema(className: schema.name, name: "get_all_records_where", parameters: parameters,
                                                  result: all.result, isImplicit: true, isAsync: false, lifecycle: all.lifecycle))
                }
                if schema.message("get_all_where") == nil {
                    messages.append(MessageSchema(className: schema.name, name: "get_all_where", parameters: parameters,
                                                  result: .set(.ref(schema.name)), isImplicit: true, isAsync: false,
                                                  lifecycle: all.lifecycle))
                }
            }
            for message in messages {
                byName[message.wireName] = message
                byName["\(schema.name)_\(message.name)"] = message
                names.append(message.wireName)
            }
        }
        self.byName = byName
        self.names = names.sorted()
    }

    func lookup(_ name: String) -> MessageSchema? { byName[name] }
}
