import XapiDB
import Xenops

/// Where a VM's next disk or network interface can go: xapi's ranges per device model, less the
/// positions its VBDs and VIFs already hold (xen-api ocaml/xapi/xapi_vm_helpers.ml
/// `allowed_VBD_devices`, `allowed_VIF_devices`). Ansible and XenCenter's New VM wizard ask for
/// these before every disk and interface they add.
enum DevicePositions {
    enum DiskKind { case disk, floppy }

    /// A VM whose domain has an emulated device model (qemu): HVM only (`Helpers.will_have_qemu`).
    static func willHaveQemu(_ vm: String, in s: DatabaseState, _ t: Tables) throws(XapiError) -> Bool {
        try s.get(t.vm, vm, .domainType) == .string("hvm")
    }

    /// Every device the VM's VBDs hold, each `device` and `userdevice` read every way it can be.
    static func usedDisks(_ vm: String, in s: DatabaseState, _ t: Tables) throws(XapiError) -> Set<DeviceNumber> {
        var used: Set<DeviceNumber> = []
        for vbd in try s.get(t.vm, vm, .vbds).refList where s.contains(t.vbd, vbd) {
            for field in [VBDField.device, .userdevice] {
                used.formUnion(DeviceNumber.interpretations(of: try s.get(t.vbd, vbd, field).stringValue ?? ""))
            }
        }
        return used
    }

    /// Free disk positions: floppies 0–1 on HVM only (nil on PV, which has none), disks 0–254
    /// (0–255 for the control domain). `used` is `usedDisks` when the caller has it already.
    static func freeDisks(_ vm: String, kind: DiskKind, used: Set<DeviceNumber>? = nil,
                          in s: DatabaseState, _ t: Tables) throws(XapiError) -> [DeviceNumber]? {
        let hvm = try willHaveQemu(vm, in: s, t)
        let candidates: [DeviceNumber]
        switch kind {
        case .floppy:
            guard hvm else { return nil }
            candidates = (0...1).map { DeviceNumber(bus: .floppy, disk: $0) }
        case .disk:
            let isControlDomain = try s.get(t.vm, vm, .isControlDomain) == .bool(true)
            let last = !hvm && isControlDomain ? 255 : 254
            candidates = (0...last).compactMap { DeviceNumber(diskNumber: $0, hvm: hvm) }
        }
        let taken: Set<DeviceNumber>
        if let used { taken = used } else { taken = try usedDisks(vm, in: s, t) }
        return candidates.filter { !taken.contains($0) }
    }

    /// Free VIF positions: 0–15 on every device model, less those the VM's VIFs hold.
    static func freeInterfaces(_ vm: String, in s: DatabaseState, _ t: Tables) throws(XapiError) -> [String] {
        var used: Set<String> = []
        for vif in try s.get(t.vm, vm, .vifs).refList where s.contains(t.vif, vif) {
            used.insert(try s.get(t.vif, vif, .device).stringValue ?? "")
        }
        return (0...15).map(String.init).filter { !used.contains($0) }
    }
}
