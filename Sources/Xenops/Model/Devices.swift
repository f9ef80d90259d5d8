/// The kinds of device xapi pushes to xenopsd, named as in its API (`VBD.plug`, `VIF.stat`…).
public enum DeviceKind: String, Sendable, Hashable, CaseIterable {
    case vbd = "VBD", vif = "VIF", pci = "PCI", vgpu = "VGPU"

    /// The directory name under a domain's `device/` and the `/vm/<uuid>/devices/` flags.
    var xenstoreName: String { rawValue.lowercased() }

    /// The id a signal about this device carries.
    func dynamic(_ id: DeviceID) -> Dynamic {
        switch self {
        case .vbd: .vbd(id)
        case .vif: .vif(id)
        case .pci: .pci(id)
        case .vgpu: .vgpu(id)
        }
    }
}

/// What xenopsd keeps alike for every kind of device (`Vbd.t`, `Vif.t`, `Pci.t`, `Vgpu.t`): an id
/// within its VM, a position that orders the VM's devices, and a state that says whether it is
/// plugged. One generic `DeviceOperations` serves them all.
public protocol DeviceConfig: Sendable, Hashable {
    associatedtype State: DeviceState
    static var kind: DeviceKind { get }
    var id: DeviceID { get }
    var position: Int { get }
}

/// A device's state as `stat` reports it.
public protocol DeviceState: Sendable, Hashable {
    var plugged: Bool { get }
}

extension VBDConfig: DeviceConfig { public typealias State = VBDState; public static var kind: DeviceKind { .vbd } }
extension VIFConfig: DeviceConfig { public typealias State = VIFState; public static var kind: DeviceKind { .vif } }
extension PCIConfig: DeviceConfig { public typealias State = PCIState; public static var kind: DeviceKind { .pci } }
extension VGPUConfig: DeviceConfig { public typealias State = VGPUState; public static var kind: DeviceKind { .vgpu } }

extension VBDState: DeviceState {}
extension VIFState: DeviceState {}
extension PCIState: DeviceState {}
extension VGPUState: DeviceState {}
