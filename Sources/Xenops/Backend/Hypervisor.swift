/// Why a domain stopped (Xen's `SHUTDOWN_*` codes).
public enum ShutdownReason: Int, Sendable, Hashable {
    case poweroff = 0, reboot = 1, suspend = 2, crash = 3, watchdog = 4, softReset = 5
}

/// One domain as the hypervisor reports it (libxc's `domaininfo`).
public struct DomainInfo: Sendable, Hashable {
    public var domid: UInt32
    /// The VM uuid held in the domain handle.
    public var uuid: String
    public var hvm: Bool
    /// Memory and vCPUs are in place (xenguest ran).
    public var built: Bool
    public var paused: Bool
    public var shutdown: Bool
    public var shutdownReason: ShutdownReason?
    public var totalMemoryKiB: Int64
    public var maxMemoryKiB: Int64
    public var vcpus: Int
    public var vcpuMax: Int

    public init(domid: UInt32, uuid: String, hvm: Bool, built: Bool, paused: Bool, shutdown: Bool,
                shutdownReason: ShutdownReason?, totalMemoryKiB: Int64, maxMemoryKiB: Int64, vcpus: Int, vcpuMax: Int) {
        self.domid = domid
        self.uuid = uuid
        self.hvm = hvm
        self.built = built
        self.paused = paused
        self.shutdown = shutdown
        self.shutdownReason = shutdownReason
        self.totalMemoryKiB = totalMemoryKiB
        self.maxMemoryKiB = maxMemoryKiB
        self.vcpus = vcpus
        self.vcpuMax = vcpuMax
    }
}

/// A saved domain: what `VM.suspend` keeps so `VM.stat` says Suspended and `VM.resume` can
/// bring it back.
public struct SuspendImage: Sendable, Hashable {
    public var memoryKiB: Int64
    public var vcpus: Int
    public var hvm: Bool
    /// The image's size on disk (xenopsd's `suspend_memory_bytes`, non-zero when suspended).
    public var bytes: Int64

    public init(memoryKiB: Int64, vcpus: Int, hvm: Bool, bytes: Int64) {
        self.memoryKiB = memoryKiB
        self.vcpus = vcpus
        self.hvm = hvm
        self.bytes = bytes
    }
}

/// The hypervisor below the engine (the role of libxc + xenguest for xenopsd's xen backend).
///
/// The engine drives domains only through this and xenstore, and learns that a domain changed
/// only from xenstore's `@introduceDomain` / `@releaseDomain`, after which it lists the domains
/// and diffs, as xenopsd does. So an implementation must tell xenstore: `@releaseDomain`
/// (`XenstoreDaemon.markDomainShutdown`) when a domain shuts down, and release the domain
/// (`XenstoreDaemon.releaseDomain`) when it is destroyed. Introducing a built domain is the
/// engine's job (`build_post`).
public protocol Hypervisor: Sendable {
    /// A new, empty, paused domain for VM `uuid`; returns its domid.
    func createDomain(uuid: String, hvm: Bool, vcpuMax: Int, maxMemoryKiB: Int64) throws(XenopsError) -> UInt32
    /// Loads the guest: memory populated, `vcpus` online.
    func buildDomain(_ domid: UInt32, memoryKiB: Int64, vcpus: Int) throws(XenopsError)
    func pause(_ domid: UInt32) throws(XenopsError)
    func unpause(_ domid: UInt32) throws(XenopsError)
    func setVCPUs(_ domid: UInt32, online: Int) throws(XenopsError)
    /// Shuts the domain down with `reason`, as if the guest had asked (a remote shutdown).
    func shutdown(_ domid: UInt32, reason: ShutdownReason) throws(XenopsError)
    /// Removes the domain.
    func destroy(_ domid: UInt32) throws(XenopsError)
    /// The memory image of a domain that shut down for suspend.
    func save(_ domid: UInt32) throws(XenopsError) -> SuspendImage
    /// Loads `image` into a freshly created domain (which counts as built).
    func restore(_ domid: UInt32, from image: SuspendImage) throws(XenopsError)
    /// Brings a domain that shut down for soft reset back to life.
    func softReset(_ domid: UInt32) throws(XenopsError)
    /// Gives the domain another VM handle (libxc's `domain_sethandle`, what a migration's
    /// `VM_rename` does to the domain it moves aside or takes in).
    func rename(_ domid: UInt32, uuid: String) throws(XenopsError)
    func domainInfo(_ domid: UInt32) -> DomainInfo?
    /// The domain of VM `uuid`, if one exists (a real implementation lists and matches handles).
    func domainInfo(uuid: String) -> DomainInfo?
    func domainList() -> [DomainInfo]
    /// The domains that changed after `serial` (from an earlier answer; 0 at first), so that a
    /// watcher of a thousand domains reconciles the one a `@releaseDomain` is about instead of
    /// listing and sorting them all each time. Xen itself only says "some domain changed"; an
    /// implementation without such a log answers `domids: nil`, meaning "list them all".
    func domainChanges(after serial: UInt64) -> DomainChanges
    /// Runs what the machine does on its own (dom0's backends, guests) until cancelled, calling
    /// `onReady` once it watches what it must; `Xenops.run()` runs it beside the engine.
    func run(onReady: @escaping @Sendable () -> Void) async
}

/// An answer of `Hypervisor.domainChanges(after:)`.
public struct DomainChanges: Sendable, Equatable {
    /// The point this answer reaches: pass it to the next call.
    public var serial: UInt64
    /// Domains created, changed or destroyed after the serial asked for, in order, possibly
    /// repeated; nil when the log does not reach back that far.
    public var domids: [UInt32]?

    public init(serial: UInt64, domids: [UInt32]?) {
        self.serial = serial
        self.domids = domids
    }
}

extension Hypervisor {
    public func domainChanges(after serial: UInt64) -> DomainChanges { DomainChanges(serial: 0, domids: nil) }
    /// A hypervisor with nothing of its own to run is ready at once.
    public func run(onReady: @escaping @Sendable () -> Void) async { onReady() }
}

/// The last `capacity` domain changes, numbered: what `domainChanges(after:)` answers from.
public struct DomainChangeLog: Sendable {
    public static let capacity = 4096
    private var serial: UInt64 = 0
    private var entries: [UInt32] = []
    /// Index in `entries` of the oldest change kept (a ring once full).
    private var start = 0

    public init() {}

    public mutating func record(_ domid: UInt32) {
        serial += 1
        if entries.count < Self.capacity {
            entries.append(domid)
        } else {
            entries[start] = domid
            start = (start + 1) % Self.capacity
        }
    }

    public func changes(after asked: UInt64) -> DomainChanges {
        guard asked <= serial, serial - asked <= UInt64(entries.count) else { return DomainChanges(serial: serial, domids: nil) }
        let count = Int(serial - asked)
        let first = (start + entries.count - count) % max(1, entries.count)
        return DomainChanges(serial: serial, domids: (0..<count).map { entries[(first + $0) % entries.count] })
    }
}
