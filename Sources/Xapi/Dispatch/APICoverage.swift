public import XapiDB

/// Which messages this server carries out and which answer NOT_IMPLEMENTED, per class, from the
/// same tables it dispatches with (`scripts/api-coverage`). Messages xapi has removed answer
/// MESSAGE_REMOVED there as here and are counted apart.
public enum APICoverage {
    public struct ClassCoverage: Sendable {
        public let className: String
        public let implemented: [String]
        public let notImplemented: [String]
        public let removed: [String]
    }

    public static func compute(model: Datamodel = .xapi) -> [ClassCoverage] {
        guard let registry = try? HandlerRegistry(HandlerRegistry.tables, model: model) else { return [] }
        return model.classes.map { schema in
            var implemented: [String] = [], missing: [String] = [], removed: [String] = []
            for message in MethodTable.messages(of: schema) {
                if message.lifecycle == .removed {
                    removed.append(message.name)
                } else if registry.handlers[message.wireName] != nil || ObjectAPI.handler(for: message, model: model) != nil {
                    implemented.append(message.name)
                } else {
                    missing.append(message.name)
                }
            }
            return ClassCoverage(className: schema.name, implemented: implemented.sorted(),
                                 notImplemented: missing.sorted(), removed: removed.sorted())
        }
    }
}
