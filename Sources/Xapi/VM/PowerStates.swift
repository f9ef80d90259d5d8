import XapiDB

/// xen-api ocaml/xapi/xapi_vm_lifecycle.ml `force_state_reset_keep_current_operations`: what
/// reaching a power state implies for the rest of the database.
enum PowerStates {
    static func forceReset(_ vm: String, to state: String, in s: inout DatabaseState, tables t: Tables) throws(XapiError) {
        try s.update(t.vm, vm, .powerState, .string(state))
        if state == "Halted" {
            for vbd in try s.get(t.vm, vm, .vbds).refList where s.contains(t.vbd, vbd) {
                try s.update(t.vbd, vbd, .currentlyAttached, .bool(false))
                try s.update(t.vbd, vbd, .currentOperations, .emptyStructure)
                DeviceOperations.refreshVBD(vbd, in: &s, tables: t)
            }
            for vif in try s.get(t.vm, vm, .vifs).refList where s.contains(t.vif, vif) {
                try s.update(t.vif, vif, .currentlyAttached, .bool(false))
                try s.update(t.vif, vif, .currentOperations, .emptyStructure)
                DeviceOperations.refreshVIF(vif, in: &s, tables: t)
            }
            for vgpu in try s.get(t.vm, vm, .vgpus).refList where s.contains(t.vgpu, vgpu) {
                try s.update(t.vgpu, vgpu, .currentlyAttached, .bool(false))
            }
            try s.update(t.vm, vm, .requiresReboot, .bool(false))
            // A halted VM has no domain, so no consoles.
            for console in try s.get(t.vm, vm, .consoles).refList where s.contains(t.console, console) {
                try s.delete(t.console, console)
            }
        }
        if state == "Halted" || state == "Suspended" {
            try s.update(t.vm, vm, .residentOn, .string(nullRef))
            try s.update(t.vm, vm, .scheduledToBeResidentOn, .string(nullRef))
            try s.update(t.vm, vm, .domid, .int(-1))
            for vgpu in try s.get(t.vm, vm, .vgpus).refList where s.contains(t.vgpu, vgpu) {
                try s.update(t.vgpu, vgpu, .residentOn, .string(nullRef))
                try s.update(t.vgpu, vgpu, .scheduledToBeResidentOn, .string(nullRef))
            }
            try s.update(t.vm, vm, .attachedPCIs, .emptyArray)
        }
        if let guestMetrics = try s.get(t.vm, vm, .guestMetrics).stringValue, s.contains(t.vmGuestMetrics, guestMetrics),
           state == "Halted" || state == "Suspended" {
            try s.update(t.vmGuestMetrics, guestMetrics, .live, .bool(false))
        }
        VMOperations.refresh(vm: vm, in: &s, tables: t)
    }
}

/// `allowed_operations` of VBDs and VIFs (xen-api xapi_vbd_helpers.ml / xapi_vif_helpers.ml,
/// simplified to the power-state rules that decide them).
enum DeviceOperations {
    static func refreshVBD(_ vbd: String, in s: inout DatabaseState, tables t: Tables) {
        guard let vm = try? s.get(t.vbd, vbd, .vm).stringValue, s.contains(t.vm, vm) else { return }
        let power = (try? s.get(t.vm, vm, .powerState).stringValue) ?? "Halted"
        let attached = (try? s.get(t.vbd, vbd, .currentlyAttached).boolValue) ?? false
        let isCD = (try? s.get(t.vbd, vbd, .type).stringValue) == "CD"
        let empty = (try? s.get(t.vbd, vbd, .empty).boolValue) ?? false
        var ops: [String] = []
        switch power {
        case "Running":
            ops += attached ? ["unplug", "unplug_force"] : ["plug"]
            if isCD && attached { ops += [empty ? "insert" : "eject"] }
        case "Halted":
            ops += ["attach"]
            if isCD { ops += [empty ? "insert" : "eject"] }
        default:
            break
        }
        try? s.update(t.vbd, vbd, .allowedOperations, .array(ops.map(Value.string)))
    }

    static func refreshVIF(_ vif: String, in s: inout DatabaseState, tables t: Tables) {
        guard let vm = try? s.get(t.vif, vif, .vm).stringValue, s.contains(t.vm, vm) else { return }
        let power = (try? s.get(t.vm, vm, .powerState).stringValue) ?? "Halted"
        let attached = (try? s.get(t.vif, vif, .currentlyAttached).boolValue) ?? false
        let ops: [String] = switch power {
        case "Running": attached ? ["unplug"] : ["plug"]
        case "Halted": ["attach"]
        default: []
        }
        try? s.update(t.vif, vif, .allowedOperations, .array(ops.map(Value.string)))
    }
}
