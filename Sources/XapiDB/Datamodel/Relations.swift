/// A relation between a field of one class and a set field of another, kept consistent by the
/// database (`VBD.VM` ↔ `VM.VBDs`). Relations whose classes or fields are absent from the
/// datamodel facts are skipped.
struct Relation: Sendable {
    struct End: Sendable {
        var className: String
        var field: String
    }

    var one: End
    var many: End

    init(_ oneClass: String, _ oneField: String, _ manyClass: String, _ manyField: String) {
        one = End(className: oneClass, field: oneField)
        many = End(className: manyClass, field: manyField)
    }

    /// xen-api ocaml/idl/datamodel.ml `all_relations`.
    static let xapi: [Relation] = [
        Relation("VM", "snapshot_of", "VM", "snapshots"),
        Relation("VDI", "snapshot_of", "VDI", "snapshots"),
        Relation("VM", "parent", "VM", "children"),
        Relation("task", "subtask_of", "task", "subtasks"),
        Relation("task", "session", "session", "tasks"),
        Relation("PIF", "bond_slave_of", "Bond", "slaves"),
        Relation("Bond", "master", "PIF", "bond_master_of"),
        Relation("VLAN", "tagged_PIF", "PIF", "VLAN_slave_of"),
        Relation("tunnel", "access_PIF", "PIF", "tunnel_access_PIF_of"),
        Relation("tunnel", "transport_PIF", "PIF", "tunnel_transport_PIF_of"),
        Relation("PBD", "host", "host", "PBDs"),
        Relation("PBD", "SR", "SR", "PBDs"),
        Relation("VBD", "VDI", "VDI", "VBDs"),
        Relation("crashdump", "VDI", "VDI", "crash_dumps"),
        Relation("VBD", "VM", "VM", "VBDs"),
        Relation("crashdump", "VM", "VM", "crash_dumps"),
        Relation("VIF", "VM", "VM", "VIFs"),
        Relation("VIF", "network", "network", "VIFs"),
        Relation("Cluster_host", "cluster", "Cluster", "cluster_hosts"),
        Relation("PIF", "host", "host", "PIFs"),
        Relation("PIF", "network", "network", "PIFs"),
        Relation("VDI", "SR", "SR", "VDIs"),
        Relation("VTPM", "VM", "VM", "VTPMs"),
        Relation("console", "VM", "VM", "consoles"),
        Relation("VM", "resident_on", "host", "resident_VMs"),
        Relation("host_cpu", "host", "host", "host_CPUs"),
        Relation("host_crashdump", "host", "host", "crashdumps"),
        Relation("host_patch", "host", "host", "patches"),
        Relation("host_patch", "pool_patch", "pool_patch", "host_patches"),
        Relation("host", "updates", "pool_update", "hosts"),
        Relation("VM", "protection_policy", "VMPP", "VMs"),
        Relation("VM", "snapshot_schedule", "VMSS", "VMs"),
        Relation("VM", "appliance", "VM_appliance", "VMs"),
        Relation("PGPU", "GPU_group", "GPU_group", "PGPUs"),
        Relation("VGPU", "GPU_group", "GPU_group", "VGPUs"),
        Relation("VGPU", "type", "VGPU_type", "VGPUs"),
        Relation("VGPU", "VM", "VM", "VGPUs"),
        Relation("VGPU", "resident_on", "PGPU", "resident_VGPUs"),
        Relation("PGPU", "supported_VGPU_types", "VGPU_type", "supported_on_PGPUs"),
        Relation("PGPU", "enabled_VGPU_types", "VGPU_type", "enabled_on_PGPUs"),
        Relation("GPU_group", "supported_VGPU_types", "VGPU_type", "supported_on_GPU_groups"),
        Relation("GPU_group", "enabled_VGPU_types", "VGPU_type", "enabled_on_GPU_groups"),
        Relation("PCI", "host", "host", "PCIs"),
        Relation("PGPU", "host", "host", "PGPUs"),
        Relation("PCI", "attached_VMs", "VM", "attached_PCIs"),
        Relation("PCI", "physical_function", "PCI", "virtual_functions"),
        Relation("VDI", "metadata_of_pool", "pool", "metadata_VDIs"),
        Relation("SR", "introduced_by", "DR_task", "introduced_SRs"),
        Relation("PVS_server", "site", "PVS_site", "servers"),
        Relation("PVS_proxy", "site", "PVS_site", "proxies"),
        Relation("PVS_cache_storage", "site", "PVS_site", "cache_storage"),
        Relation("PUSB", "host", "host", "PUSBs"),
        Relation("PUSB", "USB_group", "USB_group", "PUSBs"),
        Relation("VUSB", "USB_group", "USB_group", "VUSBs"),
        Relation("VUSB", "VM", "VM", "VUSBs"),
        Relation("Feature", "host", "host", "features"),
        Relation("network_sriov", "physical_PIF", "PIF", "sriov_physical_PIF_of"),
        Relation("network_sriov", "logical_PIF", "PIF", "sriov_logical_PIF_of"),
        Relation("Certificate", "host", "host", "certificates"),
    ]
}
