import XapiDB

extension VDIHandlers {
    /// `VDI.resize` (xen-api ocaml/xapi/xapi_vdi.ml `resize`): xapi's operation checks, then what
    /// the SR's driver does. The new size is rounded up to the driver's granularity and recorded
    /// with the SR's allocation in one write. (`VDI.resize_online` is removed from xapi's
    /// datamodel, so it answers `MESSAGE_REMOVED` like any removed message.)
    static let resize: Handler = { call in
        let t = call.tables
        let (vdi, size) = (try call.string("vdi"), try call.int("size"))
        try call.database.write { s throws(XapiError) in
            let sr = try s.get(t.vdi, vdi, .sr).stringValue ?? nullRef
            let driver = try assertResizable(vdi, sr: sr, in: s, t)
            let current = try s.get(t.vdi, vdi, .virtualSize).intValue ?? 0
            guard size >= current else {
                // What SM's VHD drivers answer (VDISize, error 79): disks only grow.
                throw .srBackendFailure(code: 79, message: "VDI Invalid size [opterr=shrinking not allowed]")
            }
            let newSize = driver.rounded(size)
            try SRSpace.assertRoom(for: newSize - current, in: sr, s, t)
            try s.update(t.vdi, vdi, .virtualSize, .int(newSize))
            try accountVirtualAllocation(sr, in: &s, t)
        }
        return .emptyString
    }

    /// xapi_vdi.ml `check_operation_error` for `resize`, in its order: another operation on the
    /// VDI, an SR without a plugged PBD, a VBD attached or busy, the driver's feature, a CBT
    /// metadata VDI.
    static func assertResizable(_ vdi: String, sr: String, in s: DatabaseState, _ t: Tables) throws(XapiError) -> StorageDriver {
        if let busy = try s.get(t.vdi, vdi, .currentOperations).structureValue?.members.first {
            throw .otherOperationInProgress(class: "VDI", ref: vdi, operation: busy.value.stringValue ?? "", task: busy.key)
        }
        let plugged = try s.get(t.sr, sr, .pbds).refList.contains { pbd in
            s.contains(t.pbd, pbd) && (try? s.get(t.pbd, pbd, .currentlyAttached)) == .bool(true)
        }
        guard plugged else { throw .srNoPBDs(sr: sr) }
        let vbds = try s.get(t.vdi, vdi, .vbds).refList.filter { s.contains(t.vbd, $0) }
        for vbd in vbds where try s.get(t.vbd, vbd, .currentlyAttached) == .bool(true) {
            throw .vdiInUse(vdi: vdi, operation: "resize")
        }
        for vbd in vbds {
            if let busy = try s.get(t.vbd, vbd, .currentOperations).structureValue?.members.first {
                throw .otherOperationInProgress(class: "VDI", ref: vdi, operation: busy.value.stringValue ?? "", task: busy.key)
            }
        }
        let type = try s.get(t.sr, sr, .type).stringValue ?? ""
        guard let driver = StorageDriver.named(type), driver.has("VDI_RESIZE") else {
            throw .srOperationNotSupported(sr: sr)
        }
        let vdiType = try s.get(t.vdi, vdi, .type).stringValue ?? ""
        if vdiType == "cbt_metadata" { throw .vdiIncompatibleType(vdi: vdi, type: vdiType) }
        return driver
    }
}

/// Room in an SR. The simulated SRs hold no bytes yet, so a driver provisions a disk's whole
/// virtual size: an SR never promises more than its physical size (`SR_FULL`, with the bytes
/// asked for and the bytes left).
enum SRSpace {
    static func assertRoom(for growth: Int64, in sr: String, _ s: DatabaseState, _ t: Tables) throws(XapiError) {
        guard growth > 0 else { return }
        let size = try s.get(t.sr, sr, .physicalSize).intValue ?? 0
        let allocated = try s.get(t.sr, sr, .virtualAllocation).intValue ?? 0
        let left = max(0, size - allocated)
        if growth > left { throw .srFull(requested: growth, maximum: left) }
    }
}
