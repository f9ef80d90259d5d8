import XapiDB

/// VM snapshot schedules.
enum VMSSHandlers {
    static let table = ClassHandlers("VMSS", [
        "destroy": destroy,
    ])

    /// xen-api ocaml/xapi/xapi_vmss.ml `destroy`: refused while a VM follows the schedule
    /// (`VMSS_HAS_VM`); the messages about it go with it.
    static let destroy: Handler = { call in
        let t = call.tables
        let vmss = try call.string("self")
        try call.database.write { s throws(XapiError) in
            guard try s.get(t.vmss, vmss, .vms).refList.isEmpty else { throw .vmssHasVM }
            let uuid = try s.get(t.vmss, vmss, .uuid)
            let objUUID = t.message[.objUUID]
            for (message, row) in s.rows(t.message) where row.fields[objUUID] == uuid { try s.delete(t.message, message) }
            try s.delete(t.vmss, vmss)
        }
        return .emptyString
    }
}
