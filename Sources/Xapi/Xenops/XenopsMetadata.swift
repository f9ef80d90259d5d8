import XapiDB
import Xenops

/// What xapi pushes to xenopsd before a start or resume (xen-api ocaml/xapi/xapi_xenops.ml
/// `MD.of_vm`): the VM's configuration and its devices, read from the database.
enum XenopsMetadata {
    static func build(vm: String, in s: DatabaseState, tables t: Tables) throws(XapiError) -> VMMetadata {
        let uuid = try s.get(t.vm, vm, .uuid).stringValue ?? ""
        let platform = try s.get(t.vm, vm, .platform).stringMap
        let kind: VMConfig.DomainKind = switch try s.get(t.vm, vm, .domainType).stringValue {
        case "pv": .pv
        case "pvh": .pvh
        case "pv_in_pvh": .pvInPVH
        case "hvm": .hvm
        default: (try s.get(t.vm, vm, .hvmBootPolicy).stringValue ?? "").isEmpty ? .pv : .hvm
        }
        // While the API shuts the VM down, xenopsd must not apply `actions_after_shutdown`
        // (a `restart` would bring it straight back when the vanished domain is checked).
        let current = try s.get(t.vm, vm, .currentOperations).structureValue ?? Structure()
        let apiShutdown = current.members.contains { ["clean_shutdown", "hard_shutdown", "shutdown"].contains($0.value.stringValue ?? "") }
        let config = VMConfig(
            id: uuid,
            name: try s.get(t.vm, vm, .nameLabel).stringValue ?? "",
            kind: kind,
            memoryStaticMax: try s.get(t.vm, vm, .memoryStaticMax).intValue ?? (1 << 30),
            memoryDynamicMax: try s.get(t.vm, vm, .memoryDynamicMax).intValue,
            memoryDynamicMin: try s.get(t.vm, vm, .memoryDynamicMin).intValue,
            vcpuMax: Int(try s.get(t.vm, vm, .vcpusMax).intValue ?? 1),
            vcpus: Int(try s.get(t.vm, vm, .vcpusAtStartup).intValue ?? 1),
            onShutdown: apiShutdown ? [.shutdown] : actions(try s.get(t.vm, vm, .actionsAfterShutdown).stringValue),
            onReboot: actions(try s.get(t.vm, vm, .actionsAfterReboot).stringValue),
            onCrash: actions(try s.get(t.vm, vm, .actionsAfterCrash).stringValue),
            platformData: platform,
            xsData: try s.get(t.vm, vm, .xenstoreData).stringMap,
            biosStrings: try s.get(t.vm, vm, .biosStrings).stringMap,
            hasVendorDevice: try s.get(t.vm, vm, .hasVendorDevice).boolValue ?? false)

        var vbds: [VBDConfig] = []
        for vbd in try s.get(t.vm, vm, .vbds).refList where s.contains(t.vbd, vbd) {
            guard let config = try vbdConfig(vbd, vmUUID: uuid, hvm: kind == .hvm, in: s, tables: t) else { continue }
            vbds.append(config)
        }
        var vifs: [VIFConfig] = []
        for vif in try s.get(t.vm, vm, .vifs).refList where s.contains(t.vif, vif) {
            vifs.append(try vifConfig(vif, vmUUID: uuid, in: s, tables: t))
        }
        return VMMetadata(vm: config, vbds: vbds, vifs: vifs)
    }

    /// xapi's `actions_after_*` → xenopsd action lists (xapi_xenops.ml `on_normal_exit_behaviour`,
    /// `on_crash_behaviour`).
    static func actions(_ value: String?) -> [VMConfig.Action] {
        switch value {
        case "restart", "coredump_and_restart", "rename_restart": [.start]
        case "preserve": [.pause]
        case "soft_reboot": [.softreboot]
        default: [.shutdown]
        }
    }

    /// The xenopsd view of a VBD: device name from `userdevice`, backend from its VDI.
    static func vbdConfig(_ vbd: String, vmUUID: String, hvm: Bool, in s: DatabaseState, tables t: Tables) throws(XapiError) -> VBDConfig? {
        let position = Int(try s.get(t.vbd, vbd, .userdevice).stringValue ?? "") ?? 0
        let type = try s.get(t.vbd, vbd, .type).stringValue ?? "Disk"
        let empty = try s.get(t.vbd, vbd, .empty).boolValue ?? false
        return VBDConfig(
            id: DeviceID(vm: vmUUID, device: deviceName(position)),
            position: position,
            mode: try s.get(t.vbd, vbd, .mode) == .string("RO") ? .readOnly : .readWrite,
            backend: empty ? nil : try disk(of: s.get(t.vbd, vbd, .vdi).stringValue ?? nullRef, in: s, tables: t),
            kind: type == "CD" ? .cdrom : type == "Floppy" ? .floppy : .disk,
            unpluggable: try s.get(t.vbd, vbd, .unpluggable).boolValue ?? true)
    }

    static func vifConfig(_ vif: String, vmUUID: String, in s: DatabaseState, tables t: Tables) throws(XapiError) -> VIFConfig {
        let device = try s.get(t.vif, vif, .device).stringValue ?? "0"
        let network = try s.get(t.vif, vif, .network).stringValue ?? nullRef
        let bridge = s.contains(t.network, network) ? (try s.get(t.network, network, .bridge).stringValue ?? "") : ""
        return VIFConfig(
            id: DeviceID(vm: vmUUID, device: device),
            position: Int(device) ?? 0,
            mac: try s.get(t.vif, vif, .mac).stringValue ?? "",
            mtu: Int(try s.get(t.vif, vif, .mtu).intValue ?? 1500),
            bridge: bridge.isEmpty ? "xenbr0" : bridge,
            lockingMode: try lockingMode(vif, network: network, in: s, tables: t),
            ipv4: try ipConfiguration(vif, ipv6: false, in: s, tables: t),
            ipv6: try ipConfiguration(vif, ipv6: true, in: s, tables: t),
            otherConfig: try s.get(t.vif, vif, .otherConfig).stringMap)
    }

    /// xapi_xenops.ml `MD.of_vif`: the VIF's mode, or its network's default.
    static func lockingMode(_ vif: String, network: String, in s: DatabaseState, tables t: Tables) throws(XapiError) -> VIFConfig.LockingMode {
        var mode = try s.get(t.vif, vif, .lockingMode).stringValue ?? "network_default"
        if mode == "network_default" {
            mode = s.contains(t.network, network) ? (try s.get(t.network, network, .defaultLockingMode).stringValue ?? "unlocked") : "unlocked"
        }
        switch mode {
        case "locked":
            return .locked(ipv4: try s.get(t.vif, vif, .ipv4Allowed).stringList, ipv6: try s.get(t.vif, vif, .ipv6Allowed).stringList)
        case "disabled": return .disabled
        default: return .unlocked
        }
    }

    static func ipConfiguration(_ vif: String, ipv6: Bool, in s: DatabaseState, tables t: Tables) throws(XapiError) -> VIFConfig.IPConfiguration {
        let (mode, addresses, gateway): (VIFField, VIFField, VIFField) = ipv6
            ? (.ipv6ConfigurationMode, .ipv6Addresses, .ipv6Gateway) : (.ipv4ConfigurationMode, .ipv4Addresses, .ipv4Gateway)
        guard try s.get(t.vif, vif, mode).stringValue == "Static" else { return .unspecified }
        let via = try s.get(t.vif, vif, gateway).stringValue ?? ""
        return .static(addresses: try s.get(t.vif, vif, addresses).stringList, gateway: via.isEmpty ? nil : via)
    }

    /// `VDI "sr-uuid/location"`, as xapi names storage to xenopsd.
    static func disk(of vdi: String, in s: DatabaseState, tables t: Tables) throws(XapiError) -> Disk? {
        guard s.contains(t.vdi, vdi) else { return nil }
        let sr = try s.get(t.vdi, vdi, .sr).stringValue ?? nullRef
        let srUUID = s.contains(t.sr, sr) ? (try s.get(t.sr, sr, .uuid).stringValue ?? "") : ""
        return .vdi(srUUID + "/" + (try s.get(t.vdi, vdi, .location).stringValue ?? ""))
    }

    /// `xvda`, `xvdb`, … for userdevice 0, 1, …: xapi's default device names for HVM and PV.
    static func deviceName(_ position: Int) -> String {
        var n = position
        var name = ""
        repeat {
            name = String(UnicodeScalar(UInt8(97 + n % 26))) + name
            n = n / 26 - 1
        } while n >= 0
        return "xvd" + name
    }

    /// The userdevice of a Linux device name (`xvdc` → 2), the inverse of `deviceName`.
    static func position(of deviceName: String) -> Int? {
        guard deviceName.hasPrefix("xvd"), deviceName.count > 3 else { return nil }
        var n = 0
        for c in deviceName.dropFirst(3).unicodeScalars {
            guard c.value >= 97, c.value < 123 else { return nil }
            n = n * 26 + Int(c.value - 97) + 1
        }
        return n - 1
    }
}

extension Value {
    /// A `(string -> string) map` as a dictionary.
    var stringMap: [String: String] {
        guard case .structure(let s) = self else { return [:] }
        var map: [String: String] = [:]
        for member in s.members { map[member.key] = member.value.stringValue ?? "" }
        return map
    }

    /// A `string set` as its strings (as `refList` is for a set of refs).
    var stringList: [String] { refList }
}
