import XapiDB
import Xenops

/// VBD and VIF hot-plug on a running VM, and CD media changes (xapi_xenops.ml `vbd_plug`,
/// `vbd_unplug`, `vbd_insert`, `vbd_eject`, `vif_plug`, `vif_unplug`): the device is added to
/// xenops, plugged as a task, and the VM refreshed behind a barrier so `currently_attached`
/// is current when the call returns.
enum DeviceLifecycle {
    /// (VM ref, VM uuid, power state) of a device's VM.
    private static func owner<Name: DeviceFieldName>(_ call: Call, table: TableFields<Name>,
                                                     _ device: String) throws(XapiError) -> (String, String, String) {
        let t = call.tables
        return try call.database.read { s throws(XapiError) in
            let vm = try s.get(table, device, .vm).stringValue ?? nullRef
            guard s.contains(t.vm, vm) else { throw .handleInvalid(class: "VM", ref: vm) }
            return (vm, try s.get(t.vm, vm, .uuid).stringValue ?? "", try s.get(t.vm, vm, .powerState).stringValue ?? "")
        }
    }

    private static func requireRunning(_ vm: String, _ power: String) throws(XapiError) {
        guard power == "Running" else { throw .vmBadPowerState(vm: vm, expected: ["running"], actual: power.lowercased()) }
    }

    static func plugVBD(_ call: Call) async throws -> Value {
        try await hotplug(call, table: call.tables.vbd, attach: true) { s, vbd, uuid, xenops throws(XapiError) in
            guard let config = try XenopsMetadata.vbdConfig(vbd, vmUUID: uuid, hvm: true, in: s, tables: call.tables) else {
                throw .internalError("VBD \(vbd) has no device configuration")
            }
            _ = try? xenops.vbd.add(config)
            return xenops.vbd.plug(config.id)
        }
    }

    static func unplugVBD(_ call: Call, force: Bool) async throws -> Value {
        try await hotplug(call, table: call.tables.vbd, attach: false) { s, vbd, uuid, xenops throws(XapiError) in
            let position = Int(try s.get(call.tables.vbd, vbd, .userdevice).stringValue ?? "") ?? 0
            return xenops.vbd.unplug(DeviceID(vm: uuid, device: XenopsMetadata.deviceName(position)), force: force)
        }
    }

    static func plugVIF(_ call: Call) async throws -> Value {
        try await hotplug(call, table: call.tables.vif, attach: true) { s, vif, uuid, xenops throws(XapiError) in
            let config = try XenopsMetadata.vifConfig(vif, vmUUID: uuid, in: s, tables: call.tables)
            _ = try? xenops.vif.add(config)
            return xenops.vif.plug(config.id)
        }
    }

    static func unplugVIF(_ call: Call, force: Bool) async throws -> Value {
        try await hotplug(call, table: call.tables.vif, attach: false) { s, vif, uuid, xenops throws(XapiError) in
            xenops.vif.unplug(DeviceID(vm: uuid, device: try s.get(call.tables.vif, vif, .device).stringValue ?? "0"), force: force)
        }
    }

    /// Hot-plug (`attach`, under event suppression) or unplug of a device of a running VM:
    /// `queue` hands the device to Xenops and returns the task; the VM is refreshed behind a
    /// barrier afterwards.
    private static func hotplug<Name: DeviceFieldName>(_ call: Call, table: TableFields<Name>, attach: Bool,
                                _ queue: @escaping (DatabaseState, String, String, Xenops) throws(XapiError) -> String) async throws -> Value {
        let device = try call.string("self")
        let (vm, uuid, power) = try owner(call, table: table, device)
        try requireRunning(vm, power)
        let bridge = try Lifecycle.bridge(call, vm: vm)
        func queued() throws(XapiError) -> String {
            try call.database.read { s throws(XapiError) -> String in
                let attached = try s.get(table, device, .currentlyAttached) == .bool(true)
                if attach, attached { throw .deviceAlreadyAttached(device: device) }
                if !attach, !attached { throw .deviceAlreadyDetached(device: device) }
                return try queue(s, device, uuid, bridge.xenops)
            }
        }
        try await bridge.foreground(vm: uuid) {
            if attach {
                // As xapi's vbd_plug and vif_plug: the VM's events are ignored from the device's
                // add until it is plugged, then a refresh and a barrier settle the database.
                try await bridge.withSuppressed(vm: uuid) {
                    try await bridge.sync(try queued(), xapiTask: call.task, vm: vm, device: device)
                }
            } else {
                try await bridge.sync(try queued(), xapiTask: call.task, vm: vm, device: device)
                await bridge.refresh(vm: uuid)
            }
        }
        return .emptyString
    }

    /// `body` as foreground work for the VM (`XenopsBridge.foreground`), when Xenops runs.
    private static func foreground(_ call: Call, vm uuid: String, _ body: () async throws -> Void) async throws {
        try await call.api.bridges.foreground(vm: uuid, body)
    }

    /// `VBD.insert(vbd, vdi)`: a disc into an empty CD drive; live when the VM runs.
    static func insert(_ call: Call) async throws -> Value {
        let t = call.tables
        let (vbd, vdi) = (try call.string("vbd"), try call.string("vdi"))
        let (vm, uuid, power) = try owner(call, table: t.vbd, vbd)
        let (device, disk) = try call.database.read { s throws(XapiError) -> (DeviceID, Disk?) in
            guard s.contains(t.vdi, vdi) else { throw .handleInvalid(class: "VDI", ref: vdi) }
            guard try s.get(t.vbd, vbd, .type) == .string("CD") else { throw .vbdNotRemovableMedia(vbd: vbd) }
            guard try s.get(t.vbd, vbd, .empty) == .bool(true) else { throw .vbdNotEmpty(vbd: vbd) }
            let position = Int(try s.get(t.vbd, vbd, .userdevice).stringValue ?? "") ?? 0
            return (DeviceID(vm: uuid, device: XenopsMetadata.deviceName(position)), try XenopsMetadata.disk(of: vdi, in: s, tables: t))
        }
        try await foreground(call, vm: uuid) {
            if power == "Running", let bridge = try? Lifecycle.bridge(call, vm: vm), let disk {
                try await bridge.sync(bridge.xenops.vbd.insert(device, disk), xapiTask: call.task, vm: vm, device: vbd)
            }
            try call.database.write { s throws(XapiError) in
                try s.set(t.vbd, vbd, .vdi, .string(vdi))
                try s.set(t.vbd, vbd, .empty, .bool(false))
                DeviceOperations.refreshVBD(vbd, in: &s, tables: t)
            }
            if power == "Running", let bridge = try? Lifecycle.bridge(call, vm: vm) { await bridge.refresh(vm: uuid) }
        }
        return .emptyString
    }

    static func eject(_ call: Call) async throws -> Value {
        let t = call.tables
        let vbd = try call.string("vbd")
        let (vm, uuid, power) = try owner(call, table: t.vbd, vbd)
        let device = try call.database.read { s throws(XapiError) -> DeviceID in
            guard try s.get(t.vbd, vbd, .type) == .string("CD") else { throw .vbdNotRemovableMedia(vbd: vbd) }
            guard try s.get(t.vbd, vbd, .empty) == .bool(false) else { throw .vbdIsEmpty(vbd: vbd) }
            let position = Int(try s.get(t.vbd, vbd, .userdevice).stringValue ?? "") ?? 0
            return DeviceID(vm: uuid, device: XenopsMetadata.deviceName(position))
        }
        try await foreground(call, vm: uuid) {
            if power == "Running", let bridge = try? Lifecycle.bridge(call, vm: vm) {
                try await bridge.sync(bridge.xenops.vbd.eject(device), xapiTask: call.task, vm: vm, device: vbd)
            }
            try call.database.write { s throws(XapiError) in
                try s.set(t.vbd, vbd, .vdi, .string(nullRef))
                try s.set(t.vbd, vbd, .empty, .bool(true))
                DeviceOperations.refreshVBD(vbd, in: &s, tables: t)
            }
            if power == "Running", let bridge = try? Lifecycle.bridge(call, vm: vm) { await bridge.refresh(vm: uuid) }
        }
        return .emptyString
    }

}

/// The fields VBDs and VIFs share, for the code that plugs either.
protocol DeviceFieldName: FieldName {
    static var vm: Self { get }
    static var currentlyAttached: Self { get }
}

extension VBDField: DeviceFieldName {}
extension VIFField: DeviceFieldName {}
