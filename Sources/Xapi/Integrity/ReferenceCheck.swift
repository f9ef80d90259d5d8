public import XapiDB

/// The invariant behind every destroy: no row names a row that is gone. xapi's database keeps
/// derived sets in step (`Db_cache_types.remove_row`) but leaves forward refs to the destroy
/// functions, and a few of those leave a reference stale on purpose; these are the fields where
/// that is xapi's behaviour, not ours to repair.
public enum ReferenceCheck {
    public static let allowedStale: Set<FieldPath> = [
        // A snapshot outlives the VM it was taken of: xen-api ocaml/xapi/xapi_vm_helpers.ml
        // `destroy` removes the VM's devices and metrics, not its snapshots, whose
        // `snapshot_of` keeps the old ref (XenCenter lists them as orphaned snapshots).
        FieldPath("VM", "snapshot_of"),
        // The same for disks: xen-api ocaml/xapi/xapi_vdi.ml `destroy_and_data_destroy_common`
        // leaves the VDI's snapshots and their `snapshot_of`.
        FieldPath("VDI", "snapshot_of"),
        // xen-api ocaml/xapi/xapi_vm_appliance.ml `destroy` is `Db.VM_appliance.destroy` alone:
        // the VMs of the appliance keep naming it.
        FieldPath("VM", "appliance"),
        // A subtask outlives its parent: xen-api ocaml/xapi/db_gc_util.ml `gc_subtask_list`
        // only drops gone subtasks from the parent's list, never the child's `subtask_of`.
        FieldPath("task", "subtask_of"),
    ]

    /// Every fault in `state` beyond the allowed stale fields.
    public static func faults(in state: DatabaseState) -> [IntegrityFault] {
        state.integrityFaults(allowingStale: allowedStale)
    }
}

extension XenAPI {
    /// `ReferenceCheck.faults` on the live database, read in one consistent cut.
    public func referenceFaults() -> [IntegrityFault] {
        database.read { ReferenceCheck.faults(in: $0) }
    }
}
