/// Parameter defaults are not part of the datamodel facts file; these come from the
/// `param_default` entries of xen-api ocaml/idl/datamodel*.ml. A message with defaulted
/// parameters accepts any tail of them being omitted (and ignores extra trailing parameters).
enum ParameterDefaults {
    private static let table: [String: Value] = [
        "session.login_with_password.version": .string("1.1"),
        "session.login_with_password.originator": .string(""),
        "VM.snapshot.ignore_vdis": .array([]),
        "VM.migrate_send.vgpu_map": .structure(Structure()),
        "VM.migrate_send.vdi_format_map": .structure(Structure()),
        "VM.assert_can_migrate.vgpu_map": .structure(Structure()),
        "VM.create_new_blob.public": .bool(false),
        "host.evacuate.network": .string(nullRef),
        "host.evacuate.evacuate_batch_size": .int(0),
        "host.disable.auto_enable": .bool(true),
        "host.create_new_blob.public": .bool(false),
        "host.apply_edition.force": .bool(false),
        "host.emergency_ha_disable.soft": .bool(false),
        "pool.create_new_blob.public": .bool(false),
        "network.create_new_blob.public": .bool(false),
        "SR.create_new_blob.public": .bool(false),
        "SR.create.sm_config": .structure(Structure()),
        "VDI.snapshot.driver_params": .structure(Structure()),
        "VDI.clone.driver_params": .structure(Structure()),
        "VGPU.create.device": .string("0"),
        "VGPU.create.other_config": .structure(Structure()),
        "VGPU.create.type": .string(nullRef),
        "blob.create.public": .bool(false),
    ]

    static func value(className: String, message: String, parameter: String) -> Value? {
        table["\(className).\(message).\(parameter)"]
    }
}
