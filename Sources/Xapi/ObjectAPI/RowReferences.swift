import XapiDB

/// What keeps references whole on the way in and on the way out: a write may not store a ref to
/// a row that does not exist, and rows a destroyed row owns go with it. Both look the class up
/// through the datamodel's type of the field, so a field naming another class cannot check or
/// delete the wrong row.
extension DatabaseState {
    /// `HANDLE_INVALID` for the first ref in a new row's fields that names no live row of its
    /// class (`OpaqueRef:NULL` is always fine).
    func assertLiveReferences(_ table: Int, _ fields: [Value]) throws(XapiError) {
        for field in model.classes[table].fields { try assertLiveReferences(table, field: field.index, fields[field.index]) }
    }

    /// The same for one field's new value.
    func assertLiveReferences(_ table: Int, field: Int, _ value: Value) throws(XapiError) {
        if let (ref, className) = firstDanglingReference(in: value, of: model.classes[table].fields[field].type) {
            throw .handleInvalid(class: className, ref: ref)
        }
    }

    /// Deletes the row `field` of `ref` names, if there is one (`VBD.metrics` → `VBD_metrics`).
    mutating func deleteOwned<Name>(_ table: TableFields<Name>, _ ref: String, _ field: Name) throws(XapiError) {
        guard case .ref(let className) = schema(table).fields[table[field]].type,
              let owned = try get(table, ref, field).stringValue, owned != nullRef,
              let target = model.class(named: className), contains(target.index, owned)
        else { return }
        try delete(target.index, owned)
    }

    /// Deletes every live row a set field of `ref` names (`VM.VTPMs`), or a map field's values
    /// (`VM.blobs`).
    mutating func deleteAllOwned<Name>(_ table: TableFields<Name>, _ ref: String, _ field: Name) throws(XapiError) {
        let className: String
        switch schema(table).fields[table[field]].type {
        case .set(.ref(let name)), .map(_, .ref(let name)): className = name
        default: preconditionFailure("\(Name.className).\(field.rawValue) holds no refs")
        }
        guard let target = model.class(named: className) else { return }
        let value = try get(table, ref, field)
        let owned = value.structureValue.map { $0.members.compactMap(\.value.stringValue) } ?? value.refList
        for row in owned where contains(target.index, row) { try delete(target.index, row) }
    }

    /// What xapi's VBD and VIF constructors do first: the new row's refs name live rows, its VM
    /// exists, and the plug state it was given (`currently_attached`, a VBD's `device`) is kept
    /// only for a suspended VM, whose image has the device plugged. Returns the VM.
    func prepareDevice<Name>(_ fields: inout [Value], _ table: TableFields<Name>, vm vmField: Name,
                             resetUnlessSuspended resets: [(Name, Value)], tables t: Tables) throws(XapiError) -> String {
        try assertLiveReferences(table.table, fields)
        let vm = fields[table[vmField]].stringValue ?? nullRef
        _ = try row(t.vm, vm)
        if try get(t.vm, vm, .powerState) != .string("Suspended") {
            for (field, value) in resets { fields[table[field]] = value }
        }
        return vm
    }
}
