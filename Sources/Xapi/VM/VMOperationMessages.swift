import XapiDB

/// Which messages carry out each VM operation, so that `allowed_operations` offers only what this
/// server implements: a script that checks the list first must not be told yes, then answered
/// NOT_IMPLEMENTED. Most operations are the message of the same name; the rest are named here
/// (xen-api ocaml/idl/datamodel_vm.ml, the `vm_operations` enum's descriptions).
enum VMOperationMessages {
    /// The messages of operations not named like one, and `[]` for those done over HTTP
    /// (`/export`, `/import`), which this server does not serve yet.
    static let messages: [String: [String]] = [
        "changing_dynamic_range": ["set_memory_dynamic_range"],
        "changing_static_range": ["set_memory_static_range"],
        "changing_memory_limits": ["set_memory_limits"],
        "changing_memory_live": ["set_memory_target_live"],
        "changing_shadow_memory": ["set_HVM_shadow_multiplier"],
        "changing_shadow_memory_live": ["set_shadow_multiplier_live"],
        "changing_VCPUs": ["set_VCPUs_max"],
        "changing_VCPUs_live": ["set_VCPUs_number_live"],
        "changing_NVRAM": ["set_NVRAM"],
        "make_into_template": ["set_is_a_template"],
        "create_vtpm": ["VTPM.create"],
        "export": [], "metadata_export": [], "import": [],
    ]

    /// Operations whose messages all have an implementation: a declared handler or a form the
    /// object API derives. Computed once, from the same tables the server dispatches with.
    static let implemented: Set<String> = {
        let model = Datamodel.xapi
        guard let registry = try? HandlerRegistry(HandlerRegistry.tables, model: model),
              let vm = model.class(named: "VM") else { return [] }
        func isImplemented(_ name: String) -> Bool {
            let (className, messageName) = name.contains(".")
                ? (String(name.prefix { $0 != "." }), String(name.drop { $0 != "." }.dropFirst())) : ("VM", name)
            guard let schema = model.class(named: className), let message = schema.message(messageName),
                  message.lifecycle != .removed else { return false }
            return registry.handlers["\(className).\(messageName)"] != nil || ObjectAPI.handler(for: message, model: model) != nil
        }
        var implemented: Set<String> = []
        for op in vm.enums["vm_operations"] ?? [] {
            let names = messages[op] ?? [op]
            if !names.isEmpty, names.allSatisfy(isImplemented) { implemented.insert(op) }
        }
        return implemented
    }()
}
