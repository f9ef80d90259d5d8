public import Logging
import Synchronization
public import Timing
public import Xenops
public import Xenstore

/// The simulated machine below the engine: Xen's domain table, dom0's block and network
/// backends with their hotplug scripts (`Dom0Backends`), and, inside each running domain, a
/// guest kernel (device frontends, `control/shutdown` handling) and a PV guest agent
/// (`SimulatedGuest`). Everything reaches the engine through xenstore, exactly as the real
/// pieces would; the only direct calls are the hypervisor ones of `Hypervisor`.
///
/// Per-step delays are zero by default (tests); `Configuration.realistic` gives demo timings.
public final class SimulatedHypervisor: Hypervisor {
    public enum AgentSchedule: Sendable, Hashable {
        /// Write the keys once after boot.
        case once
        /// Write after boot, then every period (xe-daemon's default is 60 s).
        case every(Duration)
        /// Write as fast as possible (benchmarks).
        case continuous
    }

    public struct Configuration: Sendable {
        /// Delay before each XenbusState step of a backend or a frontend.
        public var deviceStepDelay: Duration = .zero
        /// From first unpause to the guest agent's first write.
        public var guestBootDelay: Duration = .zero
        /// From a guest acknowledging `control/shutdown` to its domain shutting down.
        public var guestShutdownDelay: Duration = .zero
        public var agentSchedule: AgentSchedule = .every(.seconds(60))
        /// Whether new guests run a PV agent.
        public var agentEnabled = true

        public init() {}

        /// Timings for demos: devices connect in milliseconds, guests boot in half a second.
        public static var realistic: Configuration {
            var configuration = Configuration()
            configuration.deviceStepDelay = .milliseconds(5)
            configuration.guestBootDelay = .milliseconds(500)
            configuration.guestShutdownDelay = .milliseconds(200)
            return configuration
        }
    }

    /// Per-VM settings of the guest, kept across reboots.
    struct GuestSettings: Sendable {
        var agentEnabled: Bool
        var agentSchedule: AgentSchedule
        /// A guest that ignores `control/shutdown` (a hung kernel).
        var responsive = true
    }

    private struct Domain {
        var domid: UInt32
        var uuid: String
        var hvm: Bool
        var vcpuMax: Int
        var vcpus: Int
        var maxMemoryKiB: Int64
        var memoryKiB: Int64 = 0
        var built = false
        var paused = true
        var shutdown = false
        var reason: ShutdownReason?
        var booted = false
        /// Loaded from a saved image (a resume, a migration's arrival): the guest carries on
        /// where it stopped, its agent rewriting its keys at once rather than after a boot.
        var restored = false

        var info: DomainInfo {
            DomainInfo(domid: domid, uuid: uuid, hvm: hvm, built: built, paused: paused, shutdown: shutdown,
                       shutdownReason: reason, totalMemoryKiB: memoryKiB, maxMemoryKiB: maxMemoryKiB,
                       vcpus: vcpus, vcpuMax: vcpuMax)
        }
    }

    private struct State {
        var domains: [UInt32: Domain] = [:]
        var byUUID: [String: UInt32] = [:]
        var lastDomid: UInt32 = 0
        var guests: [UInt32: SimulatedGuest] = [:]
        var settings: [String: GuestSettings] = [:]
        var changes = DomainChangeLog()
    }

    /// Xen's first reserved domid.
    static let domidFirstReserved: UInt32 = 0x7FF0

    private let state = Mutex(State())
    private let agentCycleCounter = Synchronization.Atomic<Int>(0)
    let store: XenstoreDaemon
    public let configuration: Configuration
    let clock: any ServerClock
    let logger: Logger
    let backends: Dom0Backends

    public init(store: XenstoreDaemon, configuration: Configuration = Configuration(),
                clock: any ServerClock = SystemClock(), logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        backends = Dom0Backends(store: store, stepDelay: configuration.deviceStepDelay, clock: clock, logger: logger)
    }

    /// Runs dom0's backend drivers until cancelled; then stops every guest.
    public func run() async { await run(onReady: {}) }

    public func run(onReady: @escaping @Sendable () -> Void) async {
        await backends.run(onReady: onReady)
        let guests = state.withLock { state -> [SimulatedGuest] in
            defer { state.guests = [:] }
            return Array(state.guests.values)
        }
        for guest in guests { guest.stop() }
    }

    // MARK: Hypervisor

    public func createDomain(uuid: String, hvm: Bool, vcpuMax: Int, maxMemoryKiB: Int64) throws(XenopsError) -> UInt32 {
        try state.withLock { state throws(XenopsError) -> UInt32 in
            var candidate = state.lastDomid
            for _ in 0..<Int(Self.domidFirstReserved) {
                candidate = candidate + 1 >= Self.domidFirstReserved ? 1 : candidate + 1
                if state.domains[candidate] == nil {
                    state.lastDomid = candidate
                    state.domains[candidate] = Domain(domid: candidate, uuid: uuid, hvm: hvm, vcpuMax: vcpuMax,
                                                      vcpus: 0, maxMemoryKiB: maxMemoryKiB)
                    state.byUUID[uuid] = candidate
                    state.changes.record(candidate)
                    return candidate
                }
            }
            throw .internalError("no free domid")
        }
    }

    public func buildDomain(_ domid: UInt32, memoryKiB: Int64, vcpus: Int) throws(XenopsError) {
        try modify(domid) { domain throws(XenopsError) in
            domain.memoryKiB = memoryKiB
            domain.vcpus = vcpus
            domain.built = true
        }
    }

    public func pause(_ domid: UInt32) throws(XenopsError) {
        try modify(domid) { domain throws(XenopsError) in
            guard domain.built else { throw .domainNotBuilt }
            domain.paused = true
        }
    }

    public func unpause(_ domid: UInt32) throws(XenopsError) {
        var boot: (String, UInt32, Bool)?
        try modify(domid) { domain throws(XenopsError) in
            guard domain.built else { throw .domainNotBuilt }
            domain.paused = false
            if !domain.booted && !domain.shutdown {
                domain.booted = true
                boot = (domain.uuid, domain.domid, domain.restored)
                domain.restored = false
            }
        }
        if let (uuid, domid, resumed) = boot { startGuest(uuid: uuid, domid: domid, resumed: resumed) }
    }

    /// The guest's balloon driver gave memory back or took more: the domain's allocation moves,
    /// within what it was built with at most.
    func balloon(_ domid: UInt32, toKiB target: Int64) throws(XenopsError) {
        try modify(domid) { domain throws(XenopsError) in
            guard domain.built else { throw .domainNotBuilt }
            domain.memoryKiB = max(0, min(target, domain.maxMemoryKiB))
        }
    }

    public func setVCPUs(_ domid: UInt32, online: Int) throws(XenopsError) {
        try modify(domid) { domain throws(XenopsError) in
            guard domain.built else { throw .domainNotBuilt }
            guard online >= 1, online <= domain.vcpuMax else { throw .invalidVcpus(max: domain.vcpuMax) }
            domain.vcpus = online
        }
    }

    public func shutdown(_ domid: UInt32, reason: ShutdownReason) throws(XenopsError) {
        var changed = false
        try modify(domid) { domain throws(XenopsError) in
            guard !domain.shutdown else { return }
            domain.shutdown = true
            domain.reason = reason
            domain.paused = true
            changed = true
        }
        guard changed else { return }
        logger.debug("domain shut down", metadata: ["domid": "\(domid)", "reason": "\(reason)"])
        stopGuest(domid)
        // VIRQ_DOM_EXC: xenstored notices and fires @releaseDomain.
        do throws(XenstoreError) {
            try store.markDomainShutdown(domid)
        } catch {
            if error != .ENOENT { logger.warning("markDomainShutdown failed", metadata: ["domid": "\(domid)", "error": "\(error)"]) }
        }
    }

    public func destroy(_ domid: UInt32) throws(XenopsError) {
        let removed = state.withLock { state -> Bool in
            guard let domain = state.domains.removeValue(forKey: domid) else { return false }
            if state.byUUID[domain.uuid] == domid { state.byUUID[domain.uuid] = nil }
            state.changes.record(domid)
            return true
        }
        guard removed else { throw .doesNotExist(kind: "domain", id: String(domid)) }
        stopGuest(domid)
        // The domain is gone: xenstored releases it (closing its connections, deleting what it
        // owns) and fires @releaseDomain.
        do throws(XenstoreError) {
            try store.releaseDomain(domid)
        } catch {
            if error != .ENOENT { logger.warning("releaseDomain failed", metadata: ["domid": "\(domid)", "error": "\(error)"]) }
        }
    }

    public func save(_ domid: UInt32) throws(XenopsError) -> SuspendImage {
        guard let domain = state.withLock({ $0.domains[domid] }) else {
            throw .doesNotExist(kind: "domain", id: String(domid))
        }
        guard domain.shutdown, domain.reason == .suspend else {
            throw .internalError("domain \(domid) has not suspended")
        }
        return SuspendImage(memoryKiB: domain.memoryKiB, vcpus: domain.vcpus, hvm: domain.hvm,
                            bytes: domain.memoryKiB * 1024 + 4096)
    }

    public func restore(_ domid: UInt32, from image: SuspendImage) throws(XenopsError) {
        try modify(domid) { domain throws(XenopsError) in
            domain.memoryKiB = image.memoryKiB
            domain.vcpus = image.vcpus
            domain.built = true
            // The guest resumes where it stopped rather than booting again.
            domain.booted = false
            domain.restored = true
        }
    }

    public func rename(_ domid: UInt32, uuid: String) throws(XenopsError) {
        try state.withLock { state throws(XenopsError) in
            guard var domain = state.domains[domid] else { throw .doesNotExist(kind: "domain", id: String(domid)) }
            if state.byUUID[domain.uuid] == domid { state.byUUID[domain.uuid] = nil }
            domain.uuid = uuid
            state.domains[domid] = domain
            state.byUUID[uuid] = domid
            state.changes.record(domid)
        }
    }

    public func softReset(_ domid: UInt32) throws(XenopsError) {
        try modify(domid) { domain throws(XenopsError) in
            guard domain.shutdown, domain.reason == .softReset else { throw .internalError("domain \(domid) is not in soft reset") }
            domain.shutdown = false
            domain.reason = nil
            domain.booted = false
        }
        do throws(XenstoreError) {
            try store.connect(domid: 0).resumeDomain(domid)
        } catch {
            logger.debug("resume after soft reset", metadata: ["domid": "\(domid)", "error": "\(error)"])
        }
    }

    public func domainInfo(_ domid: UInt32) -> DomainInfo? {
        state.withLock { $0.domains[domid]?.info }
    }

    public func domainInfo(uuid: String) -> DomainInfo? {
        state.withLock { state in state.byUUID[uuid].flatMap { state.domains[$0]?.info } }
    }

    public func domainList() -> [DomainInfo] {
        state.withLock { $0.domains.values.map(\.info) }.sorted { $0.domid < $1.domid }
    }

    public func domainChanges(after serial: UInt64) -> DomainChanges {
        state.withLock { $0.changes.changes(after: serial) }
    }

    private func modify(_ domid: UInt32, _ body: (inout Domain) throws(XenopsError) -> Void) throws(XenopsError) {
        try state.withLock { state throws(XenopsError) in
            guard var domain = state.domains[domid] else { throw .doesNotExist(kind: "domain", id: String(domid)) }
            try body(&domain)
            state.domains[domid] = domain
            state.changes.record(domid)
        }
    }

    // MARK: guests

    private func settings(for uuid: String, _ state: State) -> GuestSettings {
        state.settings[uuid] ?? GuestSettings(agentEnabled: configuration.agentEnabled, agentSchedule: configuration.agentSchedule)
    }

    private func startGuest(uuid: String, domid: UInt32, resumed: Bool) {
        let guest = state.withLock { state -> SimulatedGuest in
            let guest = SimulatedGuest(
                domid: domid, uuid: uuid, settings: settings(for: uuid, state), hypervisor: self,
                configuration: configuration, clock: clock, logger: logger)
            state.guests[domid] = guest
            return guest
        }
        guest.start(resumed: resumed)
    }

    private func stopGuest(_ domid: UInt32) {
        let guest = state.withLock { $0.guests.removeValue(forKey: domid) }
        guest?.stop()
    }

    private func guest(of uuid: String) -> SimulatedGuest? {
        state.withLock { state in state.byUUID[uuid].flatMap { state.guests[$0] } }
    }

    // MARK: control from outside (tests, demos)

    /// The guest of VM `uuid` shuts itself down from inside (`poweroff`, `reboot`, `crash`…), as
    /// `shutdown -h now` or a kernel panic would: the domain stops with that reason and the engine
    /// hears of it through `@releaseDomain`.
    public func guestShutdown(vm uuid: String, reason: ShutdownReason) throws(XenopsError) {
        guard let domid = state.withLock({ $0.byUUID[uuid] }) else { throw .doesNotExist(kind: "domain", id: uuid) }
        try shutdown(domid, reason: reason)
    }

    /// Turns the VM's guest agent on or off (now, and for later boots).
    public func setAgentEnabled(vm uuid: String, _ enabled: Bool) {
        let guest = updateSettings(vm: uuid) { $0.agentEnabled = enabled }
        guest?.setAgent(enabled: enabled, schedule: nil)
    }

    /// Changes how often the VM's guest agent writes (now, and for later boots).
    public func setAgentSchedule(vm uuid: String, _ schedule: AgentSchedule) {
        let guest = updateSettings(vm: uuid) { $0.agentSchedule = schedule }
        guest?.setAgent(enabled: nil, schedule: schedule)
    }

    /// A guest that stops answering `control/shutdown` requests (to exercise the ack timeout).
    public func setGuestResponsive(vm uuid: String, _ responsive: Bool) {
        let guest = updateSettings(vm: uuid) { $0.responsive = responsive }
        guest?.setResponsive(responsive)
    }

    /// Stores changed settings for later boots; returns the running guest, if any, to apply them now.
    private func updateSettings(vm uuid: String, _ change: (inout GuestSettings) -> Void) -> SimulatedGuest? {
        state.withLock { state in
            var settings = settings(for: uuid, state)
            change(&settings)
            state.settings[uuid] = settings
            return state.byUUID[uuid].flatMap { state.guests[$0] }
        }
    }

    /// Guest-agent write cycles (each ending with `data/updated`) so far, all guests.
    public var agentCycles: Int { agentCycleCounter.load(ordering: .relaxed) }

    func noteAgentCycle() { agentCycleCounter.add(1, ordering: .relaxed) }
}
