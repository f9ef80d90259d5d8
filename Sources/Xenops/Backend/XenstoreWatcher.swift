import Logging
import Synchronization
import Xenstore

/// xenopsd's xenstore watcher (ocaml/xenopsd/xc/xenstore_watch.ml and xenops_server_xen.ml's `Actions`): how the engine learns what domains and
/// devices did, only from watches.
///
/// * `@introduceDomain` / `@releaseDomain` name no domain, so on each the watcher lists the
///   hypervisor's domains and diffs with the previous list (appeared, disappeared, shut down,
///   shutdown code changed). A changed managed domain gets a `Vm` signal; a running one gets the
///   per-domain watches (token `xenopsd-xc:domain-<d>`), a stopped one loses them.
/// * A watch under `/local/domain/<d>/device` re-lists the domain's devices from the dom0
///   mirror and adds or drops the backend-key watches of each device.
/// * Any other event maps its path to a `Vm`, `Vbd` or `Vif` signal in the backend-internal
///   `Updates` table, which the internal event loop turns into `*_check_state` operations.
///
/// Deliberate difference: `data/updated` is also watched, so a guest agent's report reaches
/// xapi as a VM change at once (xenopsd would only pick it up at the next stat): it is signalled
/// on the external table straight away, as well as checked on the VM's queue as any change is,
/// so a report made while that queue is busy (a migration, a long clean shutdown) is not held
/// behind the operation. A VM migrating away is exactly where xapi must then ignore it.
final class XenstoreWatcher: Sendable {
    /// Per-domain watch paths (xenops_server_xen.ml, `interesting_paths_for_domain`, plus `data/updated`).
    static func domainPaths(_ domid: UInt32, uuid: String) -> [String] {
        let dom = "/local/domain/\(domid)"
        return [
            "\(dom)/attr", "\(dom)/data/ts", "\(dom)/data/service", "\(dom)/data/pvs_target", "\(dom)/data/updated",
            "\(dom)/memory/target", "\(dom)/memory/uncooperative", "\(dom)/console/vnc-port", "\(dom)/console/tc-port",
            "\(dom)/qemu-pid-signal", "\(dom)/control", "\(dom)/device", "\(dom)/rrd", "\(dom)/vm-data",
            "\(dom)/feature", "/vm/\(uuid)/rtc/timeoffset", "\(dom)/xenserver/attr",
        ]
    }

    /// Backend keys watched per device (xenops_server_xen.ml, `watches_of_device`).
    static let backendKeys = ["kthread-pid", "tapdisk-pid", "shutdown-done", "hotplug-status", "params", "state"]

    static func token(_ domid: UInt32) -> String { "xenopsd-xc:domain-\(domid)" }

    private struct Known: Equatable {
        var uuid: String
        var shutdown: Bool
        var reason: ShutdownReason?

        init(_ info: DomainInfo) {
            uuid = info.uuid
            shutdown = info.shutdown
            reason = info.shutdownReason
        }
    }

    private struct State {
        var domains: [UInt32: Known] = [:]
        /// Watched domains and their watches; an entry exists from the moment watching starts,
        /// before the watches are registered (outside the lock).
        var domainWatches: [UInt32: [XenstoreWatchHandle]] = [:]
        /// Per watched domain: its devices (`kind/devid`) and their backend-key watches.
        var devices: [UInt32: [String: [XenstoreWatchHandle]]] = [:]
        /// Bumped each time a domain starts being watched, so watches registered for an earlier
        /// spell are dropped rather than stored.
        var epochs: [UInt32: Int] = [:]
        var nextEpoch = 0
        var stopped = false
        /// How far the hypervisor's change log has been reconciled; nil until the first listing.
        var serial: UInt64?
    }

    private let state = Mutex(State())
    /// Serialises domain-list refreshes (the two special watches run in separate tasks).
    private let refreshing = Mutex(())
    private let events = Synchronization.Atomic<Int>(0)
    private let xs: XenstoreConnection
    private let hypervisor: any Hypervisor
    private let metadata: MetadataStore
    private let backend: DomainBackend
    let internalUpdates: Updates
    /// The table xapi reads, for guest agents' reports.
    private let updates: Updates
    private let logger: Logger

    init(store: XenstoreDaemon, hypervisor: any Hypervisor, metadata: MetadataStore, backend: DomainBackend,
         internalUpdates: Updates, updates: Updates, logger: Logger) {
        self.updates = updates
        xs = store.connect(domid: 0)
        self.hypervisor = hypervisor
        self.metadata = metadata
        self.backend = backend
        self.internalUpdates = internalUpdates
        self.logger = logger
    }

    /// Watches until cancelled, then drops every watch. `onReady` runs once the special watches
    /// are registered.
    func run(onReady: @Sendable () -> Void = {}) async {
        var watches: [XenstoreWatch] = []
        for special in ["@introduceDomain", "@releaseDomain"] {
            do throws(XenstoreError) {
                watches.append(try xs.watch(special, token: ""))
            } catch {
                logger.error("cannot watch", metadata: ["path": "\(special)", "error": "\(error)"])
            }
        }
        onReady()
        await withDiscardingTaskGroup { group in
            for watch in watches {
                group.addTask {
                    for await _ in watch { self.refreshDomains() }
                }
            }
        }
        let handles = state.withLock { state -> [XenstoreWatchHandle] in
            state.stopped = true
            var handles = state.domainWatches.values.flatMap { $0 }
            for devices in state.devices.values { handles += devices.values.flatMap { $0 } }
            state.domainWatches = [:]
            state.devices = [:]
            return handles
        }
        for handle in handles { handle.cancel() }
    }

    /// Watch events handled so far.
    var eventCount: Int { events.load(ordering: .relaxed) }

    var watchedDomains: [UInt32] { state.withLock { Array($0.domainWatches.keys) }.sorted() }

    // MARK: domains

    /// The domain-list diff, limited to the domains the hypervisor reports changed since the last
    /// one (with 1,000 domains, listing and sorting them all made up most of what a running
    /// population added to a `VM.start`). Watches are registered outside the state lock: their
    /// first event is delivered at registration, possibly on this thread, and its handler takes
    /// the lock.
    func refreshDomains() {
        refreshing.withLock { _ in
            var signals: [String] = []
            var toCancel: [XenstoreWatchHandle] = []
            var toWatch: [(domid: UInt32, uuid: String, epoch: Int)] = []
            state.withLock { state in
                guard !state.stopped else { return }
                /// One domain's diff: watch it while it runs, signal its VM when it changed.
                func reconcile(_ domid: UInt32, _ now: Known?) {
                    guard now != state.domains[domid], let known = now ?? state.domains[domid] else { return }
                    state.domains[domid] = now
                    if domid > 0 && !metadata.exists(known.uuid) {
                        logger.debug("ignoring unmanaged domain", metadata: ["domid": "\(domid)"])
                        toCancel += removeWatches(domid, &state)
                        return
                    }
                    signals.append(known.uuid)
                    let running = now.map { !$0.shutdown || $0.reason == .softReset } ?? false
                    let watching = state.domainWatches[domid] != nil
                    if running && !watching {
                        logger.debug("watching domain", metadata: ["domid": "\(domid)", "vm": "\(known.uuid)"])
                        state.nextEpoch += 1
                        state.epochs[domid] = state.nextEpoch
                        state.domainWatches[domid] = []
                        state.devices[domid] = [:]
                        toWatch.append((domid, known.uuid, state.nextEpoch))
                    } else if !running && watching {
                        toCancel += removeWatches(domid, &state)
                    }
                }
                // Taken before reading the domains: a change racing the reads is reported again.
                let changes = hypervisor.domainChanges(after: state.serial ?? 0)
                if state.serial != nil, let domids = changes.domids {
                    for domid in Set(domids).sorted() { reconcile(domid, hypervisor.domainInfo(domid).map(Known.init)) }
                } else {
                    var current: [UInt32: Known] = [:]
                    for info in hypervisor.domainList() { current[info.domid] = Known(info) }
                    for domid in Set(current.keys).union(state.domains.keys).sorted() { reconcile(domid, current[domid]) }
                }
                state.serial = changes.serial
            }
            for handle in toCancel { handle.cancel() }
            for (domid, uuid, epoch) in toWatch {
                let handles = Self.domainPaths(domid, uuid: uuid).compactMap { watch($0, token: Self.token(domid)) }
                keep(handles, of: domid, epoch: epoch) { state in
                    guard state.domainWatches[domid] != nil else { return false }
                    state.domainWatches[domid]! += handles
                    return true
                }
            }
            for uuid in signals { internalUpdates.add(.vm(uuid)) }
        }
    }

    private func removeWatches(_ domid: UInt32, _ state: inout State) -> [XenstoreWatchHandle] {
        var handles = state.domainWatches.removeValue(forKey: domid) ?? []
        handles += (state.devices.removeValue(forKey: domid) ?? [:]).values.flatMap { $0 }
        state.epochs[domid] = nil
        if !handles.isEmpty { logger.debug("stopped watching domain", metadata: ["domid": "\(domid)"]) }
        return handles
    }

    /// Stores watches registered outside the lock with `store`, or cancels them when the domain
    /// stopped being watched meanwhile (its epoch moved) or `store` finds their place gone.
    private func keep(_ handles: [XenstoreWatchHandle], of domid: UInt32, epoch: Int,
                      _ store: (inout State) -> Bool) {
        let kept = state.withLock { state in state.epochs[domid] == epoch && store(&state) }
        if !kept { for handle in handles { handle.cancel() } }
    }

    /// A watch whose events are handled inline: `watchFired` only notes a signal, so a storm
    /// of guest writes costs no task wake-ups.
    private func watch(_ path: String, token: String) -> XenstoreWatchHandle? {
        do throws(XenstoreError) {
            return try xs.watch(path, token: token) { [weak self] event in self?.watchFired(event.path) }
        } catch {
            logger.warning("cannot watch", metadata: ["path": "\(path)", "error": "\(error)"])
            return nil
        }
    }

    // MARK: events

    /// Path → signal, as xenops_server_xen.ml's `Actions.fire_event_on_vm`/`fire_event_on_device` map them.
    func watchFired(_ path: String) {
        events.add(1, ordering: .relaxed)
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        if parts.count >= 7, parts[0] == "local", parts[1] == "domain", parts[3] == "backend" {
            let (kind, frontend, devid) = (parts[4], parts[5], parts[6])
            guard let domid = UInt32(frontend) else { return }
            fireDevice(domid: domid, kind: kind, devid: devid)
            if parts.count == 8, parts[7] == "state" { detectPVDrivers(domid: domid, statePath: path) }
        } else if parts.count >= 4, parts[0] == "local", parts[1] == "domain", parts[3] == "device" {
            if let domid = UInt32(parts[2]) { lookForDifferentDevices(domid) }
        } else if parts.count >= 3, parts[0] == "local", parts[1] == "domain" {
            if let domid = UInt32(parts[2]), let uuid = uuid(of: domid) {
                internalUpdates.add(.vm(uuid))
                if parts.count == 5, parts[3] == "data", parts[4] == "updated", metadata.exists(uuid) { updates.add(.vm(uuid)) }
            } else {
                logger.trace("ignoring watch on shut-down domain", metadata: ["path": "\(path)"])
            }
        } else if parts.count == 4, parts[0] == "vm", parts[2] == "rtc", parts[3] == "timeoffset" {
            if (try? xs.exists(path)) == true { internalUpdates.add(.vm(parts[1])) }
        } else {
            logger.trace("ignoring unexpected watch", metadata: ["path": "\(path)"])
        }
    }

    /// The VM a watched domain belongs to now: its handle, as xenopsd reads it for each event
    /// (a migration renames the domain it moves aside and the one it takes in).
    private func uuid(of domid: UInt32) -> String? {
        guard state.withLock({ $0.domains[domid] != nil }) else { return nil }
        return hypervisor.domainInfo(domid)?.uuid
    }

    private func fireDevice(domid: UInt32, kind: String, devid: String) {
        guard let uuid = uuid(of: domid) else {
            logger.trace("ignoring watch on shut-down domain", metadata: ["domid": "\(domid)"])
            return
        }
        switch kind {
        case "vbd", "vbd3", "qdisk", "9pfs":
            guard let key = Int(devid), let name = DeviceNumber(xenstoreKey: key)?.linuxName else { return }
            internalUpdates.add(.vbd(DeviceID(vm: uuid, device: name)))
        case "vif":
            internalUpdates.add(.vif(DeviceID(vm: uuid, device: devid)))
        default:
            logger.debug("unknown device kind", metadata: ["kind": "\(kind)"])
        }
    }

    /// As xenopsd on a device directory's watch: re-list the domain's devices from the dom0 mirror and adjust the
    /// backend-key watches. Emits nothing itself.
    private func lookForDifferentDevices(_ domid: UInt32) {
        var listed: [String: String] = [:]
        for kind in ["vbd", "vif"] {
            let dir = "/xenops/domain/\(domid)/device/\(kind)"
            for devid in (try? xs.directory(dir)) ?? [] {
                if let backend = try? xs.read("\(dir)/\(devid)/backend") { listed["\(kind)/\(devid)"] = backend }
            }
        }
        var toWatch: [(key: String, backend: String)] = []
        let (toCancel, epoch) = state.withLock { state -> ([XenstoreWatchHandle], Int?) in
            guard !state.stopped, var devices = state.devices[domid] else { return ([], nil) }
            var cancelled: [XenstoreWatchHandle] = []
            for (key, handles) in devices where listed[key] == nil {
                cancelled += handles
                devices[key] = nil
            }
            for (key, backend) in listed where devices[key] == nil {
                devices[key] = []
                toWatch.append((key, backend))
            }
            state.devices[domid] = devices
            return (cancelled, state.epochs[domid])
        }
        for handle in toCancel { handle.cancel() }
        guard let epoch else { return }
        for (key, backend) in toWatch {
            let handles = Self.backendKeys.compactMap { watch("\(backend)/\($0)", token: Self.token(domid)) }
            keep(handles, of: domid, epoch: epoch) { state in
                guard state.devices[domid]?[key] != nil else { return false }
                state.devices[domid]![key]! += handles
                return true
            }
        }
    }

    /// A backend reaching Connected (4) is evidence of PV drivers; losing it
    /// keeps the flag only while another device of the domain is still connected.
    private func detectPVDrivers(domid: UInt32, statePath: String) {
        guard let uuid = uuid(of: domid), let value = try? xs.read(statePath) else { return }
        let detected = backend.extra(uuid)?.pvDriversDetected ?? false
        var now = detected
        if value == "4" && !detected {
            now = true
        } else if value != "4" && detected {
            now = false
            for kind in ["vbd", "vif"] {
                let dir = "/xenops/domain/\(domid)/device/\(kind)"
                for devid in (try? xs.directory(dir)) ?? [] {
                    if let backendPath = try? xs.read("\(dir)/\(devid)/backend"),
                       (try? xs.read("\(backendPath)/state")) == "4" {
                        now = true
                    }
                }
            }
        }
        guard now != detected else { return }
        backend.updateExtra(uuid) { $0.pvDriversDetected = now }
        logger.debug("PV drivers \(now ? "detected" : "lost")", metadata: ["vm": "\(uuid)"])
        internalUpdates.add(.vm(uuid))
    }
}
