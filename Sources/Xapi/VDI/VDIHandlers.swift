import XapiDB

/// VDIs as database rows: created in an SR with room for them, copied and snapshotted as rows of
/// the same size, resized as their SR's driver allows, each counted in its SR's `virtual_allocation`.
enum VDIHandlers {
    static let table = ClassHandlers("VDI", [
        "create": create,
        "destroy": destroy,
        "resize": resize,
        "clone": { call in
            let vdi = try call.string("vdi")
            return .string(try call.database.write { s throws(XapiError) in try copyVDI(vdi, &s, call.tables, snapshot: false, sr: nil) })
        },
        "snapshot": { call in
            let vdi = try call.string("vdi")
            return .string(try call.database.write { s throws(XapiError) in try copyVDI(vdi, &s, call.tables, snapshot: true, sr: nil) })
        },
        "copy": { call in
            let (vdi, sr) = (try call.string("vdi"), try call.string("sr"))
            return .string(try call.database.write { s throws(XapiError) in
                try copyVDI(vdi, &s, call.tables, snapshot: false, sr: sr == nullRef ? nil : sr)
            })
        },
    ])

    /// A new VDI of the same size (in `sr`, or the source's SR); snapshots remember their source.
    static func copyVDI(_ vdi: String, _ s: inout DatabaseState, _ t: Tables, snapshot: Bool, sr: String?) throws(XapiError) -> String {
        let sourceSR = try s.get(t.vdi, vdi, .sr).stringValue ?? nullRef
        let targetSR = sr ?? sourceSR
        guard s.contains(t.sr, targetSR) else { throw .handleInvalid(class: "SR", ref: targetSR) }
        let copy = try VMCopies.copyRow(t.vdi, vdi, in: &s, changing: [
            .sr: .string(targetSR), .location: .string(Identifiers.uuid()), .currentOperations: .emptyStructure,
            .isASnapshot: .bool(snapshot), .snapshotOf: .string(snapshot ? vdi : nullRef),
            .snapshotTime: .dateTime(snapshot ? .now() : .epoch),
        ])
        try accountVirtualAllocation(targetSR, in: &s, t)
        return copy
    }

    /// `SR.virtual_allocation` is the sum of its VDIs' virtual sizes.
    static func accountVirtualAllocation(_ sr: String, in s: inout DatabaseState, _ t: Tables) throws(XapiError) {
        guard s.contains(t.sr, sr) else { return }
        var total: Int64 = 0
        for vdi in try s.get(t.sr, sr, .vdis).refList where s.contains(t.vdi, vdi) {
            total += try s.get(t.vdi, vdi, .virtualSize).intValue ?? 0
        }
        try s.update(t.sr, sr, .virtualAllocation, .int(total))
    }

    /// `VDI.create`: the SR must exist; the VDI gets a location and counts towards the SR.
    static let create: Handler = { call in
        let t = call.tables
        var fields = try ObjectAPI.constructorFields(t.vdi.table, record: try call.argument("args"), call: call)
        return .string(try call.database.write { s throws(XapiError) in
            let sr = fields[t.vdi[.sr]].stringValue ?? nullRef
            guard s.contains(t.sr, sr) else { throw .handleInvalid(class: "SR", ref: sr) }
            try SRSpace.assertRoom(for: fields[t.vdi[.virtualSize]].intValue ?? 0, in: sr, s, t)
            fields[t.vdi[.location]] = .string(Identifiers.uuid())
            fields[t.vdi[.managed]] = .bool(true)
            let ref = Identifiers.ref()
            try s.assertLiveReferences(t.vdi.table, fields)
            try s.insert(t.vdi, ref: ref, fields: fields)
            try accountVirtualAllocation(sr, in: &s, t)
            return ref
        })
    }

    static let destroy: Handler = { call in
        let vdi = try call.string("self")
        try call.database.write { s throws(XapiError) in try destroyVDI(vdi, in: &s, call.tables) }
        return .emptyString
    }

    /// xen-api ocaml/xapi/xapi_vdi.ml `destroy_and_data_destroy_common`: refused while a VBD
    /// has it attached (`VDI_IN_USE`); its VBDs go with it, and a VM it was the
    /// suspend image of no longer names it. Its snapshots stay, as in xapi.
    static func destroyVDI(_ vdi: String, in s: inout DatabaseState, _ t: Tables) throws(XapiError) {
        let vbds = try s.get(t.vdi, vdi, .vbds).refList.filter { s.contains(t.vbd, $0) }
        for vbd in vbds where try s.get(t.vbd, vbd, .currentlyAttached) == .bool(true) {
            throw .vdiInUse(vdi: vdi, operation: "destroy")
        }
        let sr = try s.get(t.vdi, vdi, .sr).stringValue ?? nullRef
        try s.delete(t.vdi, vdi)
        for vbd in vbds { try s.delete(t.vbd, vbd) }
        let suspendVDI = t.vm[.suspendVDI]
        for (vm, row) in s.rows(t.vm) where row.fields[suspendVDI] == .string(vdi) {
            try s.set(t.vm, vm, .suspendVDI, .string(nullRef))
        }
        try accountVirtualAllocation(sr, in: &s, t)
    }
}
