import XapiDB

/// VIF hot-plug through Xenops (`DeviceLifecycle`): foreground work from arrival to barrier.
enum VIFMessages {
    static let table = ClassHandlers("VIF", foreground: ["plug", "unplug", "unplug_force"], [
        "plug": { call in try await DeviceLifecycle.plugVIF(call) },
        "unplug": { call in try await DeviceLifecycle.unplugVIF(call, force: false) },
        "unplug_force": { call in try await DeviceLifecycle.unplugVIF(call, force: true) },    ])
}
