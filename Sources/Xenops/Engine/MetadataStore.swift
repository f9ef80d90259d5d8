import Synchronization

/// What xenopsd knows about its VMs (its `VM_DB`, `VBD_DB`…): the configurations xapi pushed,
/// in memory. Device lists come back in plug order (by position).
final class MetadataStore: Sendable {
    private struct Record {
        var config: VMConfig
        /// Per kind, by `DeviceID.device`; each value is of its kind's config type.
        var devices: [DeviceKind: [String: any DeviceConfig]] = [:]

        func list<Config: DeviceConfig>(_: Config.Type) -> [Config] {
            (devices[Config.kind] ?? [:]).values.compactMap { $0 as? Config }.sorted { $0.position < $1.position }
        }

        mutating func insert<Config: DeviceConfig>(_ devices: [Config]) {
            for device in devices { self.devices[Config.kind, default: [:]][device.id.device] = device }
        }
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
        record.insert(metadata.vbds)
        record.insert(metadata.vifs)
        record.insert(metadata.pcis)
        record.insert(metadata.vgpus)
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
            vbds: record.list(VBDConfig.self), vifs: record.list(VIFConfig.self),
            pcis: record.list(PCIConfig.self), vgpus: record.list(VGPUConfig.self))
    }

    /// `VM_rename` in xenopsd's database: the VM and its devices under `to`.
    func rename(_ from: String, to: String) throws(XenopsError) {
        let metadata = try metadata(from)
        state.withLock { $0[from] = nil }
        importMetadata(metadata.renamed(to: to))
    }

    func vmIDs() -> [String] { state.withLock { Array($0.keys) }.sorted() }

    func remove(_ id: String) { state.withLock { _ = $0.removeValue(forKey: id) } }

    // MARK: devices

    /// The VM's devices of one kind, in plug order.
    func devices<Config: DeviceConfig>(_ vm: String, _: Config.Type = Config.self) -> [Config] {
        state.withLock { $0[vm]?.list(Config.self) ?? [] }
    }

    func device<Config: DeviceConfig>(_ id: DeviceID, _: Config.Type = Config.self) throws(XenopsError) -> Config {
        guard let device = state.withLock({ $0[id.vm]?.devices[Config.kind]?[id.device] as? Config }) else {
            throw .doesNotExist(kind: Config.kind.rawValue, id: id.description)
        }
        return device
    }

    func exists(_ kind: DeviceKind, _ id: DeviceID) -> Bool {
        state.withLock { $0[id.vm]?.devices[kind]?[id.device] != nil }
    }

    /// Adds or replaces; the VM must exist.
    func add(_ device: some DeviceConfig) throws(XenopsError) {
        try state.withLock { records throws(XenopsError) in
            guard records[device.id.vm] != nil else { throw .doesNotExist(kind: "VM", id: device.id.vm) }
            records[device.id.vm]!.insert([device])
        }
    }

    func remove(_ kind: DeviceKind, _ id: DeviceID) {
        state.withLock { _ = $0[id.vm]?.devices[kind]?.removeValue(forKey: id.device) }
    }
}
