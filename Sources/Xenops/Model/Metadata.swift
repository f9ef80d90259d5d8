import Wire
/// What xapi pushes to xenopsd about a VM (xenopsd's `Vm.t`): its configuration, not its state.
public struct VMConfig: Sendable, Hashable {
    public enum DomainKind: String, Sendable, Hashable {
        case hvm = "HVM", pv = "PV", pvh = "PVH", pvInPVH = "PVinPVH"
    }

    /// What to do when the domain asks for attention (xenopsd's `Vm.action`).
    public enum Action: String, Sendable, Hashable {
        case coredump = "Coredump", shutdown = "Shutdown", start = "Start", pause = "Pause"
        case softreboot = "Softreboot"
    }

    public var id: String
    public var name: String
    public var kind: DomainKind
    public var memoryStaticMax: Int64
    public var memoryDynamicMax: Int64
    public var memoryDynamicMin: Int64
    public var vcpuMax: Int
    public var vcpus: Int
    public var onShutdown: [Action]
    public var onReboot: [Action]
    public var onCrash: [Action]
    public var onSoftreboot: [Action]
    public var platformData: [String: String]
    /// Written under `/local/domain/<d>/vm-data` and friends at domain creation.
    public var xsData: [String: String]
    public var biosStrings: [String: String]
    public var hasVendorDevice: Bool

    public init(
        id: String, name: String = "", kind: DomainKind = .hvm,
        memoryStaticMax: Int64 = 1 << 30, memoryDynamicMax: Int64? = nil, memoryDynamicMin: Int64? = nil,
        vcpuMax: Int = 1, vcpus: Int? = nil,
        onShutdown: [Action] = [.shutdown], onReboot: [Action] = [.start], onCrash: [Action] = [.shutdown],
        onSoftreboot: [Action] = [.softreboot],
        platformData: [String: String] = [:], xsData: [String: String] = [:], biosStrings: [String: String] = [:],
        hasVendorDevice: Bool = false
    ) {
        self.id = id
        self.name = name
        self.kind = kind
        self.memoryStaticMax = memoryStaticMax
        self.memoryDynamicMax = memoryDynamicMax ?? memoryStaticMax
        self.memoryDynamicMin = memoryDynamicMin ?? memoryStaticMax
        self.vcpuMax = vcpuMax
        self.vcpus = vcpus ?? vcpuMax
        self.onShutdown = onShutdown
        self.onReboot = onReboot
        self.onCrash = onCrash
        self.onSoftreboot = onSoftreboot
        self.platformData = platformData
        self.xsData = xsData
        self.biosStrings = biosStrings
        self.hasVendorDevice = hasVendorDevice
    }
}

/// What a VBD is backed by (xenopsd's `disk`).
public enum Disk: Sendable, Hashable, CustomStringConvertible {
    /// A storage-manager VDI, `"sr-uuid/vdi-location"`.
    case vdi(String)
    /// A file or block device in dom0.
    case local(String)

    public var description: String {
        switch self {
        case .vdi(let path): "VDI \(path)"
        case .local(let path): "Local \(path)"
        }
    }

    var json: JSON {
        switch self {
        case .vdi(let path): .array([.string("VDI"), .string(path)])
        case .local(let path): .array([.string("Local"), .string(path)])
        }
    }

    init?(json text: String) {
        if text.hasPrefix("VDI ") {
            self = .vdi(String(text.dropFirst(4)))
        } else if text.hasPrefix("Local ") {
            self = .local(String(text.dropFirst(6)))
        } else {
            return nil
        }
    }
}

/// xenopsd's `Vbd.t`.
public struct VBDConfig: Sendable, Hashable {
    public enum Mode: String, Sendable, Hashable { case readOnly = "ReadOnly", readWrite = "ReadWrite" }
    public enum Kind: String, Sendable, Hashable { case disk = "Disk", cdrom = "CDROM", floppy = "Floppy" }

    /// `(vm, linux device name)`, e.g. `xvda`.
    public var id: DeviceID
    /// The disk number (xapi's `userdevice`); with `id.device` it fixes the xenstore devid.
    public var position: Int
    public var mode: Mode
    /// nil = an empty CD drive.
    public var backend: Disk?
    public var kind: Kind
    public var unpluggable: Bool
    public var extraBackendKeys: [String: String]

    public init(
        id: DeviceID, position: Int? = nil, mode: Mode = .readWrite, backend: Disk?, kind: Kind = .disk,
        unpluggable: Bool = true, extraBackendKeys: [String: String] = [:]
    ) {
        self.id = id
        self.position = position ?? DeviceNumber(linuxName: id.device)?.disk ?? 0
        self.mode = mode
        self.backend = backend
        self.kind = kind
        self.unpluggable = unpluggable
        self.extraBackendKeys = extraBackendKeys
    }

    /// The xenstore devid (51712 for xvda).
    var devid: Int {
        (DeviceNumber(linuxName: id.device) ?? DeviceNumber(bus: .xen, disk: position)).xenstoreKey
    }
}

/// xenopsd's `Vif.t`.
public struct VIFConfig: Sendable, Hashable {
    /// xenopsd's `Vif.locking_mode`: what traffic the switch lets the VIF send.
    public enum LockingMode: Sendable, Hashable {
        case unlocked, disabled
        /// Only from these addresses.
        case locked(ipv4: [String], ipv6: [String])
    }

    /// xenopsd's `ipv4_configuration` and `ipv6_configuration`: the address the guest agent is
    /// asked to give the interface.
    public enum IPConfiguration: Sendable, Hashable {
        case unspecified
        /// Addresses in CIDR form, the first one used.
        case `static`(addresses: [String], gateway: String?)
    }

    /// `(vm, index)`, e.g. `"0"`.
    public var id: DeviceID
    public var position: Int
    /// `""` or `"random"` asks `VIF.add` to generate one.
    public var mac: String
    public var mtu: Int
    /// The dom0 bridge (xenopsd's `Network.Local`).
    public var bridge: String
    public var carrier: Bool
    public var lockingMode: LockingMode
    public var ipv4: IPConfiguration
    public var ipv6: IPConfiguration
    public var otherConfig: [String: String]

    public init(
        id: DeviceID, position: Int? = nil, mac: String = "", mtu: Int = 1500, bridge: String = "xenbr0",
        carrier: Bool = true, lockingMode: LockingMode = .unlocked, ipv4: IPConfiguration = .unspecified,
        ipv6: IPConfiguration = .unspecified, otherConfig: [String: String] = [:]
    ) {
        self.id = id
        self.position = position ?? Int(id.device) ?? 0
        self.mac = mac
        self.mtu = mtu
        self.bridge = bridge
        self.carrier = carrier
        self.lockingMode = lockingMode
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.otherConfig = otherConfig
    }
}

/// xenopsd's `Pci.t`: a passed-through host device.
public struct PCIConfig: Sendable, Hashable {
    public var id: DeviceID
    public var position: Int
    /// `"0000:04:00.0"`.
    public var address: String
    public var msiTranslate: Bool
    public var powerManagement: Bool

    public init(id: DeviceID, position: Int = 0, address: String, msiTranslate: Bool = false, powerManagement: Bool = false) {
        self.id = id
        self.position = position
        self.address = address
        self.msiTranslate = msiTranslate
        self.powerManagement = powerManagement
    }
}

/// xenopsd's `Vgpu.t`.
public struct VGPUConfig: Sendable, Hashable {
    public var id: DeviceID
    public var position: Int
    public var physicalPCIAddress: String
    /// `"GVT_g"`, `"Nvidia"`, `"MxGPU"`, `"Empty"`.
    public var implementation: String

    public init(id: DeviceID, position: Int = 0, physicalPCIAddress: String, implementation: String = "Nvidia") {
        self.id = id
        self.position = position
        self.physicalPCIAddress = physicalPCIAddress
        self.implementation = implementation
    }
}

/// A VM with its devices, as xapi pushes it (`VM.import_metadata`).
public struct VMMetadata: Sendable, Hashable {
    public var vm: VMConfig
    public var vbds: [VBDConfig]
    public var vifs: [VIFConfig]
    public var pcis: [PCIConfig]
    public var vgpus: [VGPUConfig]

    public init(vm: VMConfig, vbds: [VBDConfig] = [], vifs: [VIFConfig] = [], pcis: [PCIConfig] = [], vgpus: [VGPUConfig] = []) {
        self.vm = vm
        self.vbds = vbds
        self.vifs = vifs
        self.pcis = pcis
        self.vgpus = vgpus
    }

    /// The same VM and devices under another id (what xenopsd's migration does to the exported
    /// metadata, replacing the uuid with the destination's temporary one).
    public func renamed(to id: String) -> VMMetadata {
        var copy = self
        copy.vm.id = id
        for i in copy.vbds.indices { copy.vbds[i].id = DeviceID(vm: id, device: copy.vbds[i].id.device) }
        for i in copy.vifs.indices { copy.vifs[i].id = DeviceID(vm: id, device: copy.vifs[i].id.device) }
        for i in copy.pcis.indices { copy.pcis[i].id = DeviceID(vm: id, device: copy.pcis[i].id.device) }
        for i in copy.vgpus.indices { copy.vgpus[i].id = DeviceID(vm: id, device: copy.vgpus[i].id.device) }
        return copy
    }
}
