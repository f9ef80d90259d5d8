import Synchronization

/// What xenopsd knows about its VMs (its `VM_DB`, `VBD_DB`…): the configurations xapi pushed,
/// in memory. Device lists come back in plug order (by position).
final class MetadataStore: Sendable {
    private struct Record {
        var config: VMConfig
        var vbds: [String: VBDConfig] = [:]
        var vifs: [String: VIFConfig] = [:]
        var pcis: [String: PCIConfig] = [:]
        var vgpus: [String: VGPUConfig] = [:]
    }

    private let state = Mutex([String: Record]())

    // MARK: VMs

    /// Adds or replaces the VM's configuration, keeping its devices.
    func add(_ config: VMConfig) {
        state.withLock { records in
            if records[config.id] == nil {
                records[config.id] = Record(config: config)
            } else {
                records[config.id]!.config = config
            }
        }
    }

    /// Replaces the VM and all its devices.
    func importMetadata(_ metadata: VMMetadata) {
        var record = Record(config: metadata.vm)
        for vbd in metadata.vbds { record.vbds[vbd.id.device] = vbd }
        for vif in metadata.vifs { record.vifs[vif.id.device] = vif }
        for pci in metadata.pcis { record.pcis[pci.id.device] = pci }
        for vgpu in metadata.vgpus { record.vgpus[vgpu.id.device] = vgpu }
        state.withLock { $0[metadata.vm.id] = record }
    }

    func exists(_ vm: String) -> Bool { state.withLock { $0[vm] != nil } }

    func vm(_ id: String) throws(XenopsError) -> VMConfig {
        guard let config = state.withLock({ $0[id]?.config }) else { throw .doesNotExist(kind: "VM", id: id) }
        return config
    }

    func metadata(_ id: String) throws(XenopsError) -> VMMetadata {
        guard let record = state.withLock({ $0[id] }) else { throw .doesNotExist(kind: "VM", id: id) }
        return VMMetadata(
            vm: record.config,
            vbds: record.vbds.values.sorted { $0.position < $1.position },
            vifs: record.vifs.values.sorted { $0.position < $1.position },
            pcis: record.pcis.values.sorted { $0.position < $1.position },
            vgpus: record.vgpus.values.sorted { $0.position < $1.position })
    }

    func vmIDs() -> [String] { state.withLock { Array($0.keys) }.sorted() }

    func remove(_ id: String) { state.withLock { _ = $0.removeValue(forKey: id) } }

    // MARK: devices

    func vbds(_ vm: String) -> [VBDConfig] {
        state.withLock { $0[vm]?.vbds.values.sorted { $0.position < $1.position } ?? [] }
    }

    func vifs(_ vm: String) -> [VIFConfig] {
        state.withLock { $0[vm]?.vifs.values.sorted { $0.position < $1.position } ?? [] }
    }

    func pcis(_ vm: String) -> [PCIConfig] {
        state.withLock { $0[vm]?.pcis.values.sorted { $0.position < $1.position } ?? [] }
    }

    func vgpus(_ vm: String) -> [VGPUConfig] {
        state.withLock { $0[vm]?.vgpus.values.sorted { $0.position < $1.position } ?? [] }
    }

    func vbd(_ id: DeviceID) throws(XenopsError) -> VBDConfig {
        guard let vbd = state.withLock({ $0[id.vm]?.vbds[id.device] }) else { throw .doesNotExist(kind: "VBD", id: id.description) }
        return vbd
    }

    func vif(_ id: DeviceID) throws(XenopsError) -> VIFConfig {
        guard let vif = state.withLock({ $0[id.vm]?.vifs[id.device] }) else { throw .doesNotExist(kind: "VIF", id: id.description) }
        return vif
    }

    func pci(_ id: DeviceID) throws(XenopsError) -> PCIConfig {
        guard let pci = state.withLock({ $0[id.vm]?.pcis[id.device] }) else { throw .doesNotExist(kind: "PCI", id: id.description) }
        return pci
    }

    func vgpu(_ id: DeviceID) throws(XenopsError) -> VGPUConfig {
        guard let vgpu = state.withLock({ $0[id.vm]?.vgpus[id.device] }) else { throw .doesNotExist(kind: "VGPU", id: id.description) }
        return vgpu
    }

    func vbdExists(_ id: DeviceID) -> Bool { state.withLock { $0[id.vm]?.vbds[id.device] != nil } }
    func pciExists(_ id: DeviceID) -> Bool { state.withLock { $0[id.vm]?.pcis[id.device] != nil } }
    func vgpuExists(_ id: DeviceID) -> Bool { state.withLock { $0[id.vm]?.vgpus[id.device] != nil } }

    private func add<Device>(
        _ device: Device, id: DeviceID, to devices: WritableKeyPath<Record, [String: Device]>
    ) throws(XenopsError) {
        try state.withLock { records throws(XenopsError) in
            guard records[id.vm] != nil else { throw .doesNotExist(kind: "VM", id: id.vm) }
            records[id.vm]![keyPath: devices][id.device] = device
        }
    }

    /// Adds or replaces; the VM must exist.
    func add(_ vbd: VBDConfig) throws(XenopsError) {
        try add(vbd, id: vbd.id, to: \.vbds)
    }

    func add(_ vif: VIFConfig) throws(XenopsError) {
        try add(vif, id: vif.id, to: \.vifs)
    }

    func add(_ pci: PCIConfig) throws(XenopsError) {
        try add(pci, id: pci.id, to: \.pcis)
    }

    func add(_ vgpu: VGPUConfig) throws(XenopsError) {
        try add(vgpu, id: vgpu.id, to: \.vgpus)
    }

    func removeVBD(_ id: DeviceID) { state.withLock { _ = $0[id.vm]?.vbds.removeValue(forKey: id.device) } }
    func removeVIF(_ id: DeviceID) { state.withLock { _ = $0[id.vm]?.vifs.removeValue(forKey: id.device) } }
    func removePCI(_ id: DeviceID) { state.withLock { _ = $0[id.vm]?.pcis.removeValue(forKey: id.device) } }
    func removeVGPU(_ id: DeviceID) { state.withLock { _ = $0[id.vm]?.vgpus.removeValue(forKey: id.device) } }
}
