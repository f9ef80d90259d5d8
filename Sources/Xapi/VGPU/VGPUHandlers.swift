import XapiDB

/// Virtual GPUs: rows a VM carries into its start, where xenopsd would place them on a
/// physical GPU of the group.
enum VGPUHandlers {
    static let table = ClassHandlers("VGPU", [
        "create": create,
        "destroy": destroy,
    ])

    /// `VGPU.create(VM, GPU_group, device, other_config, type)`: a virtual GPU for a VM, placed
    /// on a physical GPU of the group when the VM starts.
    static let create: Handler = { call in
        let t = call.tables
        let (vm, group, type) = (try call.string("VM"), try call.string("GPU_group"), try call.string("type"))
        let (device, otherConfig) = (try call.argument("device"), try call.argument("other_config"))
        return .string(try call.database.write { s throws(XapiError) in
            let groups = s.table("GPU_group")
            guard s.contains(t.vm, vm) else { throw .handleInvalid(class: "VM", ref: vm) }
            guard s.contains(groups, group) else { throw .handleInvalid(class: "GPU_group", ref: group) }
            if type != nullRef, !s.contains(s.table("VGPU_type"), type) { throw .handleInvalid(class: "VGPU_type", ref: type) }
            let vgpu = try s.create(t.vgpu, [.vm: .string(vm), .gpuGroup: .string(group), .device: device,
                                             .otherConfig: otherConfig, .type: .string(type)])
            // A VM with a virtual GPU cannot suspend or migrate (message_forwarding.ml `VGPU.create`).
            VMOperations.refresh(vm: vm, in: &s, tables: t)
            return vgpu
        })
    }

    /// xen-api ocaml/xapi/xapi_vgpu.ml `destroy`: refused while the VM has a domain
    /// (`Helpers.is_running`); the VM's allowed operations are recomputed after
    /// (message_forwarding.ml `VGPU.destroy`).
    static let destroy: Handler = { call in
        let t = call.tables
        let vgpu = try call.string("self")
        try call.database.write { s throws(XapiError) in
            let vm = try s.get(t.vgpu, vgpu, .vm).stringValue ?? nullRef
            if s.contains(t.vm, vm), try s.get(t.vm, vm, .domid) != .int(-1) {
                throw .operationNotAllowed("vGPU currently attached to a running VM")
            }
            try s.delete(t.vgpu, vgpu)
            VMOperations.refresh(vm: vm, in: &s, tables: t)
        }
        return .emptyString
    }
}
