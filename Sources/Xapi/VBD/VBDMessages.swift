import XapiDB

/// VBD hot-plug through Xenops (`DeviceLifecycle`): foreground work from arrival to barrier.
enum VBDMessages {
    static let table = ClassHandlers("VBD", foreground: ["eject", "insert", "plug", "unplug", "unplug_force"], [
        "plug": { call in try await DeviceLifecycle.plugVBD(call) },
        "unplug": { call in try await DeviceLifecycle.unplugVBD(call, force: false) },
        "unplug_force": { call in try await DeviceLifecycle.unplugVBD(call, force: true) },
        "insert": { call in try await DeviceLifecycle.insert(call) },
        "eject": { call in try await DeviceLifecycle.eject(call) },
    ])
}
