import XapiDB

/// Which values of a class's operations enum this server carries out, so that its
/// `allowed_operations` offers only what is implemented: a script that checks the list first must
/// not be told yes, then answered NOT_IMPLEMENTED. An operation is implemented when every message
/// that carries it out has a handler, declared or derived by the object API.
enum ImplementedOperations {
    /// `messages` names the messages of operations not named like one (`Class.message` for
    /// another class's), `[]` for operations done over HTTP, which count as not implemented.
    static func of(_ className: String, enum enumName: String, messages: [String: [String]]) -> Set<String> {
        let model = Datamodel.xapi
        guard let registry = try? HandlerRegistry(HandlerRegistry.tables, model: model),
              let schema = model.class(named: className) else { return [] }
        func isImplemented(_ name: String) -> Bool {
            let (owner, messageName) = name.contains(".")
                ? (String(name.prefix { $0 != "." }), String(name.drop { $0 != "." }.dropFirst())) : (className, name)
            guard let ownerSchema = model.class(named: owner), let message = ownerSchema.message(messageName),
                  message.lifecycle != .removed else { return false }
            return registry.handlers["\(owner).\(messageName)"] != nil || ObjectAPI.handler(for: message, model: model) != nil
        }
        var implemented: Set<String> = []
        for op in schema.enums[enumName] ?? [] {
            let names = messages[op] ?? [op]
            if !names.isEmpty, names.allSatisfy(isImplemented) { implemented.insert(op) }
        }
        return implemented
    }
}
