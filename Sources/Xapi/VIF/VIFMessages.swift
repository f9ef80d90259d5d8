import XapiDB

/// VIF hot-plug through Xenops (`DeviceLifecycle`): foreground work from arrival to barrier.
enum VIFMessages {
    static let table = ClassHandlers("VIF", foreground: ["plug", "unplug", "unplug_force"], [
        "plug": { call in try await DeviceLifecycle.plugVIF(call) },
        "unplug": { call in try await DeviceLifecycle.unplugVIF(call, force: false) },
        "unplug_force": { call in try await DeviceLifecycle.unplugVIF(call, force: true) },
        "create": create,
        "destroy": destroy,
    ])

    /// xen-api ocaml/xapi/xapi_vif_helpers.ml `destroy`: refused while attached to a VM that has
    /// a domain (`Helpers.is_running`: a domid other than -1); the VIF's metrics go with it.
    static let destroy: Handler = { call in
        let t = call.tables
        let vif = try call.string("self")
        try call.database.write { s throws(XapiError) in
            let vm = try s.get(t.vif, vif, .vm).stringValue ?? nullRef
            let domid = s.contains(t.vm, vm) ? try s.get(t.vm, vm, .domid) : .int(-1)
            if domid != .int(-1), try s.get(t.vif, vif, .currentlyAttached) == .bool(true) {
                throw .operationNotAllowed("VIF currently attached to a running VM")
            }
            try s.deleteOwned(t.vif, vif, .metrics)
            try s.delete(t.vif, vif)
        }
        return .emptyString
    }
}
