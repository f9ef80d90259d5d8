/// `VM.*` (reference §2.6). Queued calls return a task id at once.
public struct VMOperations: Sendable {
    let xenops: Xenops

    private var engine: Engine { xenops.engine }

    /// Adds the VM's configuration (or replaces it, keeping its devices).
    @discardableResult
    public func add(_ config: VMConfig) -> String {
        xenops.metadata.add(config)
        return config.id
    }

    /// Replaces the VM and all its devices with what xapi pushes.
    @discardableResult
    public func importMetadata(_ metadata: VMMetadata) -> String {
        var metadata = metadata
        metadata.vifs = metadata.vifs.map { VIFOperations.withMAC($0) }
        xenops.metadata.importMetadata(metadata)
        return metadata.vm.id
    }

    public func exportMetadata(_ id: String) throws(XenopsError) -> VMMetadata {
        try xenops.metadata.metadata(id)
    }

    /// Goes through the VM's queue and waits; fails `Bad_power_state` for a running VM.
    public func remove(_ id: String, dbg: String = "VM.remove") async throws(XenopsError) {
        guard xenops.metadata.exists(id) else { throw .doesNotExist(kind: "VM", id: id) }
        try await engine.queueAndWait(.atomic(.vmRemove(id)), dbg: dbg)
    }

    /// Creates, builds and plugs; the domain is left **paused** (xapi unpauses).
    public func start(_ id: String, force: Bool = false, dbg: String = "VM.start") -> String {
        engine.queue(.vmStart(id, force: force), dbg: dbg)
    }

    /// `VM_poweroff`: clean when `timeout` is given (the guest is asked first), hard otherwise;
    /// devices are deactivated.
    public func shutdown(_ id: String, timeout: Double? = nil, dbg: String = "VM.shutdown") -> String {
        engine.queue(.vmPoweroff(id, timeout: timeout), dbg: dbg)
    }

    public func reboot(_ id: String, timeout: Double? = nil, dbg: String = "VM.reboot") -> String {
        engine.queue(.vmReboot(id, timeout: timeout), dbg: dbg)
    }

    public func suspend(_ id: String, dbg: String = "VM.suspend") -> String {
        engine.queue(.vmSuspend(id), dbg: dbg)
    }

    public func resume(_ id: String, dbg: String = "VM.resume") -> String {
        engine.queue(.vmResume(id), dbg: dbg)
    }

    /// The single steps of a start, as xenopsd exposes them: an empty paused domain…
    public func create(_ id: String, dbg: String = "VM.create") -> String {
        engine.queue(.atomic(.vmCreate(id)), dbg: dbg)
    }

    /// …memory and vCPUs, then the domain is introduced to xenstore (`@introduceDomain`)…
    public func build(_ id: String, force: Bool = false, dbg: String = "VM.build") -> String {
        engine.queue(.atomic(.vmBuild(id, force: force)), dbg: dbg)
    }

    /// …and the device model (HVM).
    public func createDeviceModel(_ id: String, dbg: String = "VM.create_device_model") -> String {
        engine.queue(.atomic(.vmCreateDeviceModel(id, saveState: false)), dbg: dbg)
    }

    /// Destroys the domain at once (no device unplug).
    public func destroy(_ id: String, dbg: String = "VM.destroy") -> String {
        engine.queue(.atomic(.vmDestroy(id)), dbg: dbg)
    }

    public func pause(_ id: String, dbg: String = "VM.pause") -> String {
        engine.queue(.atomic(.vmPause(id)), dbg: dbg)
    }

    public func unpause(_ id: String, dbg: String = "VM.unpause") -> String {
        engine.queue(.atomic(.vmUnpause(id)), dbg: dbg)
    }

    public func setVCPUs(_ id: String, _ count: Int, dbg: String = "VM.set_vcpus") -> String {
        engine.queue(.atomic(.vmSetVcpus(id, count)), dbg: dbg)
    }

    /// Configuration and current state (reference §3.1).
    public func stat(_ id: String) throws(XenopsError) -> (config: VMConfig, state: VMState) {
        let config = try xenops.metadata.vm(id)
        return (config, engine.stat(config))
    }

    public func exists(_ id: String) -> Bool { xenops.metadata.exists(id) }

    public func list() -> [(config: VMConfig, state: VMState)] {
        xenops.metadata.vmIDs().compactMap { try? stat($0) }
    }
}

/// `VBD.*`.
public struct VBDOperations: Sendable {
    let xenops: Xenops

    /// The VM must exist.
    @discardableResult
    public func add(_ vbd: VBDConfig) throws(XenopsError) -> DeviceID {
        try xenops.metadata.add(vbd)
        return vbd.id
    }

    /// Fails `Device_is_connected` while plugged.
    public func remove(_ id: DeviceID) throws(XenopsError) {
        if try stat(id).state.plugged { throw .deviceIsConnected }
        xenops.metadata.removeVBD(id)
        xenops.table.remove(.vbd(id))
    }

    public func plug(_ id: DeviceID, dbg: String = "VBD.plug") -> String {
        xenops.engine.queue(.vbdHotplug(id), dbg: dbg)
    }

    public func unplug(_ id: DeviceID, force: Bool = false, dbg: String = "VBD.unplug") -> String {
        xenops.engine.queue(.vbdHotunplug(id, force: force), dbg: dbg)
    }

    /// Media into an empty CD drive of a running or paused VM.
    public func insert(_ id: DeviceID, _ disk: Disk, dbg: String = "VBD.insert") -> String {
        xenops.engine.queue(.atomic(.vbdInsert(id, disk)), dbg: dbg)
    }

    /// Fails `Media_not_ejectable` for a disk.
    public func eject(_ id: DeviceID, dbg: String = "VBD.eject") -> String {
        xenops.engine.queue(.atomic(.vbdEject(id)), dbg: dbg)
    }

    public func stat(_ id: DeviceID) throws(XenopsError) -> (config: VBDConfig, state: VBDState) {
        let vm = try xenops.metadata.vm(id.vm)
        let vbd = try xenops.metadata.vbd(id)
        return (vbd, xenops.backend.vbdState(vm, vbd))
    }

    public func list(_ vm: String) -> [(config: VBDConfig, state: VBDState)] {
        xenops.metadata.vbds(vm).compactMap { try? stat($0.id) }
    }
}

/// `VIF.*`.
public struct VIFOperations: Sendable {
    let xenops: Xenops

    /// The VM must exist. A MAC of `""` is derived from the VM and position; `"random"` is random.
    @discardableResult
    public func add(_ vif: VIFConfig) throws(XenopsError) -> DeviceID {
        try xenops.metadata.add(Self.withMAC(vif))
        return vif.id
    }

    public func remove(_ id: DeviceID) throws(XenopsError) {
        if try stat(id).state.plugged { throw .deviceIsConnected }
        xenops.metadata.removeVIF(id)
        xenops.table.remove(.vif(id))
    }

    public func plug(_ id: DeviceID, dbg: String = "VIF.plug") -> String {
        xenops.engine.queue(.vifHotplug(id), dbg: dbg)
    }

    public func unplug(_ id: DeviceID, force: Bool = false, dbg: String = "VIF.unplug") -> String {
        xenops.engine.queue(.vifHotunplug(id, force: force), dbg: dbg)
    }

    public func stat(_ id: DeviceID) throws(XenopsError) -> (config: VIFConfig, state: VIFState) {
        let vm = try xenops.metadata.vm(id.vm)
        let vif = try xenops.metadata.vif(id)
        return (vif, xenops.backend.vifState(vm, vif))
    }

    public func list(_ vm: String) -> [(config: VIFConfig, state: VIFState)] {
        xenops.metadata.vifs(vm).compactMap { try? stat($0.id) }
    }

    static func withMAC(_ vif: VIFConfig) -> VIFConfig {
        var vif = vif
        switch vif.mac {
        case "": vif.mac = macAddress(seed: "\(vif.id.vm)/\(vif.position)")
        case "random":
            var generator = SystemRandomNumberGenerator()
            vif.mac = macAddress(bytes: (0..<6).map { _ in UInt8.random(in: 0...255, using: &generator) })
        default: break
        }
        return vif
    }

    /// A locally administered unicast MAC from a hash of `seed` (FNV-1a, 64 bits).
    static func macAddress(seed: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in seed.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return macAddress(bytes: (0..<6).map { UInt8(truncatingIfNeeded: hash >> (8 * UInt64($0))) })
    }

    static func macAddress(bytes: [UInt8]) -> String {
        var bytes = bytes
        bytes[0] = (bytes[0] & 0xFC) | 0x02
        return bytes.map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined(separator: ":")
    }
}

/// `PCI.*` (passthrough devices; plugged at VM start after the device model, or one by one).
public struct PCIOperations: Sendable {
    let xenops: Xenops

    @discardableResult
    public func add(_ pci: PCIConfig) throws(XenopsError) -> DeviceID {
        try xenops.metadata.add(pci)
        return pci.id
    }

    public func remove(_ id: DeviceID) throws(XenopsError) {
        if try stat(id).state.plugged { throw .deviceIsConnected }
        xenops.metadata.removePCI(id)
        xenops.table.remove(.pci(id))
    }

    public func plug(_ id: DeviceID, dbg: String = "PCI.plug") -> String {
        xenops.engine.queue(.atomic(.pciPlug(id)), dbg: dbg)
    }

    public func unplug(_ id: DeviceID, dbg: String = "PCI.unplug") -> String {
        xenops.engine.queue(.atomic(.pciUnplug(id)), dbg: dbg)
    }

    public func stat(_ id: DeviceID) throws(XenopsError) -> (config: PCIConfig, state: PCIState) {
        let vm = try xenops.metadata.vm(id.vm)
        let pci = try xenops.metadata.pci(id)
        return (pci, xenops.backend.pciState(vm, pci))
    }

    public func list(_ vm: String) -> [(config: PCIConfig, state: PCIState)] {
        xenops.metadata.pcis(vm).compactMap { try? stat($0.id) }
    }
}

/// `VGPU.*` (activated at VM start; `plug` marks one active on a running VM).
public struct VGPUOperations: Sendable {
    let xenops: Xenops

    @discardableResult
    public func add(_ vgpu: VGPUConfig) throws(XenopsError) -> DeviceID {
        try xenops.metadata.add(vgpu)
        return vgpu.id
    }

    public func remove(_ id: DeviceID) throws(XenopsError) {
        if try stat(id).state.plugged { throw .deviceIsConnected }
        xenops.metadata.removeVGPU(id)
        xenops.table.remove(.vgpu(id))
    }

    public func plug(_ id: DeviceID, dbg: String = "VGPU.plug") -> String {
        xenops.engine.queue(.atomic(.vgpuSetActive(id, true)), dbg: dbg)
    }

    public func stat(_ id: DeviceID) throws(XenopsError) -> (config: VGPUConfig, state: VGPUState) {
        let vm = try xenops.metadata.vm(id.vm)
        let vgpu = try xenops.metadata.vgpu(id)
        return (vgpu, xenops.backend.vgpuState(vm, vgpu))
    }

    public func list(_ vm: String) -> [(config: VGPUConfig, state: VGPUState)] {
        xenops.metadata.vgpus(vm).compactMap { try? stat($0.id) }
    }
}

/// `TASK.*` (reference §2.5). Clients destroy the tasks they create (finished tasks left behind
/// expire after `XenopsConfiguration.taskRetention`).
public struct TaskOperations: Sendable {
    let xenops: Xenops

    public func stat(_ id: String) throws(XenopsError) -> TaskRecord { try xenops.tasks.stat(id) }

    /// Takes effect at the task's next cancel point or wait; refused (logged) while the task is
    /// not cancellable.
    public func cancel(_ id: String) throws(XenopsError) { try xenops.tasks.cancel(id) }

    public func destroy(_ id: String) throws(XenopsError) { try xenops.tasks.destroy(id) }

    public func destroyOnFinish(_ id: String) throws(XenopsError) { try xenops.tasks.setDestroyOnFinish(id) }

    public func list() -> [TaskRecord] { xenops.tasks.list() }

    /// Suspends until the task has finished (or `timeout` passes); its record then, or nil if it
    /// was destroyed or the time ran out. A convenience over watching `Task` updates.
    public func wait(_ id: String, timeout: Duration? = nil) async -> TaskRecord? {
        if case .finished(let record) = await xenops.tasks.waitFinished(id, timeout: timeout, scheduler: xenops.scheduler) {
            return record
        }
        return nil
    }

    /// Test hook (xenopsd's `set_cancel_trigger`): tasks created with `dbg` cancel themselves at
    /// their `n`-th cancel point; nil clears it.
    public func setCancelTrigger(dbg: String, at n: Int?) { xenops.tasks.setCancelTrigger(dbg: dbg, at: n) }
}

/// `UPDATES.*` (reference §2.12) over the external table.
public struct UpdatesOperations: Sendable {
    let xenops: Xenops

    /// Barriers (oldest first), then ids changed since `from`, and the next token; suspends
    /// while there is nothing new, up to `timeout` (nil = forever).
    public func get(from: Int?, timeout: Duration?) async -> UpdatesBatch {
        await xenops.table.get(from: from, timeout: timeout)
    }

    public var lastID: Int { xenops.table.lastID }

    /// A barrier whose snapshot is the VM's own entries (VM and devices, never tasks).
    public func injectBarrier(vm: String, id: Int) { xenops.table.injectBarrier(id, vm: vm) }

    public func removeBarrier(_ id: Int) { xenops.table.removeBarrier(id) }

    /// Signals the VM and each of its devices (those that exist).
    public func refreshVM(_ vm: String) {
        let engine = xenops.engine
        engine.signalVM(vm)
        for vbd in xenops.metadata.vbds(vm) { engine.signalVBD(vbd.id) }
        for vif in xenops.metadata.vifs(vm) { engine.signalVIF(vif.id) }
        for pci in xenops.metadata.pcis(vm) { engine.signalPCI(pci.id) }
        for vgpu in xenops.metadata.vgpus(vm) { engine.signalVGPU(vgpu.id) }
    }

    public func dump() -> UpdatesDump { xenops.table.dump() }

    public var statistics: UpdatesStatistics { xenops.table.statistics }

    /// The table itself (to share with code that takes an `Updates`).
    public var table: Updates { xenops.table }
}
