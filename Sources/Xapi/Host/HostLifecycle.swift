import Logging
import Synchronization
import Timing
import XapiDB

/// A host's life as xen-api ocaml/xapi/xapi_host.ml and message_forwarding.ml run it: disabled
/// and enabled by request, evacuated onto the pool's other enabled hosts, rebooted or shut down
/// once disabled, its toolstack restarted; its plugins called.
extension HostHandlers {
    static let lifecycle = ClassHandlers("host", [
        "disable": disable,
        "enable": enable,
        "evacuate": evacuate,
        "assert_can_evacuate": assertCanEvacuate,
        "get_vms_which_prevent_evacuation": vmsPreventingEvacuation,
        "reboot": powerOff(reboot: true),
        "shutdown": powerOff(reboot: false),
        "restart_agent": restartAgent,
        "call_plugin": callPlugin,
    ])

    /// `Host.disable`: no new VMs start here; reboot and shutdown become possible.
    static let disable: Handler = { call in
        let t = call.tables
        let host = try call.string("host")
        try call.database.write { s throws(XapiError) in
            try s.update(t.host, host, .enabled, .bool(false))
            try HostOperations.refresh(host: host, in: &s, t)
        }
        return .emptyString
    }

    /// `Host.enable`, refused while the host is on its way down (`assert_safe_to_reenable`).
    static let enable: Handler = { call in
        let t = call.tables
        let host = try call.string("host")
        try await HostOperations.with(call, host: host, "enable") {
            try call.database.write { s throws(XapiError) in
                guard try s.get(t.host, host, .enabled) != .bool(true) else { return }
                if call.api.hostPower.isGoingDown(host) { throw .hostDisabledUntilReboot(host: host) }
                try s.set(t.host, host, .enabled, .bool(true))
            }
        }
        try call.database.write { s throws(XapiError) in try HostOperations.refresh(host: host, in: &s, t) }
        return .emptyString
    }

    /// The VMs resident on the host (its `resident_VMs`), but its control domain.
    static func residentGuests(_ host: String, in s: DatabaseState, _ t: Tables) throws(XapiError) -> [String] {
        try s.get(t.host, host, .residentVMs).refList.filter { vm in
            s.contains(t.vm, vm) && (try? s.get(t.vm, vm, .isControlDomain)) != .bool(true)
        }.sorted()
    }

    /// xapi_host.ml `evacuate`: the plan must hold for every VM, then the VMs go by
    /// `VM.pool_migrate`, `evacuate_batch_size` at a time (xapi's default 10), a new one as soon
    /// as one ends; a VM that was shut down meanwhile (`VM_BAD_POWER_STATE`) is not an error.
    /// The host must be left with no VM but its control domain.
    static let evacuate: Handler = { call in
        let t = call.tables
        let host = try call.string("host")
        let requested = try call.int("evacuate_batch_size")
        let batch = max(1, Int(requested > 0 ? requested : 10))
        try await HostOperations.with(call, host: host, "evacuate") {
            let plan = try call.database.read { s throws(XapiError) in try EvacuationPlan(host: host, in: s, t) }
            if let first = plan.blockers.first { throw first.error }
            try await migrate(plan.moves, batch: batch, call)
            let left = try call.database.read { s throws(XapiError) in try residentGuests(host, in: s, t) }
            if !left.isEmpty { throw XapiError.internalError("evacuate: \(left.count) VMs are still resident on \(host)") }
        }
        return .emptyString
    }

    /// The plan's migrations, `batch` at a time, each the API's own `VM.pool_migrate`.
    private static func migrate(_ moves: [(vm: String, host: String)], batch: Int, _ call: Call) async throws {
        guard !moves.isEmpty else { return }
        let api = call.api
        var failure: XapiError?
        await api.withInternalSession { session in
            await withTaskGroup(of: XapiError?.self) { group in
                var pending = moves[...]
                var done = 0
                func next() {
                    guard let (vm, host) = pending.popFirst() else { return }
                    group.addTask {
                        let result = await api.call("VM.pool_migrate", [.string(session), .string(vm), .string(host), .emptyStructure],
                                                    origin: .internal)
                        if case .failure(let error) = result, error.code != "VM_BAD_POWER_STATE" { return error }
                        return nil
                    }
                }
                for _ in 0..<batch { next() }
                for await error in group {
                    done += 1
                    call.progress(Double(done) / Double(moves.count))
                    if let error, failure == nil { failure = error }
                    if failure == nil { next() }
                }
            }
        }
        if let failure { throw failure }
    }

    /// The old form: one `CANNOT_EVACUATE_HOST` naming every reason, `CODE,param` joined by `|`.
    static let assertCanEvacuate: Handler = { call in
        let host = try call.string("host")
        let blockers = try call.database.read { s throws(XapiError) in try EvacuationPlan(host: host, in: s, call.tables).blockers }
        if !blockers.isEmpty {
            throw XapiError.cannotEvacuateHost(errors: blockers.map { $0.error.errorDescription.joined(separator: ",") }.joined(separator: "|"))
        }
        return .emptyString
    }

    static let vmsPreventingEvacuation: Handler = { call in
        let host = try call.string("self")
        let blockers = try call.database.read { s throws(XapiError) in try EvacuationPlan(host: host, in: s, call.tables).blockers }
        return .structure(Structure(blockers.map { .init(key: $0.vm, value: .array($0.error.errorDescription.map(Value.string))) }))
    }

    /// `Host.reboot` / `Host.shutdown` (`shutdown_and_reboot_common`): the host must be disabled;
    /// the call returns at once and the host goes down shortly after, stopping every VM still
    /// on it as xapi's `prepare_for_poweroff` does; a rebooted host comes back enabled.
    static func powerOff(reboot: Bool) -> Handler {
        { call in
            let t = call.tables
            let host = try call.string("host")
            try await HostOperations.with(call, host: host, reboot ? "reboot" : "shutdown") {
                let key = Identifiers.ref()
                try call.database.write { s throws(XapiError) in
                    // Held until the host is back: xapi records its shutdown under a task of its own.
                    var current = try s.get(t.host, host, .currentOperations).structureValue ?? Structure()
                    current[key] = .string("shutdown")
                    try s.set(t.host, host, .currentOperations, .structure(current))
                }
                call.api.hostPower.goingDown(host)
                let api = call.api
                Task { await HostPower.cycle(api, host: host, reboot: reboot, operation: key) }
            }
            return .emptyString
        }
    }

    /// `Host.restart_agent` (xe-toolstack-restart): the toolstack comes back a moment later
    /// with its database, so sessions, tasks and VMs survive; at start it enables the host
    /// again, as xapi does for a host disabled without `auto_enable=false`.
    static let restartAgent: Handler = { call in
        let host = try call.string("host")
        _ = try call.database.read { s throws(XapiError) in try s.row(call.tables.host, host) }
        let api = call.api
        Task {
            try? await api.database.clock.sleep(for: api.configuration.agentRestartDelay)
            api.agentStarted(on: host)
        }
        return .emptyString
    }

    /// xapi_plugins.ml `call_plugin`: a plugin is a file under /etc/xapi.d/plugins, and this
    /// simulated host has none.
    static let callPlugin: Handler = { call in
        let host = try call.string("host")
        _ = try call.database.read { s throws(XapiError) in try s.row(call.tables.host, host) }
        throw XapiError.xenapiMissingPlugin(name: try call.string("plugin"))
    }
}

/// Hosts on their way down: refused `Host.enable` until they are back (xapi's
/// `host_disabled_until_reboot`, kept in its local database).
final class HostPower: Sendable {
    private let down = Mutex<Set<String>>([])

    func goingDown(_ host: String) { _ = down.withLock { $0.insert(host) } }
    func isGoingDown(_ host: String) -> Bool { down.withLock { $0.contains(host) } }
    func back(_ host: String) { _ = down.withLock { $0.remove(host) } }

    /// The host goes down: every VM on it stops (a clean shutdown where the guest can, then a
    /// hard one for those still up), its storage is unplugged and it stops being live. A reboot
    /// brings it back as the toolstack's start does.
    static func cycle(_ api: XenAPI, host: String, reboot: Bool, operation: String) async {
        try? await api.database.clock.sleep(for: api.configuration.hostShutdownDelay)
        await api.withInternalSession { session in
            let t = api.tables
            let running = api.database.read { s -> [(String, Bool)] in
                let guests = (try? HostHandlers.residentGuests(host, in: s, t)) ?? []
                return guests.filter { ["Running", "Paused"].contains((try? s.get(t.vm, $0, .powerState))?.stringValue ?? "") }
                    .map { ($0, ((try? s.get(t.vm, $0, .allowedOperations))?.refList ?? []).contains("clean_shutdown")) }
            }
            await withTaskGroup(of: Void.self) { group in
                for (vm, clean) in running {
                    group.addTask {
                        if clean, case .success = await api.call("VM.clean_shutdown", [.string(session), .string(vm)], origin: .internal) {
                            return
                        }
                        _ = await api.call("VM.hard_shutdown", [.string(session), .string(vm)], origin: .internal)
                    }
                }
            }
        }
        api.database.write { s in
            try? api.setHostLive(host, false, in: &s)
        }
        api.logger.info("host is down", metadata: ["host": "\(host)", "reboot": "\(reboot)"])
        guard reboot else { return }
        api.hostBooted(host, clearing: operation)
    }
}

extension XenAPI {
    /// Calls made by the server itself, under a session of its own (xapi's
    /// `Helpers.call_api_functions`).
    func withInternalSession(_ body: (String) async -> Void) async {
        guard let session = try? sessions.login(user: configuration.user, password: "", originator: "xapi-swift internal",
                                                origin: .internal, api: self) else { return }
        await body(session)
        sessions.logout(session, api: self)
    }

    /// The host's metrics say whether it is up; its storage is plugged only while it is.
    func setHostLive(_ host: String, _ live: Bool, in s: inout DatabaseState) throws(XapiError) {
        let t = tables
        if let metrics = try s.get(t.host, host, .metrics).stringValue, s.contains(t.hostMetrics, metrics) {
            try s.update(t.hostMetrics, metrics, .live, .bool(live))
            try s.update(t.hostMetrics, metrics, .lastUpdated, .dateTime(.now()))
        }
        for pbd in try s.get(t.host, host, .pbds).refList where s.contains(t.pbd, pbd) {
            try s.update(t.pbd, pbd, .currentlyAttached, .bool(live))
        }
        if !live { try s.update(t.host, host, .enabled, .bool(false)) }
        try HostOperations.refresh(host: host, in: &s, t)
    }

    /// The host has booted: live, storage plugged, enabled, no operation left from before.
    func hostBooted(_ host: String, clearing operation: String? = nil) {
        let t = tables
        database.write { s in
            guard s.contains(t.host, host) else { return }
            if let operation, var current = (try? s.get(t.host, host, .currentOperations))?.structureValue {
                current[operation] = nil
                try? s.set(t.host, host, .currentOperations, .structure(current))
            }
            try? s.update(t.host, host, .enabled, .bool(true))
            try? setHostLive(host, true, in: &s)
        }
        hostPower.back(host)
    }

    /// What the toolstack does as it starts on a host: the host is enabled again unless it is
    /// on its way down.
    func agentStarted(on host: String) {
        let t = tables
        let bridges = bridges
        database.read { s in bridges.bridge(onHost: host, in: s, t) }?.resyncAfterRestart()
        guard !hostPower.isGoingDown(host) else { return }
        database.write { s in
            guard s.contains(t.host, host) else { return }
            try? s.update(t.host, host, .enabled, .bool(true))
            try? HostOperations.refresh(host: host, in: &s, t)
        }
    }

    /// The server starts as its hosts boot: whatever state the database kept from before, each
    /// host simulated here is up, its storage plugged and no operation of its old life pending.
    /// A host of the database that no xenopsd here runs is down, as after a crash: not live,
    /// its VMs halted (xapi's `host_post_declare_dead`).
    public func bootSimulatedHosts() {
        let t = tables
        let bridges = bridges
        let (up, down) = database.read { s -> ([String], [String]) in
            let up = bridges.all.isEmpty ? [XenAPI.localHost(in: s, tables: t)] : bridges.hosts(in: s)
            return (up, s.refs(t.host).filter { !up.contains($0) })
        }
        database.write { s in
            for host in up where s.contains(t.host, host) {
                try? s.update(t.host, host, .currentOperations, .emptyStructure)
            }
            for host in down {
                for vm in (try? HostHandlers.residentGuests(host, in: s, t)) ?? [] {
                    try? PowerStates.forceReset(vm, to: "Halted", in: &s, tables: t)
                }
                try? setHostLive(host, false, in: &s)
            }
        }
        for host in up { hostBooted(host) }
    }
}
