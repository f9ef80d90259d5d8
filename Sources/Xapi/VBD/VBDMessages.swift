import XapiDB

/// VBD hot-plug through Xenops (`DeviceLifecycle`): foreground work from arrival to barrier.
enum VBDMessages {
    static let table = ClassHandlers("VBD", foreground: ["eject", "insert", "plug", "unplug", "unplug_force"], [
        "plug": { call in try await DeviceLifecycle.plugVBD(call) },
        "unplug": { call in try await DeviceLifecycle.unplugVBD(call, force: false) },
        "unplug_force": { call in try await DeviceLifecycle.unplugVBD(call, force: true) },
        "insert": { call in try await DeviceLifecycle.insert(call) },
        "eject": { call in try await DeviceLifecycle.eject(call) },
        "create": create,
        "destroy": destroy,
    ])

    /// xen-api ocaml/xapi/xapi_vbd_helpers.ml `destroy`: refused while attached ("Force the user
    /// to unplug first"; xapi also refuses while `reserved` for a start in progress, an internal
    /// field a start here never sets); the VBD's metrics go with it.
    static let destroy: Handler = { call in
        let t = call.tables
        let vbd = try call.string("self")
        try call.database.write { s throws(XapiError) in
            if try s.get(t.vbd, vbd, .currentlyAttached) == .bool(true) {
                let vm = try s.get(t.vbd, vbd, .vm).stringValue ?? nullRef
                let vmUUID = s.contains(t.vm, vm) ? try s.get(t.vm, vm, .uuid).stringValue ?? "" : ""
                let uuid = try s.get(t.vbd, vbd, .uuid).stringValue ?? ""
                throw .operationNotAllowed("VBD '\(uuid)' still attached to '\(vmUUID)'")
            }
            try s.deleteOwned(t.vbd, vbd, .metrics)
            try s.delete(t.vbd, vbd)
        }
        return .emptyString
    }
}
