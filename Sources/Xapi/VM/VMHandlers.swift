import XapiDB

/// VM messages whose behaviour goes beyond the generated accessors. Power operations are
/// registered by the lifecycle layer that drives Xenops.
enum VMHandlers {

    /// xen-api ocaml/xapi/xapi_vm.ml `create`: a metrics row, no guest metrics, no domain,
    /// a `mac_seed`, Halted unless created Suspended, and fresh `allowed_operations`.
    static let create: Handler = { call in
        let t = call.tables
        var fields = try ObjectAPI.constructorFields(t.vm.table, record: try call.argument("args"), call: call)
        let ref = Identifiers.ref()
        try call.database.write { s throws(XapiError) in
            func set(_ name: VMField, _ value: Value) { fields[t.vm[name]] = value }
            let metrics = try s.create(t.vmMetrics, [.installTime: .dateTime(.now()), .lastUpdated: .dateTime(.now())])
            set(.metrics, .string(metrics))
            set(.guestMetrics, .string(nullRef))
            set(.domid, .int(-1))
            set(.residentOn, .string(nullRef))
            if fields[t.vm[.powerState]] != .string("Suspended") { set(.powerState, .string("Halted")) }
            var otherConfig = fields[t.vm[.otherConfig]].structureValue ?? Structure()
            if otherConfig["mac_seed"] == nil { otherConfig["mac_seed"] = .string(Identifiers.uuid()) }
            set(.otherConfig, .structure(otherConfig))
            try s.insert(t.vm, ref: ref, fields: fields)
            VMOperations.refresh(vm: ref, in: &s, tables: t)
        }
        return .string(ref)
    }

    /// xen-api ocaml/xapi/xapi_vm_helpers.ml `destroy`: the VM goes with its VBDs, VIFs, VGPUs,
    /// consoles and metrics; its VDIs stay.
    static let destroy: Handler = { call in
        let t = call.tables
        let vm = try call.string("self")
        try call.database.write { s throws(XapiError) in
            if let error = VMOperations.check("destroy", vm: vm, strict: false, in: s, tables: t) { throw error }
            try destroyVM(vm, in: &s, tables: t)
        }
        return .emptyString
    }

    static func destroyVM(_ vm: String, in s: inout DatabaseState, tables t: Tables) throws(XapiError) {
        for (table, field) in [(t.vbd.table, VMField.vbds), (t.vif.table, .vifs), (t.vgpu.table, .vgpus), (t.console.table, .consoles)] {
            for child in try s.get(t.vm, vm, field).refList where s.contains(table, child) {
                try s.delete(table, child)
            }
        }
        for (table, field) in [(t.vmMetrics.table, VMField.metrics), (t.vmGuestMetrics.table, .guestMetrics)] {
            if let ref = try s.get(t.vm, vm, field).stringValue, s.contains(table, ref) { try s.delete(table, ref) }
        }
        try s.delete(t.vm, vm)
    }
}
