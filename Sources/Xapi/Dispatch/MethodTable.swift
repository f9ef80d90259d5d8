import XapiDB

/// Every callable wire name: `Class.message` and its alias `Class_message` (Python calls
/// `event_from`), derived from the datamodel, plus `get_all_where` beside each
/// `get_all_records_where` as xapi serves it.
struct MethodTable: Sendable {
    private let byName: [String: MessageSchema]
    /// Canonical names, for `system.listMethods`.
    let names: [String]

    init(model: Datamodel) {
        var byName: [String: MessageSchema] = [:]
        var names: [String] = []
        for schema in model.classes {
            var messages = schema.messages
            if let whereMessage = schema.message("get_all_records_where"), whereMessage.isImplicit,
               schema.message("get_all_where") == nil {
                messages.append(MessageSchema(className: schema.name, name: "get_all_where",
                                              parameters: whereMessage.parameters, result: .set(.ref(schema.name)),
                                              isImplicit: true, isAsync: false))
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
