import XapiDB
import Xenops

/// VM power operations and device hot-plug, driven through Xenops as xapi drives xenopsd
/// (xen-api ocaml/xapi/xapi_xenops.ml, `start`, `shutdown`, `vbd_plug`…): validity checks and
/// `current_operations` first, then the xenops operation as a task whose progress and
/// cancellation are mirrored onto the call's task, then a barrier, so that the database shows
/// the result when the call returns.
enum Lifecycle {

    /// How long a clean shutdown or reboot waits for the guest (xenopsd's default for xapi).
    static let cleanTimeout = 1200.0

    /// The first host's xenopsd; NOT_IMPLEMENTED for the call when the API runs without any.
    @discardableResult
    static func requireXenops(_ call: Call) throws(XapiError) -> XenopsBridge {
        guard let first = call.api.bridges.all.first else { throw .notImplemented(call.message.wireName) }
        return first
    }

    /// The xenopsd of the host the VM runs on (its `resident_on`); the first host's for a VM
    /// that runs nowhere.
    static func bridge(_ call: Call, vm: String) throws(XapiError) -> XenopsBridge {
        let first = try requireXenops(call)
        let t = call.tables
        let host = try call.database.read { s throws(XapiError) in try s.get(t.vm, vm, .residentOn).stringValue ?? nullRef }
        return host == nullRef ? first : try call.api.bridge(onHost: host, for: call.message.wireName)
    }

    /// Before a start or resume: the host (the one asked for, or the pool's choice), room held
    /// for the VM there, and that host's xenopsd; nothing is held when this throws.
    static func place(_ call: Call, _ vm: String, on requested: String?,
                      in s: inout DatabaseState) throws(XapiError) -> (host: String, bridge: XenopsBridge) {
        let t = call.tables
        let host: String
        if let requested { host = requested } else { host = try HostSelection.choose(vm, in: s, t) }
        try Placement.reserve(vm, on: host, in: &s, t)
        return (host, try call.api.bridges.requireBridge(onHost: host, in: s, t))
    }

    static func uuid(_ call: Call, _ vm: String) throws(XapiError) -> String {
        let t = call.tables
        return try call.database.read { s throws(XapiError) in try s.get(t.vm, vm, .uuid).stringValue ?? "" }
    }

    /// xapi's start: push the metadata, queue start and (unless paused) unpause on the VM's
    /// queue, wait for both, record where the VM runs, then refresh behind a barrier.
    static func start(_ call: Call, operation: String, on requested: String?, paused: Bool, force: Bool) async throws -> Value {
        try requireXenops(call)
        let t = call.tables
        let vm = try call.string("vm")
        try await call.withVMOperation(vm, operation) {
            let (metadata, uuid, host, bridge) = try call.database.write { s throws(XapiError) in
                let (host, bridge) = try place(call, vm, on: requested, in: &s)
                // A start clears what the previous run's guest agent reported.
                if let guestMetrics = try s.get(t.vm, vm, .guestMetrics).stringValue, s.contains(t.vmGuestMetrics, guestMetrics) {
                    try s.delete(t.vmGuestMetrics, guestMetrics)
                }
                try s.update(t.vm, vm, .guestMetrics, .string(nullRef))
                return (try XenopsMetadata.build(vm: vm, in: s, tables: t), try s.get(t.vm, vm, .uuid).stringValue ?? "", host, bridge)
            }
            await bridge.waitUntilRunning()
            bridge.push(metadata)
            let startTask = bridge.xenops.vm.start(uuid, force: force)
            let unpauseTask = paused ? nil : bridge.xenops.vm.unpause(uuid)
            do {
                try await bridge.sync(startTask, xapiTask: call.task, vm: vm)
                if let unpauseTask { try await bridge.sync(unpauseTask, xapiTask: nil, vm: vm) }
            } catch {
                if let unpauseTask { try? await bridge.sync(unpauseTask, xapiTask: nil, vm: vm) }
                // xenops cleaned up after the failed start (check_state); nothing of it is attached.
                // (A halted VM is scheduled nowhere: the reset also releases the reservation.)
                try? call.database.write { s throws(XapiError) in try PowerStates.forceReset(vm, to: "Halted", in: &s, tables: t) }
                throw error
            }
            try setResident(call, vm, on: host)
            await bridge.refresh(vm: uuid)
        }
        return .emptyString
    }

    static func setResident(_ call: Call, _ vm: String, on host: String) throws(XapiError) {
        let t = call.tables
        try call.database.write { s throws(XapiError) in
            try s.update(t.vm, vm, .residentOn, .string(host))
            try s.update(t.vm, vm, .scheduledToBeResidentOn, .string(nullRef))
        }
    }

    /// `clean` true: the guest must cooperate; false: the domain is destroyed; nil (`VM.shutdown`):
    /// clean with a timeout, falling back to hard.
    static func shutdown(_ call: Call, operation: String, clean: Bool?) async throws -> Value {
        let t = call.tables
        let vm = try call.string("vm")
        try await call.withVMOperation(vm, operation) {
            let bridge = try bridge(call, vm: vm)
            let (power, uuid, delay) = try call.database.read { s throws(XapiError) in
                (try s.get(t.vm, vm, .powerState).stringValue ?? "", try s.get(t.vm, vm, .uuid).stringValue ?? "",
                 try s.get(t.vm, vm, .shutdownDelay).intValue ?? 0)
            }
            if power == "Suspended" {
                // No domain: forget the suspend image and the metadata, as xapi's hard_shutdown does.
                try call.database.write { s throws(XapiError) in
                    try discardSuspendImage(vm, in: &s, tables: t)
                    try PowerStates.forceReset(vm, to: "Halted", in: &s, tables: t)
                }
                for bridge in call.api.bridges.all { try? await bridge.xenops.vm.remove(uuid) }
                return
            }
            // Push the metadata as it stands during the shutdown (see XenopsMetadata.build).
            bridge.push(try call.database.read { s throws(XapiError) in try XenopsMetadata.build(vm: vm, in: s, tables: t) })
            let cleanFirst = clean ?? (power == "Running")
            if cleanFirst {
                let timeout = clean == nil && delay > 0 ? Double(delay) : cleanTimeout
                do {
                    try await bridge.sync(bridge.xenops.vm.shutdown(uuid, timeout: timeout), xapiTask: call.task, vm: vm)
                } catch let error as XapiError where clean == nil && error.code != "TASK_CANCELLED" {
                    try await bridge.sync(bridge.xenops.vm.shutdown(uuid, timeout: nil), xapiTask: call.task, vm: vm)
                }
            } else {
                try await bridge.sync(bridge.xenops.vm.shutdown(uuid, timeout: nil), xapiTask: call.task, vm: vm)
            }
            await bridge.barrier(vm: uuid)
        }
        return .emptyString
    }

    static func reboot(_ call: Call, operation: String, clean: Bool) async throws -> Value {
        let vm = try call.string("vm")
        try await call.withVMOperation(vm, operation) {
            let bridge = try bridge(call, vm: vm)
            let uuid = try uuid(call, vm)
            try await bridge.sync(bridge.xenops.vm.reboot(uuid, timeout: clean ? cleanTimeout : nil), xapiTask: call.task, vm: vm)
            await bridge.refresh(vm: uuid)
        }
        return .emptyString
    }

    /// The suspend image gets a VDI of the VM's memory size in its suspend SR (or the pool's).
    static let suspend: Handler = { call in
        let t = call.tables
        let vm = try call.string("vm")
        try await call.withVMOperation(vm, "suspend") {
            let bridge = try bridge(call, vm: vm)
            let uuid = try call.database.write { s throws(XapiError) -> String in
                let pool = s.refs(t.pool).first ?? nullRef
                var sr = try s.get(t.vm, vm, .suspendSR).stringValue ?? nullRef
                if !s.contains(t.sr, sr) { sr = (try? s.get(t.pool, pool, .suspendImageSR).stringValue) ?? nullRef }
                if !s.contains(t.sr, sr) { sr = (try? s.get(t.pool, pool, .defaultSR).stringValue) ?? nullRef }
                guard s.contains(t.sr, sr) else { throw .vmRequiresSR(vm: vm, sr: sr) }
                let name = try s.get(t.vm, vm, .nameLabel).stringValue ?? ""
                let vdi = try s.create(t.vdi, [
                    .nameLabel: .string("Suspend image for \(name)"), .sr: .string(sr), .type: .string("suspend"),
                    .virtualSize: try s.get(t.vm, vm, .memoryStaticMax), .location: .string(Identifiers.uuid()),
                    .managed: .bool(true), .otherConfig: .emptyStructure,
                ])
                try VDIHandlers.accountVirtualAllocation(sr, in: &s, t)
                try s.set(t.vm, vm, .suspendVDI, .string(vdi))
                return try s.get(t.vm, vm, .uuid).stringValue ?? ""
            }
            try await bridge.sync(bridge.xenops.vm.suspend(uuid), xapiTask: call.task, vm: vm)
            await bridge.barrier(vm: uuid)
        }
        return .emptyString
    }

    static func resume(_ call: Call, operation: String, on requested: String?, paused: Bool, force: Bool) async throws -> Value {
        try requireXenops(call)
        let t = call.tables
        let vm = try call.string("vm")
        try await call.withVMOperation(vm, operation) {
            let (metadata, uuid, host, bridge) = try call.database.write { s throws(XapiError) in
                let (host, bridge) = try place(call, vm, on: requested, in: &s)
                return (try XenopsMetadata.build(vm: vm, in: s, tables: t), try s.get(t.vm, vm, .uuid).stringValue ?? "", host, bridge)
            }
            await bridge.waitUntilRunning()
            // As xapi's resume: the VM's events are ignored from the push until it runs here;
            // leaving the suppression refreshes it behind a barrier.
            try await bridge.withSuppressed(vm: uuid) {
                bridge.push(metadata)
                await takeSuspendImage(uuid, to: bridge, from: call.api.bridges)
                let resumeTask = bridge.xenops.vm.resume(uuid)
                let unpauseTask = paused ? nil : bridge.xenops.vm.unpause(uuid)
                do {
                    try await bridge.sync(resumeTask, xapiTask: call.task, vm: vm)
                    if let unpauseTask { try await bridge.sync(unpauseTask, xapiTask: nil, vm: vm) }
                } catch {
                    if let unpauseTask { try? await bridge.sync(unpauseTask, xapiTask: nil, vm: vm) }
                    try? call.database.write { s throws(XapiError) in try Placement.release(vm, in: &s, t) }
                    throw error
                }
                try call.database.write { s throws(XapiError) in try discardSuspendImage(vm, in: &s, tables: t) }
                try setResident(call, vm, on: host)
            }
        }
        return .emptyString
    }

    /// A VM resumed on another host than the one that suspended it: the image is read from the
    /// suspend disk, which both hosts see, and the old host's xenopsd forgets the VM.
    private static func takeSuspendImage(_ uuid: String, to bridge: XenopsBridge, from bridges: HostBridges) async {
        guard bridge.xenops.vm.suspendImage(uuid) == nil else { return }
        for holder in bridges.all where holder !== bridge {
            guard let image = holder.xenops.vm.suspendImage(uuid) else { continue }
            bridge.xenops.vm.setSuspendImage(uuid, image)
            try? await holder.xenops.vm.remove(uuid)
            return
        }
    }

    static func discardSuspendImage(_ vm: String, in s: inout DatabaseState, tables t: Tables) throws(XapiError) {
        let vdi = try s.get(t.vm, vm, .suspendVDI).stringValue ?? nullRef
        if s.contains(t.vdi, vdi) {
            let sr = try s.get(t.vdi, vdi, .sr).stringValue ?? nullRef
            try s.delete(t.vdi, vdi)
            try VDIHandlers.accountVirtualAllocation(sr, in: &s, t)
        }
        try s.update(t.vm, vm, .suspendVDI, .string(nullRef))
    }

    /// An operation that is one xenops task followed by a barrier (pause, unpause).
    static func simple(_ call: Call, operation: String, _ queue: (Xenops, String) -> String) async throws -> Value {
        let vm = try call.string("vm")
        try await call.withVMOperation(vm, operation) {
            let bridge = try bridge(call, vm: vm)
            let uuid = try uuid(call, vm)
            try await bridge.sync(queue(bridge.xenops, uuid), xapiTask: call.task, vm: vm)
            await bridge.barrier(vm: uuid)
        }
        return .emptyString
    }

    /// A running VM's new dynamic range to Xenops (xapi_xenops.ml `set_memory_dynamic_range`),
    /// which moves the balloon target; the barrier brings the new target back through events.
    static func setMemoryDynamicRange(_ call: Call, vm: String) async throws {
        let bridge = try bridge(call, vm: vm)
        let t = call.tables
        let (uuid, min, max) = try call.database.read { s throws(XapiError) in
            (try s.get(t.vm, vm, .uuid).stringValue ?? "", try s.get(t.vm, vm, .memoryDynamicMin).intValue ?? 0,
             try s.get(t.vm, vm, .memoryDynamicMax).intValue ?? 0)
        }
        try await bridge.sync(bridge.xenops.vm.setMemoryDynamicRange(uuid, min: min, max: max), xapiTask: call.task, vm: vm)
        await bridge.barrier(vm: uuid)
    }

    /// xen-api ocaml/xapi/xapi_vm.ml `set_VCPUs_number_live` and xapi_xenops.ml `set_vcpus`:
    /// vCPUs plugged or unplugged in the running domain, then `VCPUs_at_startup` and the
    /// metrics' `VCPUs_number` follow. A count outside 1…`VCPUs_max` is xapi's INVALID_VALUE.
    static let setVCPUsLive: Handler = { call in
        let t = call.tables
        let vm = try call.string("self")
        let count = try call.int("nvcpu")
        try await call.withVMOperation(vm, "changing_VCPUs_live") {
            let bridge = try bridge(call, vm: vm)
            let (uuid, max) = try call.database.read { s throws(XapiError) in
                (try s.get(t.vm, vm, .uuid).stringValue ?? "", try s.get(t.vm, vm, .vcpusMax).intValue ?? 0)
            }
            guard count > 0, count <= max else {
                throw XapiError.invalidValue(field: "VCPU values must satisfy: 0 < VCPUs ≤ VCPUs_max", value: String(count))
            }
            try await bridge.sync(bridge.xenops.vm.setVCPUs(uuid, Int(count)), xapiTask: call.task, vm: vm)
            try call.database.write { s throws(XapiError) in
                try s.update(t.vm, vm, .vcpusAtStartup, .int(count))
                try VMMemory.updateOverhead(vm, in: &s, t)
                if let metrics = try s.get(t.vm, vm, .metrics).stringValue, s.contains(t.vmMetrics, metrics) {
                    try s.update(t.vmMetrics, metrics, .vcpusNumber, .int(count))
                }
            }
            await bridge.barrier(vm: uuid)
        }
        return .emptyString
    }

    /// Marks the VM halted without touching any domain; refused for control domains.
    static let powerStateReset: Handler = { call in
        let t = call.tables
        let vm = try call.string("vm")
        try call.database.write { s throws(XapiError) in
            if try s.get(t.vm, vm, .isControlDomain) == .bool(true) { throw .cannotResetControlDomain(vm: vm) }
            try s.update(t.vm, vm, .currentOperations, .emptyStructure)
            try discardSuspendImage(vm, in: &s, tables: t)
            try PowerStates.forceReset(vm, to: "Halted", in: &s, tables: t)
        }
        return .emptyString
    }
}
