import Logging
import Synchronization
import Timing
import Xenops
import Xenstore

/// dom0's block and network backend drivers and their udev hotplug scripts, simulated.
///
/// One watch on `/local/domain/0/backend` spots new devices (a backend directory in state 1).
/// For each, an actor plays the hotplug script ("add": `hotplug-status`, or the VIF's
/// `/xapi/<uuid>/hotplug/…/hotplug` node) and the backend driver (InitWait 2), then follows the
/// frontend's `state` through its own watch: frontend Initialised → backend Connected 4;
/// frontend Closed, or gone (hard unplug, dead domain) → backend Closing/Closed and the hotplug
/// script's "remove" (the node xenopsd waits to disappear).
final class Dom0Backends: Sendable {
    private struct State {
        var active: Set<String> = []
        var tasks: [String: Task<Void, Never>] = [:]
        var stopped = false
    }

    private let state = Mutex(State())
    private let xs: XenstoreConnection
    private let stepDelay: Duration
    private let clock: any ServerClock
    private let logger: Logger

    static let kinds: Set<String> = ["vbd", "vif"]

    init(store: XenstoreDaemon, stepDelay: Duration, clock: any ServerClock, logger: Logger) {
        xs = store.connect(domid: 0)
        self.stepDelay = stepDelay
        self.clock = clock
        self.logger = logger
    }

    func run(onReady: @Sendable () -> Void = {}) async {
        guard let watch = try? xs.watch("/local/domain/0/backend", token: "dom0-backends") else {
            logger.error("dom0 backends cannot watch /local/domain/0/backend")
            onReady()
            return
        }
        onReady()
        for await event in watch {
            if event.path == "/local/domain/0/backend" {
                scanAll()
            } else {
                dispatch(event.path)
            }
        }
        let tasks = state.withLock { state -> [Task<Void, Never>] in
            state.stopped = true
            defer { state.tasks = [:] }
            return Array(state.tasks.values)
        }
        for task in tasks { task.cancel() }
    }

    /// Devices created before the watch existed (the watch's first event).
    private func scanAll() {
        for kind in Self.kinds.sorted() {
            for frontend in (try? xs.directory("/local/domain/0/backend/\(kind)")) ?? [] {
                for devid in (try? xs.directory("/local/domain/0/backend/\(kind)/\(frontend)")) ?? [] {
                    dispatch("/local/domain/0/backend/\(kind)/\(frontend)/\(devid)/state")
                }
            }
        }
    }

    private func dispatch(_ path: String) {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count >= 7, Self.kinds.contains(String(parts[4])) else { return }
        let kind = String(parts[4])
        let frontendDomid = String(parts[5])
        let devid = String(parts[6])
        let key = "\(kind)/\(frontendDomid)/\(devid)"
        let base = "/local/domain/0/backend/\(key)"
        guard state.withLock({ !$0.active.contains(key) && !$0.stopped }) else { return }
        guard (try? xs.read("\(base)/state")) == "1" else { return }
        let started = state.withLock { state -> Bool in
            guard !state.stopped, state.active.insert(key).inserted else { return false }
            return true
        }
        guard started else { return }
        let task = Task { await self.runBackend(kind: kind, frontendDomid: frontendDomid, devid: devid) }
        state.withLock { $0.tasks[key] = task }
    }

    private func pause() async throws {
        if stepDelay > .zero { try await clock.sleep(for: stepDelay) }
    }

    private func runBackend(kind: String, frontendDomid: String, devid: String) async {
        let key = "\(kind)/\(frontendDomid)/\(devid)"
        let base = "/local/domain/0/backend/\(key)"
        defer {
            state.withLock { state in
                state.active.remove(key)
                state.tasks[key] = nil
            }
            // A device re-created while this actor was finishing starts a new one.
            dispatch("\(base)/state")
        }
        guard let frontend = try? xs.read("\(base)/frontend") else { return }
        // As the vif script does, the node's path is worked out each time the script runs: the
        // domain's VM may have been renamed since (a migration moves its domain aside).
        var hotplugNode: String {
            guard kind == "vif" else { return "\(base)/hotplug-status" }
            let vmPath = (try? xs.read("/local/domain/\(frontendDomid)/vm")) ?? ""
            let uuid = vmPath.split(separator: "/").last.map(String.init) ?? ""
            return "/xapi/\(uuid)/hotplug/\(frontendDomid)/vif/\(devid)/hotplug"
        }
        if kind == "vif", (try? xs.read("/local/domain/\(frontendDomid)/vm")) == nil { return }
        do {
            // The hotplug script's "add", then the driver waits for its frontend.
            try await pause()
            guard (try? xs.read("\(base)/state")) == "1" else { return }
            if kind == "vif" {
                try xs.write("\(base)/kthread-pid", String(1000 + (Int(frontendDomid) ?? 0) * 16 + (Int(devid) ?? 0)))
                try xs.write(hotplugNode, "online")
            } else {
                try xs.write(hotplugNode, "connected")
            }
            guard try xs.switchState(of: base, to: "2") else { return }
            guard let watch = try? xs.watch("\(frontend)/state", token: "backend-\(key)") else { return }
            var hotplugRemoved = false
            for await _ in watch {
                guard let mine = try? xs.read("\(base)/state") else { return }
                let theirs = try? xs.read("\(frontend)/state")
                switch (theirs, mine) {
                case (nil, "6"):
                    if !hotplugRemoved { try? xs.rm(hotplugNode) }
                    return
                case (nil, _):
                    // The frontend vanished (hard unplug, or its domain died): close down.
                    if mine != "5" {
                        try await pause()
                        guard try xs.switchState(of: base, to: "5") else { return }
                    }
                    try await pause()
                    guard try xs.switchState(of: base, to: "6") else { return }
                    try? xs.rm(hotplugNode)
                    return
                case ("3", "2"), ("4", "2"):
                    try await pause()
                    let details = connectionDetails(kind: kind, base: base, frontend: frontend)
                    guard try xs.switchState(of: base, to: "4", details: details) else { return }
                case ("6", let state) where state != "6":
                    try await pause()
                    guard try xs.switchState(of: base, to: "6") else { return }
                    // The hotplug script's "remove".
                    try? xs.rm(hotplugNode)
                    hotplugRemoved = true
                default:
                    break
                }
            }
        } catch {
            return
        }
    }

    /// What a backend publishes with Connected.
    private func connectionDetails(kind: String, base: String, frontend: String) -> [(key: String, value: String)] {
        guard kind == "vbd" else { return [("feature-sg", "1"), ("feature-rx-copy", "1")] }
        let readOnly = (try? xs.read("\(base)/mode")) == "r"
        let cdrom = (try? xs.read("\(frontend)/device-type")) == "cdrom"
        return [("sectors", "20971520"), ("sector-size", "512"), ("info", String((cdrom ? 1 : 0) | (readOnly ? 4 : 0))),
                ("feature-flush-cache", "1")]
    }
}
