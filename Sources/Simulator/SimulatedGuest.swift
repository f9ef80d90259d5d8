import Logging
import Synchronization
import Timing
import Xenops
import Xenstore

/// What runs inside one simulated domain, on the domain's own (unprivileged) xenstore
/// connection:
///
/// * **frontend drivers**: a watch on the domain's `device` directory finds new devices; for
///   each, a watch on the backend's `state` drives the frontend's own `state` through the
///   XenbusState handshake (backend InitWait 2 → frontend Initialised 3 → backend Connected 4 →
///   frontend Connected 4; backend Closing 5 → frontend Closing 5 → Closed 6);
/// * **the kernel's shutdown handler**: a watch on `control/shutdown` acknowledges a request by
///   clearing the key, then shuts the domain down with the matching reason;
/// * **the balloon driver**: a watch on `memory/target` moves the domain's allocation to the
///   target the toolstack sets; the agent, if it runs, reports the new total at once;
/// * **the PV guest agent** (xe-daemon): after a boot delay, writes the keys xe-guest-utilities' xe-daemon writes
///   and then `data/updated`, again on its schedule; it gives an interface the static address
///   the toolstack sets under `xenserver/device/vif/<devid>/static-ip-setting` and reports it.
final class SimulatedGuest: Sendable {
    let domid: UInt32
    let uuid: String
    private let xs: XenstoreConnection
    private let hypervisor: SimulatedHypervisor
    private let configuration: SimulatedHypervisor.Configuration
    private let clock: any ServerClock
    private let logger: Logger

    private struct State {
        var settings: SimulatedHypervisor.GuestSettings
        var tasks: [Task<Void, Never>] = []
        var agent: Task<Void, Never>?
        /// Frontends with a running driver, by `kind/devid`.
        var frontends: Set<String> = []
        var stopped = false
        var agentCycles = 0
    }

    private let state: Mutex<State>

    init(domid: UInt32, uuid: String, settings: SimulatedHypervisor.GuestSettings, hypervisor: SimulatedHypervisor,
         configuration: SimulatedHypervisor.Configuration, clock: any ServerClock, logger: Logger) {
        self.domid = domid
        self.uuid = uuid
        self.hypervisor = hypervisor
        self.configuration = configuration
        self.clock = clock
        self.xs = hypervisor.store.connect(domid: domid)
        var logger = logger
        logger[metadataKey: "domid"] = "\(domid)"
        self.logger = logger
        state = Mutex(State(settings: settings))
    }

    /// `resumed`: the guest carries on from a saved image, so its agent reports at once.
    func start(resumed: Bool = false) {
        let frontends = Task { await self.runFrontendDriver() }
        let control = Task { await self.runShutdownHandler() }
        let balloon = Task { await self.runBalloonDriver() }
        let addresses = Task { await self.runStaticIPSetting() }
        let agentSettings = state.withLock { state -> SimulatedHypervisor.GuestSettings in
            state.tasks += [frontends, control, balloon, addresses]
            return state.settings
        }
        if agentSettings.agentEnabled {
            startAgent(schedule: agentSettings.agentSchedule, bootDelay: resumed ? .zero : configuration.guestBootDelay)
        }
    }

    /// The domain stopped: every actor ends and the connection closes.
    func stop() {
        let tasks = state.withLock { state -> [Task<Void, Never>] in
            state.stopped = true
            defer {
                state.tasks = []
                state.agent = nil
            }
            return state.tasks + (state.agent.map { [$0] } ?? [])
        }
        for task in tasks { task.cancel() }
        xs.close()
    }

    var agentCycles: Int { state.withLock { $0.agentCycles } }

    private func pause() async throws {
        let step = configuration.deviceStepDelay
        if step > .zero { try await clock.sleep(for: step) }
    }

    // MARK: frontends

    private func runFrontendDriver() async {
        guard let watch = try? xs.watch("device", token: "frontends") else { return }
        for await _ in watch {
            scanFrontends()
        }
    }

    private func scanFrontends() {
        for kind in ["vbd", "vif"] {
            guard let devids = try? xs.directory("device/\(kind)") else { continue }
            for devid in devids {
                let key = "\(kind)/\(devid)"
                let base = "device/\(kind)/\(devid)"
                guard (try? xs.read("\(base)/state")) == "1", let backend = try? xs.read("\(base)/backend") else { continue }
                let isNew = state.withLock { state -> Bool in
                    guard !state.stopped, !state.frontends.contains(key) else { return false }
                    state.frontends.insert(key)
                    return true
                }
                guard isNew else { continue }
                let task = Task { await self.runFrontend(kind: kind, devid: devid, backend: backend) }
                state.withLock { $0.tasks.append(task) }
            }
        }
    }

    /// One frontend: follows its backend's state.
    private func runFrontend(kind: String, devid: String, backend: String) async {
        defer {
            state.withLock { _ = $0.frontends.remove("\(kind)/\(devid)") }
            // A device re-added while this driver was finishing must not be missed.
            scanFrontends()
        }
        let base = "device/\(kind)/\(devid)"
        guard let watch = try? xs.watch("\(backend)/state", token: "frontend-\(kind)-\(devid)") else { return }
        do {
            for await _ in watch {
                guard let mine = try? xs.read("\(base)/state"), let theirs = try? xs.read("\(backend)/state") else { return }
                switch (theirs, mine) {
                case ("2", "1"):
                    try await pause()
                    guard try xs.switchState(of: base, to: "3", details: connectionDetails(kind: kind)) else { return }
                case ("4", "1"), ("4", "3"):
                    try await pause()
                    guard try xs.switchState(of: base, to: "4") else { return }
                case ("5", "1"), ("5", "3"), ("5", "4"):
                    try await pause()
                    guard try xs.switchState(of: base, to: "5") else { return }
                    try await pause()
                    guard try xs.switchState(of: base, to: "6") else { return }
                case ("6", let state) where state != "6":
                    try await pause()
                    guard try xs.switchState(of: base, to: "6") else { return }
                default:
                    break
                }
            }
        } catch {
            return
        }
    }

    /// What a frontend publishes with Initialised: its rings and event channel.
    private func connectionDetails(kind: String) -> [(key: String, value: String)] {
        let ring = 8 + Int(domid % 1000)
        let channel = ("event-channel", String(20 + Int(domid % 100)))
        if kind == "vif" {
            return [("tx-ring-ref", String(ring)), ("rx-ring-ref", String(ring + 1)), ("request-rx-copy", "1"), channel]
        }
        return [("ring-ref", String(ring)), ("protocol", "x86_64-abi"), channel]
    }

    // MARK: control/shutdown

    private func runShutdownHandler() async {
        guard let watch = try? xs.watch("control/shutdown", token: "shutdown") else { return }
        for await _ in watch {
            guard let request = try? xs.read("control/shutdown"), !request.isEmpty else { continue }
            guard state.withLock({ $0.settings.responsive }) else {
                logger.debug("guest ignores shutdown request", metadata: ["request": "\(request)"])
                continue
            }
            let reason: ShutdownReason? = switch request {
            case "poweroff", "halt": .poweroff
            case "reboot": .reboot
            case "suspend": .suspend
            default: nil
            }
            // Acknowledge: the toolstack waits for the key to be cleared.
            try? xs.write("control/shutdown", "")
            guard let reason else { continue }
            let delay = configuration.guestShutdownDelay
            if delay > .zero {
                do { try await clock.sleep(for: delay) } catch { return }
            }
            try? hypervisor.shutdown(domid, reason: reason)
            return
        }
    }

    // MARK: memory/target

    private func runBalloonDriver() async {
        guard let watch = try? xs.watch("memory/target", token: "balloon") else { return }
        for await _ in watch {
            guard let target = (try? xs.read("memory/target")).flatMap({ Int64($0) }), target != memoryTotalKiB else { continue }
            guard (try? hypervisor.balloon(domid, toKiB: target)) != nil else { continue }
            logger.debug("ballooned", metadata: ["target_kib": "\(target)"])
            // xe-daemon notices the new total on its next look; here it looks at once.
            let agentRuns = state.withLock { $0.settings.agentEnabled && !$0.stopped }
            if agentRuns {
                try? xs.write("data/meminfo_total", String(memoryTotalKiB))
                writeCycle()
            }
        }
    }

    // MARK: xenserver/device/vif/*/static-ip-setting

    /// Once the agent runs, a changed setting is applied and reported in a cycle of its own.
    private func runStaticIPSetting() async {
        guard let watch = try? xs.watch("xenserver/device/vif", token: "static-ip") else { return }
        for await _ in watch {
            guard state.withLock({ $0.settings.agentEnabled && !$0.stopped && $0.agentCycles > 0 }) else { continue }
            var changed = false
            for (key, address) in interfaceAddresses() where (try? xs.read(key)) != address {
                try? xs.write(key, address)
                changed = true
            }
            if changed { finishCycle() }
        }
    }

    /// `attr/vif/<devid>/ipv4/0` (and `ipv6/0`) → address: the static one the toolstack asked
    /// for, else the one this guest's DHCP would have leased — by the interface's MAC, so a
    /// guest keeps its address wherever in the pool it runs.
    private func interfaceAddresses() -> [(String, String)] {
        var out: [(String, String)] = []
        for devid in (try? xs.directory("device/vif")) ?? [] {
            let setting = "xenserver/device/vif/\(devid)/static-ip-setting"
            func address(_ suffix: String) -> String? {
                guard (try? xs.read("\(setting)/enabled\(suffix)")) == "1",
                      let cidr = try? xs.read("\(setting)/address\(suffix)") else { return nil }
                return String(cidr.split(separator: "/").first ?? "")
            }
            out.append(("attr/vif/\(devid)/ipv4/0", address("") ?? leased(devid)))
            if let v6 = address("6") { out.append(("attr/vif/\(devid)/ipv6/0", v6)) }
        }
        return out
    }

    /// 10.x.y.z from the last three bytes of the interface's MAC (z kept within 1…254).
    private func leased(_ devid: String) -> String {
        let bytes = ((try? xs.read("device/vif/\(devid)/mac")) ?? "").split(separator: ":").compactMap { UInt8($0, radix: 16) }
        guard bytes.count == 6 else { return "10.0.\(Int(devid) ?? 0).\(Int(domid % 250) + 1)" }
        return "10.\(bytes[3]).\(bytes[4]).\(Int(bytes[5]) % 254 + 1)"
    }

    func setResponsive(_ responsive: Bool) {
        state.withLock { $0.settings.responsive = responsive }
    }

    // MARK: guest agent

    func setAgent(enabled: Bool?, schedule: SimulatedHypervisor.AgentSchedule?) {
        let (old, start) = state.withLock { state -> (Task<Void, Never>?, SimulatedHypervisor.AgentSchedule?) in
            if let enabled { state.settings.agentEnabled = enabled }
            if let schedule { state.settings.agentSchedule = schedule }
            let old = state.agent
            state.agent = nil
            return (old, state.settings.agentEnabled && !state.stopped ? state.settings.agentSchedule : nil)
        }
        old?.cancel()
        if let start { startAgent(schedule: start, bootDelay: .zero) }
    }

    private func startAgent(schedule: SimulatedHypervisor.AgentSchedule, bootDelay: Duration) {
        let task = Task { await self.runAgent(schedule: schedule, bootDelay: bootDelay) }
        let stale = state.withLock { state -> Bool in
            if state.stopped { return true }
            state.agent = task
            return false
        }
        if stale { task.cancel() }
    }

    private func runAgent(schedule: SimulatedHypervisor.AgentSchedule, bootDelay: Duration) async {
        do {
            if bootDelay > .zero { try await clock.sleep(for: bootDelay) }
            try Task.checkCancellation()
            writeEverything()
            switch schedule {
            case .once:
                return
            case .every(let period):
                while true {
                    try await clock.sleep(for: period)
                    writeCycle()
                }
            case .continuous:
                while true {
                    try Task.checkCancellation()
                    writeCycle()
                    await Task.yield()
                }
            }
        } catch {
            return
        }
    }

    /// The first cycle: everything xe-daemon and the PV drivers publish.
    private func writeEverything() {
        let keys: [(String, String)] = [
            ("attr/PVAddons/Installed", "1"),
            ("attr/PVAddons/MajorVersion", "8"),
            ("attr/PVAddons/MinorVersion", "4"),
            ("attr/PVAddons/MicroVersion", "0"),
            ("attr/PVAddons/BuildVersion", "1"),
            ("data/os_name", "Debian GNU/Linux 12 (bookworm)"),
            ("data/os_uname", "6.1.0-28-amd64"),
            ("data/os_distro", "debian"),
            ("data/os_majorver", "12"),
            ("data/os_minorver", "8"),
            ("control/feature-shutdown", "1"),
            ("control/feature-poweroff", "1"),
            ("control/feature-reboot", "1"),
            ("control/feature-suspend", "1"),
            ("control/feature-balloon", "1"),
            ("control/feature-vcpu-hotplug", "1"),
            ("control/feature-static-ip-setting", "1"),
            ("data/meminfo_total", String(memoryTotalKiB)),
            ("data/meminfo_free", String(memoryFreeKiB(cycle: 0))),
        ]
        for (path, value) in keys + interfaceAddresses() { try? xs.write(path, value) }
        finishCycle()
    }

    /// Later cycles: only what changed (free memory), then `data/updated`.
    private func writeCycle() {
        let cycle = state.withLock { $0.agentCycles }
        try? xs.write("data/meminfo_free", String(memoryFreeKiB(cycle: cycle)))
        finishCycle()
    }

    private func finishCycle() {
        let cycle = state.withLock { state -> Int in
            state.agentCycles += 1
            return state.agentCycles
        }
        try? xs.write("data/updated", "\(Int(clock.wallTime)) \(cycle)")
        hypervisor.noteAgentCycle()
    }

    private var memoryTotalKiB: Int64 { hypervisor.domainInfo(domid)?.totalMemoryKiB ?? 0 }

    private func memoryFreeKiB(cycle: Int) -> Int64 {
        let total = memoryTotalKiB
        return total / 2 + Int64(cycle % 97) * 4
    }
}
