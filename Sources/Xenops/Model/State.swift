import Wire
/// xenopsd's `power_state`.
public enum PowerState: String, Sendable, Hashable {
    case running = "Running", halted = "Halted", suspended = "Suspended", paused = "Paused"
}

/// `VM.stat`'s state record (xenopsd's `Vm.state`): what xapi's `update_vm` reads.
public struct VMState: Sendable, Hashable {
    public struct Console: Sendable, Hashable {
        public enum Kind: String, Sendable, Hashable { case rfb = "Rfb", vt100 = "Vt100" }
        public var `protocol`: Kind
        public var port: Int
        public var path: String
    }

    public enum DomainType: String, Sendable, Hashable {
        case hvm = "Domain_HVM", pv = "Domain_PV", pvInPVH = "Domain_PVinPVH", pvh = "Domain_PVH"
        case undefined = "Domain_undefined"
    }

    /// One guest-agent key relative to `/local/domain/<d>` and its value.
    public struct GuestAgentEntry: Sendable, Hashable {
        public var path: String
        public var value: String
    }

    public var powerState: PowerState = .halted
    public var domids: [Int] = []
    public var consoles: [Console] = []
    public var memoryTarget: Int64 = 0
    public var memoryActual: Int64 = 0
    public var memoryLimit: Int64 = 0
    public var vcpuTarget: Int = 0
    public var shadowMultiplierTarget: Double = 1.0
    public var rtcTimeoffset: String = ""
    public var uncooperativeBalloonDriver = false
    /// Flattened listing of the guest's xenstore subtrees (xenops_server_xen.ml, `VM.get_state`, its `guest_agent` listing).
    public var guestAgent: [GuestAgentEntry] = []
    public var xsdataState: [GuestAgentEntry] = []
    public var pvDriversDetected = false
    /// Seconds since the epoch at domain creation; 0 when halted.
    public var lastStartTime: Double = 0
    public var hvm = false
    public var nomigrate = false
    public var nestedVirt = false
    public var domainType: DomainType = .undefined
    public var featureset: String = ""

    public init() {}

    /// xenopsd's `halted_vm`.
    public static let halted = VMState()
}

/// `VBD.stat`'s state (xenopsd's `Vbd.state`).
public struct VBDState: Sendable, Hashable {
    public var active = false
    public var plugged = false
    public var qosTarget: String? = nil
    /// nil when the media is ejected (or the device is unplugged).
    public var backendPresent: Disk? = nil

    public init(active: Bool = false, plugged: Bool = false, qosTarget: String? = nil, backendPresent: Disk? = nil) {
        self.active = active
        self.plugged = plugged
        self.qosTarget = qosTarget
        self.backendPresent = backendPresent
    }
}

/// `VIF.stat`'s state (xenopsd's `Vif.state`).
public struct VIFState: Sendable, Hashable {
    public var active = false
    public var plugged = false
    public var kthreadPid = 0
    public var mediaPresent = false
    /// `vif<domid>.<position>` while plugged.
    public var device: String? = nil
    public var pvsRulesActive = false

    public init(active: Bool = false, plugged: Bool = false, kthreadPid: Int = 0, mediaPresent: Bool = false,
                device: String? = nil, pvsRulesActive: Bool = false) {
        self.active = active
        self.plugged = plugged
        self.kthreadPid = kthreadPid
        self.mediaPresent = mediaPresent
        self.device = device
        self.pvsRulesActive = pvsRulesActive
    }
}

public struct PCIState: Sendable, Hashable {
    public var plugged = false
    public init(plugged: Bool = false) { self.plugged = plugged }
}

public struct VGPUState: Sendable, Hashable {
    public var active = false
    public var plugged = false
    public var emulatorPid: Int? = nil
    public init(active: Bool = false, plugged: Bool = false, emulatorPid: Int? = nil) {
        self.active = active
        self.plugged = plugged
        self.emulatorPid = emulatorPid
    }
}

/// Why a domain wants attention (xenopsd's `domain_action_request`).
public enum DomainActionRequest: String, Sendable, Hashable {
    case needsPoweroff = "Needs_poweroff", needsReboot = "Needs_reboot", needsSuspend = "Needs_suspend"
    case needsCrashdump = "Needs_crashdump", needsSoftreset = "Needs_softreset"
}

/// What a device needs (xenopsd's `device_action_request`).
enum DeviceActionRequest: Sendable, Hashable {
    case needsUnplug
}

/// What the toolstack asks a guest to do through `control/shutdown`.
public enum ShutdownRequest: String, Sendable, Hashable {
    case halt, reboot, poweroff, suspend, s3 = "s3"

    var json: JSON { .string(rawValue) }
}
