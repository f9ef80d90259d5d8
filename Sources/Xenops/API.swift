/// `VM.*` (xen-api ocaml/xenopsd/lib/xenops_server.ml, `VM` module). Queued calls return a task id at once.
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
        metadata.vifs = metadata.vifs.map(MACAddress.assign)
        xenops.metadata.importMetadata(metadata)
        return metadata.vm.id
    }

    public func exportMetadata(_ id: String) throws(XenopsError) -> VMMetadata {
        try xenops.metadata.metadata(id)
    }

    /// A suspended VM's saved image: what any host that sees its suspend disk could read.
    public func suspendImage(_ id: String) -> SuspendImage? {
        xenops.backend.extra(id)?.suspendImage
    }

    /// Gives this xenopsd a suspended VM's image, read from the suspend disk it shares with the
    /// host that saved it (a resume elsewhere in the pool); the VM's metadata comes first.
    public func setSuspendImage(_ id: String, _ image: SuspendImage) {
        xenops.backend.updateExtra(id) { $0.suspendImage = image }
        xenops.table.add(.vm(id))
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

    /// `VM.migrate`: a live migration to the xenopsd of another host (or of this one).
    public func migrate(_ id: String, to destination: Xenops, dbg: String = "VM.migrate") -> String {
        engine.queue(.vmMigrate(id, MigrationTarget(destination)), dbg: dbg)
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

    /// A new dynamic range for a running VM (bytes): the balloon target follows it.
    public func setMemoryDynamicRange(_ id: String, min: Int64, max: Int64, dbg: String = "VM.set_memory_dynamic_range") -> String {
        engine.queue(.atomic(.vmSetMemoryDynamicRange(id, min: min, max: max)), dbg: dbg)
    }

    public func setVCPUs(_ id: String, _ count: Int, dbg: String = "VM.set_vcpus") -> String {
        engine.queue(.atomic(.vmSetVcpus(id, count)), dbg: dbg)
    }

    /// Configuration and current state (ocaml/xapi-idl/xen/xenops_types.ml, `Vm.state`).
    public func stat(_ id: String) throws(XenopsError) -> (config: VMConfig, state: VMState) {
        let config = try xenops.metadata.vm(id)
        return (config, engine.stat(config))
    }

    public func exists(_ id: String) -> Bool { xenops.metadata.exists(id) }

    public func list() -> [(config: VMConfig, state: VMState)] {
        xenops.metadata.vmIDs().compactMap { try? stat($0) }
    }
}

/// `VBD.*`, `VIF.*`, `PCI.*`, `VGPU.*`: what xenopsd does alike for every kind of device. What
/// differs (how a kind plugs, VBD media, VIF MACs) is in the extensions below.
public struct DeviceOperations<Config: DeviceConfig>: Sendable {
    let xenops: Xenops
    /// The backend's reading of one device of a VM.
    let state: @Sendable (VMConfig, Config) -> Config.State
    /// Fills in what `add` derives (a VIF's MAC); the identity for the other kinds.
    let prepare: @Sendable (Config) -> Config

    init(xenops: Xenops, state: @escaping @Sendable (VMConfig, Config) -> Config.State,
         prepare: @escaping @Sendable (Config) -> Config = { $0 }) {
        self.xenops = xenops
        self.state = state
        self.prepare = prepare
    }

    /// The VM must exist.
    @discardableResult
    public func add(_ config: Config) throws(XenopsError) -> DeviceID {
        try xenops.metadata.add(prepare(config))
        return config.id
    }

    /// Fails `Device_is_connected` while plugged.
    public func remove(_ id: DeviceID) throws(XenopsError) {
        if try stat(id).state.plugged { throw .deviceIsConnected }
        xenops.metadata.remove(Config.kind, id)
        xenops.table.remove(Config.kind.dynamic(id))
    }

    public func stat(_ id: DeviceID) throws(XenopsError) -> (config: Config, state: Config.State) {
        let vm = try xenops.metadata.vm(id.vm)
        let device: Config = try xenops.metadata.device(id)
        return (device, state(vm, device))
    }

    public func list(_ vm: String) -> [(config: Config, state: Config.State)] {
        xenops.metadata.devices(vm, Config.self).compactMap { try? stat($0.id) }
    }

    /// Queues `operation` under the kind's own name (`VBD.plug`) unless the caller names it.
    private func queue(_ operation: Operation, _ message: String, dbg: String?) -> String {
        xenops.engine.queue(operation, dbg: dbg ?? "\(Config.kind.rawValue).\(message)")
    }
}

extension DeviceOperations where Config == VBDConfig {
    public func plug(_ id: DeviceID, dbg: String? = nil) -> String {
        queue(.vbdHotplug(id), "plug", dbg: dbg)
    }

    public func unplug(_ id: DeviceID, force: Bool = false, dbg: String? = nil) -> String {
        queue(.vbdHotunplug(id, force: force), "unplug", dbg: dbg)
    }

    /// Media into an empty CD drive of a running or paused VM.
    public func insert(_ id: DeviceID, _ disk: Disk, dbg: String? = nil) -> String {
        queue(.atomic(.vbdInsert(id, disk)), "insert", dbg: dbg)
    }

    /// Fails `Media_not_ejectable` for a disk.
    public func eject(_ id: DeviceID, dbg: String? = nil) -> String {
        queue(.atomic(.vbdEject(id)), "eject", dbg: dbg)
    }
}

extension DeviceOperations where Config == VIFConfig {
    public func plug(_ id: DeviceID, dbg: String? = nil) -> String {
        queue(.vifHotplug(id), "plug", dbg: dbg)
    }

    public func unplug(_ id: DeviceID, force: Bool = false, dbg: String? = nil) -> String {
        queue(.vifHotunplug(id, force: force), "unplug", dbg: dbg)
    }

    /// The address the guest agent is asked to configure, on the running device and in the
    /// VIF's metadata.
    public func setIPConfiguration(_ id: DeviceID, ipv6: Bool, _ configuration: VIFConfig.IPConfiguration, dbg: String? = nil) -> String {
        queue(.atomic(.vifSetIPConfiguration(id, ipv6: ipv6, configuration)), ipv6 ? "set_ipv6_configuration" : "set_ipv4_configuration", dbg: dbg)
    }

    /// The plugged VIF onto another bridge, without the guest noticing.
    public func move(_ id: DeviceID, toBridge bridge: String, dbg: String? = nil) -> String {
        queue(.atomic(.vifMove(id, bridge: bridge)), "move", dbg: dbg)
    }

    public func setLockingMode(_ id: DeviceID, _ mode: VIFConfig.LockingMode, dbg: String? = nil) -> String {
        queue(.atomic(.vifSetLockingMode(id, mode)), "set_locking_mode", dbg: dbg)
    }
}

/// Passthrough devices: plugged at VM start after the device model, or one by one.
extension DeviceOperations where Config == PCIConfig {
    public func plug(_ id: DeviceID, dbg: String? = nil) -> String {
        queue(.atomic(.pciPlug(id)), "plug", dbg: dbg)
    }

    public func unplug(_ id: DeviceID, dbg: String? = nil) -> String {
        queue(.atomic(.pciUnplug(id)), "unplug", dbg: dbg)
    }
}

/// vGPUs are activated at VM start; `plug` marks one active on a running VM.
extension DeviceOperations where Config == VGPUConfig {
    public func plug(_ id: DeviceID, dbg: String? = nil) -> String {
        queue(.atomic(.vgpuSetActive(id, true)), "plug", dbg: dbg)
    }
}

public typealias VBDOperations = DeviceOperations<VBDConfig>
public typealias VIFOperations = DeviceOperations<VIFConfig>
public typealias PCIOperations = DeviceOperations<PCIConfig>
public typealias VGPUOperations = DeviceOperations<VGPUConfig>

/// A VIF's MAC: `""` is derived from the VM and position, `"random"` is random.
enum MACAddress {
    static func assign(_ vif: VIFConfig) -> VIFConfig {
        var vif = vif
        switch vif.mac {
        case "": vif.mac = format(seed: "\(vif.id.vm)/\(vif.position)")
        case "random":
            var generator = SystemRandomNumberGenerator()
            vif.mac = format(bytes: (0..<6).map { _ in UInt8.random(in: 0...255, using: &generator) })
        default: break
        }
        return vif
    }

    /// A locally administered unicast MAC from a hash of `seed` (FNV-1a, 64 bits).
    static func format(seed: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in seed.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return format(bytes: (0..<6).map { UInt8(truncatingIfNeeded: hash >> (8 * UInt64($0))) })
    }

    static func format(bytes: [UInt8]) -> String {
        var bytes = bytes
        bytes[0] = (bytes[0] & 0xFC) | 0x02
        return bytes.map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined(separator: ":")
    }
}

/// `TASK.*` (ocaml/xapi-idl/lib/task_server.ml). Clients destroy the tasks they create (finished tasks left behind
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

/// `UPDATES.*` (xenops_server.ml, `UPDATES`) over the external table.
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
        for vbd in xenops.metadata.devices(vm, VBDConfig.self) { engine.signal(.vbd, vbd.id) }
        for vif in xenops.metadata.devices(vm, VIFConfig.self) { engine.signal(.vif, vif.id) }
        for pci in xenops.metadata.devices(vm, PCIConfig.self) { engine.signal(.pci, pci.id) }
        for vgpu in xenops.metadata.devices(vm, VGPUConfig.self) { engine.signal(.vgpu, vgpu.id) }
    }

    public func dump() -> UpdatesDump { xenops.table.dump() }

    public var statistics: UpdatesStatistics { xenops.table.statistics }

    /// The table itself (to share with code that takes an `Updates`).
    public var table: Updates { xenops.table }
}
