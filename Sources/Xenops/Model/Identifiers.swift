public import Wire
/// A device of a VM, as xenopsd names it: `(vm uuid, name)` where the name is the Linux device
/// for VBDs (`"xvda"`), the index for VIFs (`"0"`), and the slot for PCI devices and vGPUs.
public struct DeviceID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var vm: String
    public var device: String

    public init(vm: String, device: String) {
        self.vm = vm
        self.device = device
    }

    public var description: String { "\(vm).\(device)" }

    public static func < (a: DeviceID, b: DeviceID) -> Bool {
        (a.vm, a.device) < (b.vm, b.device)
    }

    var json: JSON { .array([.string(vm), .string(device)]) }
}

/// What changed, as a signal in an `Updates` table: ids, never data (the reader stats the
/// object), which is what makes repeated signals safe to coalesce.
public enum Dynamic: Hashable, Sendable, CustomStringConvertible {
    case vm(String)
    case vbd(DeviceID)
    case vif(DeviceID)
    case pci(DeviceID)
    case vgpu(DeviceID)
    case task(String)

    /// The VM this id belongs to; nil for tasks (barrier snapshots never include them).
    public var vm: String? {
        switch self {
        case .vm(let id): id
        case .vbd(let id), .vif(let id), .pci(let id), .vgpu(let id): id.vm
        case .task: nil
        }
    }

    /// xenopsd's rpclib form: `["Vm","uuid"]`, `["Vbd",["uuid","xvda"]]`, `["Task","12"]`.
    public var json: JSON {
        switch self {
        case .vm(let id): .array([.string("Vm"), .string(id)])
        case .vbd(let id): .array([.string("Vbd"), id.json])
        case .vif(let id): .array([.string("Vif"), id.json])
        case .pci(let id): .array([.string("Pci"), id.json])
        case .vgpu(let id): .array([.string("Vgpu"), id.json])
        case .task(let id): .array([.string("Task"), .string(id)])
        }
    }

    public var description: String { json.text }
}
