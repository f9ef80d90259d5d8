import XapiDB
import Xenops

/// VBD and VIF hot-plug on a running VM, and CD media changes (xapi_xenops.ml `vbd_plug`,
/// `vbd_unplug`, `vbd_insert`, `vbd_eject`, `vif_plug`, `vif_unplug`): the device is added to
/// xenops, plugged as a task, and the VM refreshed behind a barrier so `currently_attached`
/// is current when the call returns.
enum DeviceLifecycle {
    /// (VM ref, VM uuid, power state) of a device's VM.
    private static func owner(_ call: Call, table: Int, _ device: String) throws(XapiError) -> (String, String, String) {
        let t = call.tables
        return try call.database.read { s throws(XapiError) in
            let vm = try s.get(table, device, "VM").stringValue ?? nullRef
            guard s.contains(t.vm, vm) else { throw .handleInvalid(class: "VM", ref: vm) }
            return (vm, try s.get(t.vm, vm, "uuid").stringValue ?? "", try s.get(t.vm, vm, "power_state").stringValue ?? "")
        }
    }

    private static func requireRunning(_ vm: String, _ power: String) throws(XapiError) {
        guard power == "Running" else { throw .vmBadPowerState(vm: vm, expected: ["running"], actual: power.lowercased()) }
    }

    static func plugVBD(_ call: Call) async throws -> Value {
        let bridge = try Lifecycle.bridge(call)
        let t = call.tables
        let vbd = call.string(0)
        let (vm, uuid, power) = try owner(call, table: t.vbd, vbd)
        try requireRunning(vm, power)
        let config = try call.database.read { s throws(XapiError) -> VBDConfig? in
            if try s.get(t.vbd, vbd, "currently_attached") == .bool(true) { throw .deviceAlreadyAttached(device: vbd) }
            return try XenopsMetadata.vbdConfig(vbd, vmUUID: uuid, hvm: true, in: s, tables: t)
        }
        guard let config else { throw XapiError.internalError("VBD \(vbd) has no device configuration") }
        _ = try? bridge.xenops.vbd.add(config)
        try await bridge.sync(bridge.xenops.vbd.plug(config.id), xapiTask: call.task, vm: vm, device: vbd)
        await bridge.refresh(vm: uuid)
        return .emptyString
    }

    static func unplugVBD(_ call: Call, force: Bool) async throws -> Value {
        let bridge = try Lifecycle.bridge(call)
        let t = call.tables
        let vbd = call.string(0)
        let (vm, uuid, power) = try owner(call, table: t.vbd, vbd)
        try requireRunning(vm, power)
        let device = try call.database.read { s throws(XapiError) -> DeviceID in
            if try s.get(t.vbd, vbd, "currently_attached") != .bool(true) { throw .deviceAlreadyDetached(device: vbd) }
            let position = Int(try s.get(t.vbd, vbd, "userdevice").stringValue ?? "") ?? 0
            return DeviceID(vm: uuid, device: XenopsMetadata.deviceName(position))
        }
        try await bridge.sync(bridge.xenops.vbd.unplug(device, force: force), xapiTask: call.task, vm: vm, device: vbd)
        await bridge.refresh(vm: uuid)
        return .emptyString
    }

    /// `VBD.insert(vbd, vdi)`: a disc into an empty CD drive; live when the VM runs.
    static func insert(_ call: Call) async throws -> Value {
        let t = call.tables
        let (vbd, vdi) = (call.string(0), call.string(1))
        let (vm, uuid, power) = try owner(call, table: t.vbd, vbd)
        let (device, disk) = try call.database.read { s throws(XapiError) -> (DeviceID, Disk?) in
            guard s.contains(t.vdi, vdi) else { throw .handleInvalid(class: "VDI", ref: vdi) }
            guard try s.get(t.vbd, vbd, "type") == .string("CD") else { throw .vbdNotRemovableMedia(vbd: vbd) }
            guard try s.get(t.vbd, vbd, "empty") == .bool(true) else { throw .vbdNotEmpty(vbd: vbd) }
            let position = Int(try s.get(t.vbd, vbd, "userdevice").stringValue ?? "") ?? 0
            return (DeviceID(vm: uuid, device: XenopsMetadata.deviceName(position)), try XenopsMetadata.disk(of: vdi, in: s, tables: t))
        }
        if power == "Running", let bridge = call.api.bridge, let disk {
            try await bridge.sync(bridge.xenops.vbd.insert(device, disk), xapiTask: call.task, vm: vm, device: vbd)
        }
        try call.database.write { s throws(XapiError) in
            try s.set(t.vbd, vbd, "VDI", .string(vdi))
            try s.set(t.vbd, vbd, "empty", .bool(false))
            DeviceOperations.refreshVBD(vbd, in: &s, tables: t)
        }
        if power == "Running", let bridge = call.api.bridge { await bridge.refresh(vm: uuid) }
        return .emptyString
    }

    static func eject(_ call: Call) async throws -> Value {
        let t = call.tables
        let vbd = call.string(0)
        let (vm, uuid, power) = try owner(call, table: t.vbd, vbd)
        let device = try call.database.read { s throws(XapiError) -> DeviceID in
            guard try s.get(t.vbd, vbd, "type") == .string("CD") else { throw .vbdNotRemovableMedia(vbd: vbd) }
            guard try s.get(t.vbd, vbd, "empty") == .bool(false) else { throw .vbdIsEmpty(vbd: vbd) }
            let position = Int(try s.get(t.vbd, vbd, "userdevice").stringValue ?? "") ?? 0
            return DeviceID(vm: uuid, device: XenopsMetadata.deviceName(position))
        }
        if power == "Running", let bridge = call.api.bridge {
            try await bridge.sync(bridge.xenops.vbd.eject(device), xapiTask: call.task, vm: vm, device: vbd)
        }
        try call.database.write { s throws(XapiError) in
            try s.set(t.vbd, vbd, "VDI", .string(nullRef))
            try s.set(t.vbd, vbd, "empty", .bool(true))
            DeviceOperations.refreshVBD(vbd, in: &s, tables: t)
        }
        if power == "Running", let bridge = call.api.bridge { await bridge.refresh(vm: uuid) }
        return .emptyString
    }

    static func plugVIF(_ call: Call) async throws -> Value {
        let bridge = try Lifecycle.bridge(call)
        let t = call.tables
        let vif = call.string(0)
        let (vm, uuid, power) = try owner(call, table: t.vif, vif)
        try requireRunning(vm, power)
        let config = try call.database.read { s throws(XapiError) -> VIFConfig in
            if try s.get(t.vif, vif, "currently_attached") == .bool(true) { throw .deviceAlreadyAttached(device: vif) }
            return try XenopsMetadata.vifConfig(vif, vmUUID: uuid, in: s, tables: t)
        }
        _ = try? bridge.xenops.vif.add(config)
        try await bridge.sync(bridge.xenops.vif.plug(config.id), xapiTask: call.task, vm: vm, device: vif)
        await bridge.refresh(vm: uuid)
        return .emptyString
    }

    static func unplugVIF(_ call: Call, force: Bool) async throws -> Value {
        let bridge = try Lifecycle.bridge(call)
        let t = call.tables
        let vif = call.string(0)
        let (vm, uuid, power) = try owner(call, table: t.vif, vif)
        try requireRunning(vm, power)
        let device = try call.database.read { s throws(XapiError) -> DeviceID in
            if try s.get(t.vif, vif, "currently_attached") != .bool(true) { throw .deviceAlreadyDetached(device: vif) }
            return DeviceID(vm: uuid, device: try s.get(t.vif, vif, "device").stringValue ?? "0")
        }
        try await bridge.sync(bridge.xenops.vif.unplug(device, force: force), xapiTask: call.task, vm: vm, device: vif)
        await bridge.refresh(vm: uuid)
        return .emptyString
    }
}
