import XapiDB
import Xenops

extension VBDMessages {
    /// The VDI types a VBD may be made on (xapi_vbd.ml `create`).
    static let attachableVDITypes: Set<String> = ["system", "user", "ephemeral", "suspend", "crashdump", "metadata", "rrd", "pvs_cache"]

    /// xen-api ocaml/xapi/xapi_vbd.ml `create`, its checks in xapi's order: the VDI's type, CDs
    /// read-only, only CDs empty, no RW VBD on a read-only VDI, no VBD during a migration; then the
    /// device: `autodetect` resolved to the first free position, a position every reading of
    /// which is free (`DEVICE_ALREADY_EXISTS`). `device` and `currently_attached` are kept only
    /// for a suspended VM, whose image has the disk plugged.
    static let create: Handler = { call in
        let t = call.tables
        var fields = try ObjectAPI.constructorFields(t.vbd.table, record: try call.argument("args"), call: call)
        return .string(try call.database.write { s throws(XapiError) -> String in
            func field(_ name: VBDField) -> Value { fields[t.vbd[name]] }
            let vm = try s.prepareDevice(&fields, t.vbd, vm: .vm, resetUnlessSuspended: [(.device, .string("")), (.currentlyAttached, .bool(false))], tables: t)
            let (vdi, type, mode) = (field(.vdi).stringValue ?? nullRef, field(.type).stringValue ?? "", field(.mode).stringValue ?? "")
            let empty = field(.empty) == .bool(true)
            if !empty {
                let vdiType = try s.get(t.vdi, vdi, .type).stringValue ?? ""
                guard attachableVDITypes.contains(vdiType) else { throw .vdiIncompatibleType(vdi: vdi, type: vdiType) }
            }
            if type == "CD", mode != "RO" { throw .vbdCDsMustBeReadonly }
            if type != "CD", empty { throw .vbdNotRemovableMedia(vbd: "in constructor") }
            if mode == "RW", try s.get(t.vdi, vdi, .readOnly) == .bool(true) { throw .vdiReadonly(vdi: vdi) }
            for member in try s.get(t.vm, vm, .currentOperations).structureValue?.members ?? []
            where ["migrate_send", "pool_migrate"].contains(member.value.stringValue ?? "") {
                throw .otherOperationInProgress(class: "VM", ref: vm, operation: member.value.stringValue ?? "", task: member.key)
            }
            let isFloppy = type == "Floppy"
            let used = try DevicePositions.usedDisks(vm, in: s, t)
            guard let free = try DevicePositions.freeDisks(vm, kind: isFloppy ? .floppy : .disk, used: used, in: s, t) else {
                throw .notImplemented("VBD of type 'floppy' is not supported on PV domain")
            }
            var userdevice = field(.userdevice).stringValue ?? ""
            guard isValidUserdevice(userdevice, floppy: isFloppy) else { throw .invalidDevice(userdevice) }
            if userdevice == "autodetect" {
                guard let first = free.first else { throw .invalidDevice(userdevice) }
                userdevice = isFloppy ? first.linuxName : String(first.disk)
                fields[t.vbd[.userdevice]] = .string(userdevice)
            }
            if DeviceNumber.interpretations(of: userdevice).contains(where: used.contains) {
                throw .deviceAlreadyExists(device: userdevice)
            }
            // The SM driver may name the backend a VBD of this VDI needs (xapi's `vbd_backend_key`).
            if !empty, let kind = try s.get(t.vdi, vdi, .smConfig).structureValue?["backend-kind"] {
                var otherConfig = field(.otherConfig).structureValue ?? Structure()
                otherConfig["backend-kind"] = kind
                fields[t.vbd[.otherConfig]] = .structure(otherConfig)
            }
            let ref = Identifiers.ref()
            try s.insert(t.vbd, ref: ref, fields: fields)
            DeviceOperations.refreshVBD(ref, in: &s, tables: t)
            return ref
        })
    }

    /// xapi_vbd_helpers.ml `valid_device`: `autodetect`, a device name, or (not for floppies) any
    /// integer; xapi's range test there (`n >= 0 || n < 16`) holds for every integer.
    static func isValidUserdevice(_ userdevice: String, floppy: Bool) -> Bool {
        userdevice == "autodetect" || DeviceNumber(userdevice: userdevice, hvm: false) != nil || (!floppy && Int(userdevice) != nil)
    }
}
