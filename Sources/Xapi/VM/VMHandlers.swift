import XapiDB

/// VM messages whose behaviour goes beyond the generated accessors. Power operations are
/// registered by the lifecycle layer that drives Xenops.
enum VMHandlers {

    /// xen-api ocaml/xapi/xapi_vm_helpers.ml `set_is_a_template`, with message_forwarding's
    /// `make_into_template` operation around `true`: a halted VM becoming a template loses its
    /// metrics and VUSBs; a template becoming a VM gets its install time (and, unlike in xapi,
    /// which only logs their absence, a metrics row to hold it). `allowed_operations` follow.
    static let setIsATemplate: Handler = { call in
        let t = call.tables
        let (vm, value) = (try call.string("self"), try call.bool("value"))
        if value {
            try await call.withVMOperation(vm, "make_into_template") {
                try call.database.write { s throws(XapiError) in
                    try s.deleteAllOwned(t.vm, vm, .vusbs)
                    try s.deleteOwned(t.vm, vm, .metrics)
                    try s.set(t.vm, vm, .metrics, .string(nullRef))
                    try s.set(t.vm, vm, .isATemplate, .bool(true))
                }
            }
            return .emptyString
        }
        try call.database.write { s throws(XapiError) in
            let metrics = try s.get(t.vm, vm, .metrics).stringValue ?? nullRef
            if s.contains(t.vmMetrics, metrics) {
                try s.set(t.vmMetrics, metrics, .installTime, .dateTime(.now()))
            } else {
                let created = try s.create(t.vmMetrics, [.installTime: .dateTime(.now()), .lastUpdated: .dateTime(.now())])
                try s.set(t.vm, vm, .metrics, .string(created))
            }
            try s.set(t.vm, vm, .isATemplate, .bool(false))
            VMOperations.refresh(vm: vm, in: &s, tables: t)
        }
        return .emptyString
    }

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
            try s.assertLiveReferences(t.vm.table, fields)
            try s.insert(t.vm, ref: ref, fields: fields)
            try VMMemory.updateOverhead(ref, in: &s, t)
            VMOperations.refresh(vm: ref, in: &s, tables: t)
        }
        return .string(ref)
    }

    /// xen-api ocaml/xapi/xapi_vm.ml `destroy` and xapi_vm_helpers.ml `destroy`: clones of the
    /// VM are rebased onto its own parent, it leaves its appliance, and it goes with its VBDs and
    /// VIFs (and their metrics), VGPUs, VTPMs, VUSBs, blobs, metrics and guest metrics; its VDIs
    /// and snapshots stay. Consoles go too: xapi leaves those of a destroyed VM to its garbage
    /// collector (db_gc_util.ml `gc_consoles`), which would leave them dangling meanwhile.
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
        let parent = try s.get(t.vm, vm, .parent)
        for child in try s.get(t.vm, vm, .children).refList where s.contains(t.vm, child) {
            try s.set(t.vm, child, .parent, parent)
        }
        try s.update(t.vm, vm, .appliance, .string(nullRef))
        for vbd in try s.get(t.vm, vm, .vbds).refList where s.contains(t.vbd, vbd) {
            try s.deleteOwned(t.vbd, vbd, .metrics)
            try s.delete(t.vbd, vbd)
        }
        for vif in try s.get(t.vm, vm, .vifs).refList where s.contains(t.vif, vif) {
            try s.deleteOwned(t.vif, vif, .metrics)
            try s.delete(t.vif, vif)
        }
        for owned in [VMField.vgpus, .consoles, .vtpms, .vusbs, .blobs] { try s.deleteAllOwned(t.vm, vm, owned) }
        for owned in [VMField.metrics, .guestMetrics] { try s.deleteOwned(t.vm, vm, owned) }
        try s.delete(t.vm, vm)
    }

    /// xen-api ocaml/xapi/xapi_vm_helpers.ml `copy_bios_strings`: a VM whose BIOS strings are
    /// not yet set takes the host's (XenCenter's New VM wizard, for OEM-licensed guests), and
    /// its affinity becomes that host.
    static let copyBiosStrings: Handler = { call in
        let t = call.tables
        let (vm, host) = (try call.string("vm"), try call.string("host"))
        try call.database.write { s throws(XapiError) in
            let current = try s.get(t.vm, vm, .biosStrings)
            let strings = try s.get(t.host, host, .biosStrings)
            guard current.structureValue?.isEmpty ?? true else { throw .vmBiosStringsAlreadySet }
            try s.set(t.vm, vm, .biosStrings, strings)
            try s.set(t.vm, vm, .affinity, .string(host))
        }
        return .emptyString
    }
}
