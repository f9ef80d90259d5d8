import XapiDB

/// Which messages carry out each VM operation (`ImplementedOperations`). Most operations are the
/// message of the same name; the rest are named here (xen-api ocaml/idl/datamodel_vm.ml, the
/// `vm_operations` enum's descriptions).
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

    /// Operations whose messages all have an implementation, computed once.
    static let implemented = ImplementedOperations.of("VM", enum: "vm_operations", messages: messages)
}
