import Logging
import Xenstore

/// Where one device lives in xenstore (ocaml/xenopsd/xc/device_common.ml, `backend_path`/`frontend_path`).
struct DeviceLocation: Sendable, Hashable {
    let kind: String
    let frontendDomid: UInt32
    let devid: Int
    let vm: String

    var frontend: String { "/local/domain/\(frontendDomid)/device/\(kind)/\(devid)" }
    /// dom0-only mirror a guest cannot delete; xenopsd lists devices from it.
    var mirror: String { "/xenops/domain/\(frontendDomid)/device/\(kind)/\(devid)" }
    var backend: String { "/local/domain/0/backend/\(kind)/\(frontendDomid)/\(devid)" }
    var hotplugDirectory: String { "/xapi/\(vm)/hotplug/\(frontendDomid)/\(kind)/\(devid)" }
    var privateData: String { "/xapi/\(vm)/private/\(kind)/\(devid)" }
    var extraXenserver: String { "/local/domain/\(frontendDomid)/xenserver/device/\(kind)/\(devid)" }
    /// What the hotplug script writes when the device is up and removes when it is down.
    var hotplugNode: String { kind == "vif" ? "\(hotplugDirectory)/hotplug" : "\(backend)/hotplug-status" }
    var hotplugError: String { "\(backend)/hotplug-error" }
}

/// A device with a split driver: a frontend in the guest's tree and a backend in dom0's, at a
/// devid of its own.
protocol SplitDriverDevice: DeviceConfig {
    /// The key under `device/<kind>/` (51712 for xvda; a VIF's position).
    var devid: Int { get }
}

extension VBDConfig: SplitDriverDevice {}

extension VIFConfig: SplitDriverDevice {
    var devid: Int { position }
}

extension DomainBackend {
    /// Where xenopsd keeps a device's `active` flag, which outlives the domain.
    static func activePath(_ vm: String, _ device: some DeviceConfig) -> String {
        "/vm/\(vm)/devices/\(type(of: device).kind.xenstoreName)/\(device.id.device)"
    }

    func location<Device: SplitDriverDevice>(_ vm: VMConfig, _ device: Device) -> DeviceLocation? {
        guard let domain = domain(of: vm.id) else { return nil }
        return DeviceLocation(kind: Device.kind.xenstoreName, frontendDomid: domain.domid, devid: device.devid, vm: vm.id)
    }

    /// The device's location while it exists in the domain.
    private func presentLocation(_ vm: VMConfig, _ device: some SplitDriverDevice) -> DeviceLocation? {
        location(vm, device).flatMap { isPresent($0) ? $0 : nil }
    }

    /// The device exists in the domain (xenopsd finds devices through the dom0 mirror).
    func isPresent(_ location: DeviceLocation) -> Bool {
        (try? xs.exists("\(location.mirror)/backend")) ?? false
    }

    /// xenopsd's `Generic.add_device`: frontend, mirror, backend, private data in one
    /// transaction, every `state` at Initialising; then wait for the hotplug script.
    private func addDevice(_ location: DeviceLocation, frontend: [(String, String)], backend: [(String, String)],
                           privateKeys: [(String, String)], extraXenserverKeys: [(String, String)] = [],
                           task: TaskHandle) async throws(XenopsError) {
        let fe = location.frontendDomid
        do {
            try xs.transaction { tx in
                if try tx.exists(location.mirror) { throw XenopsError.deviceIsConnected }
                // Clear leftovers; a path whose parent is absent is already clear.
                for path in [location.frontend, location.mirror, location.backend] { try? tx.rm(path) }
                try tx.mkdir(location.frontend)
                try tx.setPermissions(location.frontend, [.init(.none, fe), .init(.read, 0)])
                try tx.mkdir(location.mirror)
                try tx.setPermissions(location.mirror, Self.dom0Only)
                try tx.mkdir(location.backend)
                try tx.setPermissions(location.backend, [.init(.none, 0), .init(.read, fe)])
                try tx.mkdir(location.hotplugDirectory)
                try tx.setPermissions(location.hotplugDirectory, Self.dom0Only)
                try tx.write("\(location.frontend)/backend", location.backend)
                for (key, value) in frontend { try tx.write("\(location.frontend)/\(key)", value) }
                try tx.write("\(location.mirror)/backend", location.backend)
                try tx.write("\(location.backend)/frontend", location.frontend)
                for (key, value) in backend { try tx.write("\(location.backend)/\(key)", value) }
                try tx.mkdir(location.privateData)
                try tx.setPermissions(location.privateData, Self.dom0Only)
                try tx.write("\(location.privateData)/backend-kind", location.kind)
                try tx.write("\(location.privateData)/backend-id", "0")
                for (key, value) in privateKeys { try tx.write("\(location.privateData)/\(key)", value) }
                try tx.mkdir(location.extraXenserver)
                try tx.setPermissions(location.extraXenserver, Self.readWrite(for: fe))
                for (key, value) in extraXenserverKeys { try tx.write("\(location.extraXenserver)/\(key)", value) }
            }
        } catch let error as XenopsError {
            throw error
        } catch {
            throw .internalError("xenstore add device \(location.backend): \(error)")
        }
        let xs = self.xs
        let up = try await waiter.wait(on: location.kind == "vif" ? location.hotplugNode : location.backend,
                                       timeout: configuration.hotplugTimeout, task: task) {
            ((try? xs.exists(location.hotplugNode)) ?? false) || ((try? xs.exists(location.hotplugError)) ?? false)
        }
        guard up else { throw .internalError("Device_timeout: hotplug script did not add \(location.backend)") }
        if let error = try? xs.read(location.hotplugError) {
            throw .internalError("hotplug script failed for \(location.backend): \(error)")
        }
    }

    /// Clean unplug asks the frontend to close (backend `online=0`, `state=5`) and waits for it;
    /// forced unplug removes the frontend at once. Both then wait for the hotplug script's
    /// "remove" and delete the trees. An absent device is already unplugged.
    private func removeDevice(_ location: DeviceLocation, force: Bool, task: TaskHandle) async throws(XenopsError) {
        guard (try? xs.exists(location.backend)) == true else { return }
        let xs = self.xs
        let timeout = configuration.hotplugTimeout
        if force {
            try? xs.write("\(location.backend)/online", "0")
            try? xs.rm(location.frontend)
        } else {
            do {
                try xs.transaction { tx in
                    try tx.write("\(location.backend)/online", "0")
                    let state = (try? tx.read("\(location.backend)/state")) ?? "6"
                    if state != "6" { try tx.write("\(location.backend)/state", "5") }
                }
            } catch {
                throw .internalError("xenstore unplug \(location.backend): \(error)")
            }
            let closed = try await waiter.wait(on: "\(location.frontend)/state", timeout: timeout, task: task) {
                let state = try? xs.read("\(location.frontend)/state")
                return state == nil || state == "6" || !((try? xs.exists(location.hotplugNode)) ?? false)
            }
            guard closed else { throw .internalError("Device_timeout: frontend did not close \(location.frontend)") }
            try? xs.rm(location.frontend)
            try? xs.rm(location.mirror)
        }
        let gone = try await waiter.wait(on: location.hotplugNode, timeout: timeout, task: task) {
            !((try? xs.exists(location.hotplugNode)) ?? false)
        }
        guard gone else { throw .internalError("Device_timeout: hotplug script did not remove \(location.backend)") }
        for path in [location.mirror, location.frontend, location.backend, location.extraXenserver] { try? xs.rm(path) }
    }

    func setActive(_ vm: VMConfig, _ device: some DeviceConfig, _ active: Bool) {
        let path = Self.activePath(vm.id, device)
        if active { try? xs.write(path, "1") } else { try? xs.rm(path) }
    }

    private func isActive(_ vm: VMConfig, _ device: some DeviceConfig) -> Bool {
        (try? xs.read(Self.activePath(vm.id, device))) == "1"
    }

    func unplug(_ vm: VMConfig, _ device: some SplitDriverDevice, force: Bool, task: TaskHandle) async throws(XenopsError) {
        guard let location = location(vm, device) else { return }
        try await removeDevice(location, force: force, task: task)
    }

    /// A present device whose hotplug node vanished needs unplugging.
    func actionRequest(_ vm: VMConfig, _ device: some SplitDriverDevice) -> DeviceActionRequest? {
        guard let location = presentLocation(vm, device) else { return nil }
        return ((try? xs.exists(location.hotplugNode)) ?? false) ? nil : .needsUnplug
    }

    // MARK: VBD

    func plugVBD(_ vm: VMConfig, _ vbd: VBDConfig, task: TaskHandle) async throws(XenopsError) {
        guard let location = location(vm, vbd) else { throw .doesNotExist(kind: "domain", id: vm.id) }
        let params = switch vbd.backend {
        case .vdi(let path): "/dev/sm/backend/\(path)"
        case .local(let path): path
        case nil: ""
        }
        let deviceType = switch vbd.kind {
        case .disk: "disk"
        case .cdrom: "cdrom"
        case .floppy: "floppy"
        }
        var backend: [(String, String)] = [
            ("frontend-id", String(location.frontendDomid)), ("online", "1"), ("removable", vbd.unpluggable ? "1" : "0"),
            ("state", "1"), ("dev", vbd.id.device), ("type", "phy"), ("mode", vbd.mode == .readWrite ? "w" : "r"),
            ("params", params),
        ]
        backend += vbd.extraBackendKeys.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        try await addDevice(
            location,
            frontend: [("backend-id", "0"), ("state", "1"), ("virtual-device", String(location.devid)), ("device-type", deviceType)],
            backend: backend,
            privateKeys: vbd.backend.map { [("disk", $0.description)] } ?? [],
            task: task)
    }

    /// As xenops_server_xen.ml's `VBD.get_state`: a device found is active and plugged; otherwise only the stored flag.
    func vbdState(_ vm: VMConfig, _ vbd: VBDConfig) -> VBDState {
        guard let location = presentLocation(vm, vbd) else { return VBDState(active: isActive(vm, vbd)) }
        let ejected = (try? xs.read("\(location.backend)/params")) == ""
        let disk = (try? xs.read("\(location.privateData)/disk")).flatMap(Disk.init(json:))
        return VBDState(active: true, plugged: true, qosTarget: nil, backendPresent: ejected ? nil : disk)
    }

    func insert(_ vm: VMConfig, _ vbd: VBDConfig, _ disk: Disk) throws(XenopsError) {
        guard let location = presentLocation(vm, vbd) else { throw .deviceNotConnected }
        if let current = try? xs.read("\(location.backend)/params"), !current.isEmpty { throw .mediaPresent }
        let params = switch disk {
        case .vdi(let path): "/dev/sm/backend/\(path)"
        case .local(let path): path
        }
        try? xs.write("\(location.privateData)/disk", disk.description)
        try? xs.write("\(location.backend)/params", params)
    }

    func eject(_ vm: VMConfig, _ vbd: VBDConfig) throws(XenopsError) {
        guard let location = presentLocation(vm, vbd) else { throw .deviceNotConnected }
        guard (try? xs.read("\(location.backend)/params")).map({ !$0.isEmpty }) ?? false else { throw .mediaNotPresent }
        try? xs.rm("\(location.privateData)/disk")
        try? xs.write("\(location.backend)/params", "")
    }

    // MARK: VIF

    func plugVIF(_ vm: VMConfig, _ vif: VIFConfig, task: TaskHandle) async throws(XenopsError) {
        guard let location = location(vm, vif) else { throw .doesNotExist(kind: "domain", id: vm.id) }
        try await addDevice(
            location,
            frontend: [("backend-id", "0"), ("state", "1"), ("handle", String(vif.position)), ("mac", vif.mac)],
            backend: [("frontend-id", String(location.frontendDomid)), ("online", "1"), ("state", "1"),
                      ("script", "/etc/xensource/scripts/vif"), ("mac", vif.mac), ("handle", String(vif.position)),
                      ("bridge", vif.bridge), ("mtu", String(vif.mtu))],
            privateKeys: [("bridge", vif.bridge), ("bridge-MAC", "fe:ff:ff:ff:ff:ff"), ("mtu", String(vif.mtu))]
                + vif.lockingMode.xenstoreKeys,
            extraXenserverKeys: Self.staticIPSetting(vif),
            task: task)
    }

    /// xenops_server_xen.ml `xenstore_of_static_ip_setting`: what the guest agent reads, under
    /// `xenserver/device/vif/<devid>/static-ip-setting` in the guest's tree.
    static func staticIPSetting(_ vif: VIFConfig) -> [(String, String)] {
        let keys = [("mac", vif.mac), ("error-code", "0"), ("error-msg", "")]
            + ipSettingKeys(vif.ipv4, suffix: "") + ipSettingKeys(vif.ipv6, suffix: "6")
        return keys.map { ("static-ip-setting/\($0.0)", $0.1) }
    }

    private static func ipSettingKeys(_ configuration: VIFConfig.IPConfiguration, suffix: String) -> [(String, String)] {
        switch configuration {
        case .unspecified:
            [("enabled" + suffix, "0")]
        case .static(let addresses, let gateway):
            [("enabled" + suffix, "1"), ("address" + suffix, addresses.first ?? "")] + (gateway.map { [("gateway" + suffix, $0)] } ?? [])
        }
    }

    /// xenopsd's `VIF.set_ipv4_configuration` / `set_ipv6_configuration` on a plugged device:
    /// the keys rewritten in one transaction, a gateway no longer given removed.
    func setIPConfiguration(_ vm: VMConfig, _ vif: VIFConfig, ipv6: Bool, _ configuration: VIFConfig.IPConfiguration) throws(XenopsError) {
        guard let location = presentLocation(vm, vif) else { throw .deviceNotConnected }
        let base = "\(location.extraXenserver)/static-ip-setting"
        let suffix = ipv6 ? "6" : ""
        do {
            try xs.transaction { tx in
                try? tx.rm("\(base)/address\(suffix)")
                try? tx.rm("\(base)/gateway\(suffix)")
                for (key, value) in Self.ipSettingKeys(configuration, suffix: suffix) { try tx.write("\(base)/\(key)", value) }
            }
        } catch {
            throw .internalError("xenstore static-ip-setting \(base): \(error)")
        }
    }

    /// xenopsd's `VIF.move`: the backend and the device's private data name the new bridge
    /// (the hotplug script moves the interface there).
    func move(_ vm: VMConfig, _ vif: VIFConfig, toBridge bridge: String) throws(XenopsError) {
        guard let location = presentLocation(vm, vif) else { throw .deviceNotConnected }
        do {
            try xs.transaction { tx in
                try tx.write("\(location.privateData)/bridge", bridge)
                try tx.write("\(location.backend)/bridge", bridge)
            }
        } catch {
            throw .internalError("xenstore VIF move \(location.backend): \(error)")
        }
    }

    /// xenopsd's `VIF.set_locking_mode`: the mode and its addresses in the device's private
    /// data, where the switch's rules are made from.
    func setLockingMode(_ vm: VMConfig, _ vif: VIFConfig, _ mode: VIFConfig.LockingMode) throws(XenopsError) {
        guard let location = presentLocation(vm, vif) else { throw .deviceNotConnected }
        do {
            try xs.transaction { tx in
                for key in ["locking-mode", "ipv4-allowed", "ipv6-allowed"] { try? tx.rm("\(location.privateData)/\(key)") }
                for (key, value) in mode.xenstoreKeys { try tx.write("\(location.privateData)/\(key)", value) }
            }
        } catch {
            throw .internalError("xenstore locking mode \(location.privateData): \(error)")
        }
    }

    /// As xenops_server_xen.ml's `VIF.get_state`.
    func vifState(_ vm: VMConfig, _ vif: VIFConfig) -> VIFState {
        guard let location = presentLocation(vm, vif) else { return VIFState(active: isActive(vm, vif)) }
        let pid = (try? xs.read("\(location.backend)/kthread-pid")).flatMap { Int($0) } ?? 0
        let pvs = (try? xs.exists("\(location.hotplugDirectory)/pvs-rules-active")) ?? false
        return VIFState(active: true, plugged: true, kthreadPid: pid, mediaPresent: true,
                        device: "vif\(location.frontendDomid).\(vif.position)", pvsRulesActive: pvs)
    }

    // MARK: PCI and vGPU (passthrough: no xenstore handshake in this simulation)

    func plugPCI(_ vm: VMConfig, _ pci: PCIConfig) throws(XenopsError) {
        guard domain(of: vm.id) != nil else { throw .doesNotExist(kind: "domain", id: vm.id) }
        updateExtra(vm.id) { _ = $0.pcisPlugged.insert(pci.id.device) }
    }

    func unplugPCI(_ vm: VMConfig, _ pci: PCIConfig) {
        updateExtra(vm.id) { _ = $0.pcisPlugged.remove(pci.id.device) }
    }

    func pciState(_ vm: VMConfig, _ pci: PCIConfig) -> PCIState {
        guard domain(of: vm.id) != nil else { return PCIState() }
        return PCIState(plugged: extra(vm.id)?.pcisPlugged.contains(pci.id.device) ?? false)
    }

    func vgpuState(_ vm: VMConfig, _ vgpu: VGPUConfig) -> VGPUState {
        let active = isActive(vm, vgpu)
        let plugged = domain(of: vm.id) != nil && (extra(vm.id)?.deviceModel ?? false) && active
        return VGPUState(active: active, plugged: plugged, emulatorPid: nil)
    }

    /// `VM.remove`: the VM's own xenstore state (active flags, private data).
    func forget(_ vm: String) {
        try? xs.rm(Self.vmPath(vm))
        try? xs.rm(Self.privatePath(vm))
        removeExtra(vm)
    }
}

extension VIFConfig.LockingMode {
    /// xenops_server_xen.ml `xenstore_of_locking_mode`.
    var xenstoreKeys: [(String, String)] {
        switch self {
        case .unlocked: [("locking-mode", "unlocked")]
        case .disabled: [("locking-mode", "disabled")]
        case .locked(let ipv4, let ipv6):
            [("locking-mode", "locked"), ("ipv4-allowed", ipv4.joined(separator: ",")), ("ipv6-allowed", ipv6.joined(separator: ","))]
        }
    }
}
