public import Wire
/// A queued operation (xenopsd's `operation`): what an API call or the internal event loop asks
/// a VM's queue to do. Each expands into atomic steps (`Atomic`).
public enum Operation: Sendable, Hashable {
    case vmStart(String, force: Bool)
    /// What `VM.shutdown` queues: shutdown plus device deactivation.
    case vmPoweroff(String, timeout: Double?)
    /// The internal shutdown used by check_state (devices stay active).
    case vmShutdown(String, timeout: Double?)
    case vmReboot(String, timeout: Double?)
    case vmSuspend(String)
    case vmResume(String)
    case vmRestoreDevices(String)
    case vmCheckState(String)
    case vbdCheckState(DeviceID)
    case vifCheckState(DeviceID)
    case pciCheckState(DeviceID)
    case vbdHotplug(DeviceID)
    case vbdHotunplug(DeviceID, force: Bool)
    case vifHotplug(DeviceID)
    case vifHotunplug(DeviceID, force: Bool)
    /// xenopsd's `VM_migrate`, on the source.
    case vmMigrate(String, MigrationTarget)
    /// xenopsd's `VM_receive_memory`, on the destination: the temporary id and the final one.
    case vmReceiveMemory(String, finalID: String, MigrationChannel)
    case atomic(Atomic)

    /// The VM whose queue it goes to.
    var vm: String {
        switch self {
        case .vmStart(let id, _), .vmPoweroff(let id, _), .vmShutdown(let id, _), .vmReboot(let id, _),
             .vmSuspend(let id), .vmResume(let id), .vmRestoreDevices(let id), .vmCheckState(let id),
             .vmMigrate(let id, _), .vmReceiveMemory(let id, _, _):
            id
        case .vbdCheckState(let id), .vifCheckState(let id), .pciCheckState(let id), .vbdHotplug(let id),
             .vbdHotunplug(let id, _), .vifHotplug(let id), .vifHotunplug(let id, _):
            id.vm
        case .atomic(let atomic): atomic.vm
        }
    }

    /// Only duplicate checks coalesce (xenopsd's `should_keep`).
    var isCheckState: Bool {
        switch self {
        case .vmCheckState, .vbdCheckState, .vifCheckState, .pciCheckState: true
        default: false
        }
    }

    /// xenopsd's `describe_work`, e.g. `["VM_check_state","uuid"]`.
    public var json: JSON {
        func timeout(_ value: Double?) -> JSON { value.map(JSON.double) ?? .null }
        return switch self {
        case .vmStart(let id, let force): .array([.string("VM_start"), .array([.string(id), .bool(force)])])
        case .vmPoweroff(let id, let t): .array([.string("VM_poweroff"), .array([.string(id), timeout(t)])])
        case .vmShutdown(let id, let t): .array([.string("VM_shutdown"), .array([.string(id), timeout(t)])])
        case .vmReboot(let id, let t): .array([.string("VM_reboot"), .array([.string(id), timeout(t)])])
        case .vmSuspend(let id): .array([.string("VM_suspend"), .string(id)])
        case .vmResume(let id): .array([.string("VM_resume"), .string(id)])
        case .vmRestoreDevices(let id): .array([.string("VM_restore_devices"), .string(id)])
        case .vmCheckState(let id): .array([.string("VM_check_state"), .string(id)])
        case .vbdCheckState(let id): .array([.string("VBD_check_state"), id.json])
        case .vifCheckState(let id): .array([.string("VIF_check_state"), id.json])
        case .pciCheckState(let id): .array([.string("PCI_check_state"), id.json])
        case .vbdHotplug(let id): .array([.string("VBD_hotplug"), id.json])
        case .vbdHotunplug(let id, let force): .array([.string("VBD_hotunplug"), .array([id.json, .bool(force)])])
        case .vifHotplug(let id): .array([.string("VIF_hotplug"), id.json])
        case .vifHotunplug(let id, let force): .array([.string("VIF_hotunplug"), .array([id.json, .bool(force)])])
        case .vmMigrate(let id, _):
            .array([.string("VM_migrate"), .object([
                .init("vmm_id", .string(id)),
                .init("vmm_tmp_src_id", .string(Engine.temporaryID(id, destination: false))),
                .init("vmm_tmp_dest_id", .string(Engine.temporaryID(id, destination: true))),
            ])])
        case .vmReceiveMemory(let id, let final, _):
            .array([.string("VM_receive_memory"), .object([.init("vmr_id", .string(id)), .init("vmr_final_id", .string(final))])])
        case .atomic(let atomic): .array([.string("Atomic"), atomic.json])
        }
    }
}

/// One step of an operation (xenopsd's `atomic`), including the structure combinators.
public indirect enum Atomic: Sendable, Hashable {
    case vmCreate(String)
    case vmBuild(String, force: Bool)
    case vmCreateDeviceModel(String, saveState: Bool)
    case vmDestroyDeviceModel(String)
    case vmDestroy(String)
    case vmPause(String)
    case vmUnpause(String)
    case vmSetVcpus(String, Int)
    /// Bytes; written in KiB under the domain's `memory/` (xenopsd's `VM_set_memory_dynamic_range`).
    case vmSetMemoryDynamicRange(String, min: Int64, max: Int64)
    case vmSetDomainActionRequest(String, DomainActionRequest?)
    case vmShutdownDomain(String, ShutdownRequest, timeout: Double)
    case vmSave(String)
    case vmRestore(String)
    case vmDelay(String, seconds: Double)
    case vmSoftreboot(String)
    case vmRemove(String)
    /// xenopsd's `VM_rename`: the VM, its devices and its domain under another id.
    case vmRename(String, String, RenameWhen)
    case vbdSetActive(DeviceID, Bool)
    case vbdPlug(DeviceID)
    case vbdUnplug(DeviceID, force: Bool)
    case vbdInsert(DeviceID, Disk)
    case vbdEject(DeviceID)
    case vifSetActive(DeviceID, Bool)
    case vifPlug(DeviceID)
    case vifUnplug(DeviceID, force: Bool)
    /// xenopsd's `VIF_set_ipv4_configuration` / `VIF_set_ipv6_configuration` (`ipv6` false / true).
    case vifSetIPConfiguration(DeviceID, ipv6: Bool, VIFConfig.IPConfiguration)
    case vifSetLockingMode(DeviceID, VIFConfig.LockingMode)
    /// xenopsd's `VIF_move`: the backend onto another bridge, the guest untouched.
    case vifMove(DeviceID, bridge: String)
    case pciPlug(DeviceID)
    case pciUnplug(DeviceID)
    case vgpuSetActive(DeviceID, Bool)
    case serial(vm: String, description: String, [Atomic])
    /// Each step becomes its own task on the parallel queues.
    case parallel(vm: String, description: String, [Atomic])
    /// As `parallel`, on the nested queues (a parallel step inside a parallel step).
    case nestedParallel(vm: String, description: String, [Atomic])
    /// Failure is logged and ignored.
    case bestEffort(Atomic)

    var vm: String {
        switch self {
        case .vmCreate(let id), .vmBuild(let id, _), .vmCreateDeviceModel(let id, _), .vmDestroyDeviceModel(let id),
             .vmDestroy(let id), .vmPause(let id), .vmUnpause(let id), .vmSetVcpus(let id, _), .vmSetMemoryDynamicRange(let id, _, _),
             .vmSetDomainActionRequest(let id, _), .vmShutdownDomain(let id, _, _), .vmSave(let id), .vmRestore(let id),
             .vmDelay(let id, _), .vmSoftreboot(let id), .vmRemove(let id), .vmRename(let id, _, _):
            id
        case .vbdSetActive(let id, _), .vbdPlug(let id), .vbdUnplug(let id, _), .vbdInsert(let id, _), .vbdEject(let id),
             .vifSetActive(let id, _), .vifPlug(let id), .vifUnplug(let id, _), .vifSetIPConfiguration(let id, _, _),
             .vifSetLockingMode(let id, _), .vifMove(let id, _), .pciPlug(let id), .pciUnplug(let id),
             .vgpuSetActive(let id, _):
            id.vm
        case .serial(let vm, _, _), .parallel(let vm, _, _), .nestedParallel(let vm, _, _): vm
        case .bestEffort(let atomic): atomic.vm
        }
    }

    /// Progress weight (xenopsd's `weight_of_atomic`).
    var weight: Double {
        switch self {
        case .vmSave, .vmRestore: 10
        default: 1
        }
    }

    public var json: JSON {
        func tag(_ name: String, _ payload: JSON) -> JSON { .array([.string(name), payload]) }
        return switch self {
        case .vmCreate(let id): tag("VM_create", .string(id))
        case .vmBuild(let id, let force): tag("VM_build", .array([.string(id), .bool(force)]))
        case .vmCreateDeviceModel(let id, let save): tag("VM_create_device_model", .array([.string(id), .bool(save)]))
        case .vmDestroyDeviceModel(let id): tag("VM_destroy_device_model", .string(id))
        case .vmDestroy(let id): tag("VM_destroy", .string(id))
        case .vmPause(let id): tag("VM_pause", .string(id))
        case .vmUnpause(let id): tag("VM_unpause", .string(id))
        case .vmSetVcpus(let id, let n): tag("VM_set_vcpus", .array([.string(id), .int(n)]))
        case .vmSetMemoryDynamicRange(let id, let min, let max):
            tag("VM_set_memory_dynamic_range", .array([.string(id), .int(Int(min)), .int(Int(max))]))
        case .vmSetDomainActionRequest(let id, let request):
            tag("VM_set_domain_action_request", .array([.string(id), request.map { .string($0.rawValue) } ?? .null]))
        case .vmShutdownDomain(let id, let request, let timeout):
            tag("VM_shutdown_domain", .array([.string(id), request.json, .double(timeout)]))
        case .vmSave(let id): tag("VM_save", .string(id))
        case .vmRestore(let id): tag("VM_restore", .string(id))
        case .vmDelay(let id, let seconds): tag("VM_delay", .array([.string(id), .double(seconds)]))
        case .vmSoftreboot(let id): tag("VM_softreboot", .string(id))
        case .vmRemove(let id): tag("VM_remove", .string(id))
        case .vmRename(let from, let to, let when): tag("VM_rename", .array([.string(from), .string(to), .string(when.rawValue)]))
        case .vbdSetActive(let id, let on): tag("VBD_set_active", .array([id.json, .bool(on)]))
        case .vbdPlug(let id): tag("VBD_plug", id.json)
        case .vbdUnplug(let id, let force): tag("VBD_unplug", .array([id.json, .bool(force)]))
        case .vbdInsert(let id, let disk): tag("VBD_insert", .array([id.json, disk.json]))
        case .vbdEject(let id): tag("VBD_eject", id.json)
        case .vifSetActive(let id, let on): tag("VIF_set_active", .array([id.json, .bool(on)]))
        case .vifPlug(let id): tag("VIF_plug", id.json)
        case .vifUnplug(let id, let force): tag("VIF_unplug", .array([id.json, .bool(force)]))
        case .vifSetIPConfiguration(let id, let ipv6, let configuration):
            tag(ipv6 ? "VIF_set_ipv6_configuration" : "VIF_set_ipv4_configuration", .array([id.json, configuration.json]))
        case .vifSetLockingMode(let id, let mode): tag("VIF_set_locking_mode", .array([id.json, mode.json]))
        case .vifMove(let id, let bridge): tag("VIF_move", .array([id.json, .array([.string("Local"), .string(bridge)])]))
        case .pciPlug(let id): tag("PCI_plug", id.json)
        case .pciUnplug(let id): tag("PCI_unplug", id.json)
        case .vgpuSetActive(let id, let on): tag("VGPU_set_active", .array([id.json, .bool(on)]))
        case .serial(let vm, let description, let atoms):
            tag("Serial", .array([.string(vm), .string(description), .array(atoms.map(\.json))]))
        case .parallel(let vm, let description, let atoms):
            tag("Parallel", .array([.string(vm), .string(description), .array(atoms.map(\.json))]))
        case .nestedParallel(let vm, let description, let atoms):
            tag("Nested_parallel", .array([.string(vm), .string(description), .array(atoms.map(\.json))]))
        case .bestEffort(let atomic): tag("Best_effort", atomic.json)
        }
    }
}

/// A queued operation with the task it reports to (xenopsd's `Work.t`).
struct WorkItem: QueueItem {
    let operation: Operation
    let task: TaskHandle

    var coalescingKey: Operation? { operation.isCheckState ? operation : nil }
    var description: JSON { operation.json }
}

/// One parallel atom queued as its own task.
struct AtomItem: QueueItem {
    let atomic: Atomic
    let task: TaskHandle
    /// The task whose operation spawned it (cancelled with it).
    let parent: TaskHandle

    var coalescingKey: Never? { nil }
    var description: JSON { .array([.string("Atomic"), atomic.json]) }
}

extension VIFConfig.IPConfiguration {
    var json: JSON {
        switch self {
        case .unspecified: .array([.string("Unspecified")])
        case .static(let addresses, let gateway):
            .array([.string("Static"), .array(addresses.map(JSON.string)), gateway.map(JSON.string) ?? .null])
        }
    }
}

extension VIFConfig.LockingMode {
    var json: JSON {
        switch self {
        case .unlocked: .array([.string("Unlocked")])
        case .disabled: .array([.string("Disabled")])
        case .locked(let ipv4, let ipv6):
            .array([.string("Locked"), .object([.init("ipv4", .array(ipv4.map(JSON.string))), .init("ipv6", .array(ipv6.map(JSON.string)))])])
        }
    }
}
