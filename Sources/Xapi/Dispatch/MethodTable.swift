import XapiDB

/// Every callable wire name: `Class.message` and its alias `Class_message` (Python calls
/// `event_from`), derived from the datamodel, plus `get_all_records_where` and `get_all_where`
/// beside each generated `get_all_records`, as xapi serves them.
struct MethodTable: Sendable {
    /// A message with what dispatch needs worked out once, so that a call costs one dictionary
    /// lookup rather than string building, filtering and handler derivation every time.
    struct Method: Sendable {
        let message: MessageSchema
        let takesSession: Bool
        /// The parameters after the session.
        let arguments: [MessageSchema.Parameter]
        /// How many of `arguments` have no default.
        let required: Int
        /// nil when the server does not implement the message (NOT_IMPLEMENTED, raised only
        /// after the arguments and the session have been checked, as xapi does).
        let handler: Handler?

        init(_ message: MessageSchema, handler: Handler?) {
            self.message = message
            takesSession = message.takesSession
            arguments = Array(message.callParameters)
            required = arguments.filter { $0.defaultValue == nil }.count
            self.handler = handler
        }
    }

    private let byName: [String: Method]
    /// Canonical names, for `system.listMethods`.
    let names: [String]

    /// - Parameter handler: the implementation of a message, or nil.
    init(model: Datamodel, handler: (MessageSchema) -> Handler?) {
        var byName: [String: Method] = [:]
        var names: [String] = []
        for schema in model.classes {
            let messages = Self.messages(of: schema)
            for message in messages {
                let method = Method(message, handler: handler(message))
                byName[message.wireName] = method
                byName["\(schema.name)_\(message.name)"] = method
                names.append(message.wireName)
            }
        }
        self.byName = byName
        self.names = names.sorted()
    }

    func lookup(_ name: String) -> Method? { byName[name] }

    /// A class's messages as served: the datamodel's, plus the filtered forms xapi generates
    /// beside `get_all_records` (the facts do not list them).
    static func messages(of schema: ClassSchema) -> [MessageSchema] {
        var messages = schema.messages
        if let all = schema.message("get_all_records"), all.isImplicit {
            let parameters = all.parameters + [MessageSchema.Parameter(name: "expr", type: .string)]
            if schema.message("get_all_records_where") == nil {
                messages.append(MessageSchema(className: schema.name, name: "get_all_records_where", parameters: parameters,
                                              result: all.result, isImplicit: true, isAsync: false, lifecycle: all.lifecycle,
                                              roles: all.roles))
            }
            if schema.message("get_all_where") == nil {
                messages.append(MessageSchema(className: schema.name, name: "get_all_where", parameters: parameters,
                                              result: .set(.ref(schema.name)), isImplicit: true, isAsync: false,
                                              lifecycle: all.lifecycle, roles: all.roles))
            }
        }
        return messages
    }
}
