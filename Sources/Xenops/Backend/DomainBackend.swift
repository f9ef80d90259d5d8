import Logging
import Synchronization
import Timing
import Xenstore

/// Per-VM facts the backend keeps beside the hypervisor's (xenopsd's `VmExtra`).
struct VMExtra: Sendable {
    var domid: UInt32?
    /// Wall-clock creation time of the current domain (`last_start_time`).
    var createTime: Double = 0
    /// Monotonic creation time, for uptime checks.
    var createdAt: Duration = .zero
    var pvDriversDetected = false
    var suspendImage: SuspendImage?
    var kind: VMConfig.DomainKind?
    var deviceModel = false
    var pcisPlugged: Set<String> = []
    var vgpusPlugged: Set<String> = []
}

/// xenopsd's xen backend: carries out atomic steps on the hypervisor and xenstore, and reads
/// state back from them. It writes the domain and device layout of ocaml/xenopsd/xc/domain.ml (`make`), waits on
/// xenstore watches for hotplug scripts and guests, and never polls.
final class DomainBackend: Sendable {
    let hypervisor: any Hypervisor
    let store: XenstoreDaemon
    let xs: XenstoreConnection
    let metadata: MetadataStore
    let configuration: XenopsConfiguration
    let clock: any ServerClock
    let logger: Logger
    let waiter: XenstoreWaiter
    private let extras = Mutex([String: VMExtra]())

    init(hypervisor: any Hypervisor, store: XenstoreDaemon, metadata: MetadataStore,
         configuration: XenopsConfiguration, clock: any ServerClock, logger: Logger) {
        self.hypervisor = hypervisor
        self.store = store
        self.metadata = metadata
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        xs = store.connect(domid: 0)
        waiter = XenstoreWaiter(xs: xs, clock: clock)
    }

    /// dom0's own directories (the toolstack creates `/local/domain/0`).
    func initialiseDom0() {
        do {
            try xs.transaction { tx in
                try tx.write("/local/domain/0/name", "Domain-0")
                try tx.write("/local/domain/0/domid", "0")
                try tx.mkdir("/local/domain/0/backend")
                try tx.mkdir("/vm")
                try tx.mkdir("/xapi")
                try tx.mkdir("/xenops/domain")
                try tx.mkdir("/libxl")
            }
        } catch {
            logger.error("cannot create dom0's xenstore directories", metadata: ["error": "\(error)"])
        }
    }

    // MARK: extras

    func extra(_ vm: String) -> VMExtra? { extras.withLock { $0[vm] } }

    @discardableResult
    func updateExtra<T>(_ vm: String, _ body: (inout VMExtra) -> T) -> T {
        extras.withLock { extras in
            var extra = extras[vm] ?? VMExtra()
            defer { extras[vm] = extra }
            return body(&extra)
        }
    }

    func removeExtra(_ vm: String) { extras.withLock { _ = $0.removeValue(forKey: vm) } }

    // MARK: paths and permissions

    static func domainPath(_ domid: UInt32) -> String { "/local/domain/\(domid)" }
    static func xenopsPath(_ domid: UInt32) -> String { "/xenops/domain/\(domid)" }
    static func vmPath(_ uuid: String) -> String { "/vm/\(uuid)" }
    static func privatePath(_ uuid: String) -> String { "/xapi/\(uuid)" }

    /// dom0 owns; the guest may read.
    static func readOnly(for domid: UInt32) -> [XenstorePermission] { [.init(.none, 0), .init(.read, domid)] }
    /// The guest owns.
    static func readWrite(for domid: UInt32) -> [XenstorePermission] { [.init(.none, domid)] }
    static let dom0Only: [XenstorePermission] = [.init(.none, 0)]

    /// The current domain of `vm`, if any.
    func domain(of vm: String) -> DomainInfo? { hypervisor.domainInfo(uuid: vm) }

    private func requireDomain(_ vm: String) throws(XenopsError) -> DomainInfo {
        guard let domain = domain(of: vm) else { throw .doesNotExist(kind: "domain", id: vm) }
        return domain
    }

    func transaction(_ what: String, _ body: (XenstoreTransaction) throws -> Void) throws(XenopsError) {
        do {
            try xs.transaction(body)
        } catch {
            throw .internalError("xenstore \(what): \(error)")
        }
    }

    // MARK: VM

    /// `VM_create`: a paused, empty domain and its xenstore tree, with `action-request=poweroff`
    /// until the start completes (so a half-built domain is cleaned up if we die).
    func create(_ vm: VMConfig) throws(XenopsError) {
        if let existing = domain(of: vm.id) {
            throw .alreadyExists(kind: "domain", id: String(existing.domid))
        }
        let domid = try hypervisor.createDomain(uuid: vm.id, hvm: vm.kind == .hvm, vcpuMax: vm.vcpuMax,
                                                maxMemoryKiB: vm.memoryStaticMax / 1024)
        let dom = Self.domainPath(domid)
        let vmPath = Self.vmPath(vm.id)
        let name = vm.name.isEmpty ? "Domain-\(domid)" : vm.name
        let createTime = clock.wallTime
        do throws(XenopsError) {
            try transaction("create domain tree") { tx in
                // Clear leftovers of an earlier domain with this domid.
                for path in [dom, Self.xenopsPath(domid), "/libxl/\(domid)"] { try? tx.rm(path) }
                try Self.mkdir(tx, dom, Self.readOnly(for: domid))
                try Self.mkdir(tx, Self.xenopsPath(domid), Self.dom0Only)
                try Self.mkdir(tx, "/libxl/\(domid)", Self.dom0Only)
                if !(try tx.exists(vmPath)) {
                    try Self.mkdir(tx, vmPath, Self.readOnly(for: domid))
                    try tx.write("\(vmPath)/uuid", vm.id)
                    try tx.write("\(vmPath)/name", name)
                }
                try tx.write("\(vmPath)/domains/\(domid)", dom)
                try tx.write("\(vmPath)/domains/\(domid)/create-time", String(Int64(createTime * 1e9)))
                try tx.write("\(dom)/vm", vmPath)
                try tx.write("\(dom)/name", name)
                for dir in ["cpu", "memory"] { try Self.mkdir(tx, "\(dom)/\(dir)", Self.readOnly(for: domid)) }
                for dir in ["device", "device/vbd", "device/9pfs", "device/vif", "feature", "error", "drivers",
                            "control", "attr", "xenserver/attr", "data", "messages", "vm-data", "hvmloader", "rrd"] {
                    try Self.mkdir(tx, "\(dom)/\(dir)", Self.readWrite(for: domid))
                }
                for dir in ["device", "device/vbd", "device/9pfs", "device/vif"] {
                    try Self.mkdir(tx, "\(Self.xenopsPath(domid))/\(dir)", Self.dom0Only)
                }
            }
            try transaction("domain keys") { tx in
                for (key, value) in vm.xsData.sorted(by: { $0.key < $1.key }) where Self.allowedXsdata(key) {
                    try tx.write("\(dom)/\(key)", value)
                }
                for (key, value) in vm.platformData.sorted(by: { $0.key < $1.key }) { try tx.write("\(dom)/platform/\(key)", value) }
                for (key, value) in vm.biosStrings.sorted(by: { $0.key < $1.key }) { try tx.write("\(dom)/bios-strings/\(key)", value) }
                // A toolstack that finds a domain it owns in this state should shut it down.
                try tx.write("\(dom)/action-request", "poweroff")
                try tx.write("\(dom)/control/platform-feature-multiprocessor-suspend", "1")
                try tx.write("\(dom)/control/platform-feature-xs_reset_watches", "1")
                try tx.write("\(dom)/control/has-vendor-device", vm.hasVendorDevice ? "1" : "0")
                try tx.write("\(dom)/unique-domain-id", Self.freshUUID())
            }
        } catch {
            try? hypervisor.destroy(domid)
            throw error
        }
        let now = clock.now
        updateExtra(vm.id) { extra in
            extra.domid = domid
            extra.createTime = createTime
            extra.createdAt = now
            extra.pvDriversDetected = false
            extra.kind = vm.kind
            extra.deviceModel = false
            extra.pcisPlugged = []
            extra.vgpusPlugged = []
        }
        logger.info("domain created", metadata: ["vm": "\(vm.id)", "domid": "\(domid)"])
    }

    /// Only these prefixes of `xsdata` reach the guest's tree (xenopsd's `allowed_xsdata_prefixes`).
    static func allowedXsdata(_ key: String) -> Bool {
        key.hasPrefix("vm-data") || key.hasPrefix("FIST")
    }

    private static func mkdir(_ tx: XenstoreTransaction, _ path: String, _ permissions: [XenstorePermission]) throws {
        try tx.mkdir(path)
        try tx.setPermissions(path, permissions)
    }

    /// `VM_build`: memory and vCPUs in place, the build keys written, then the domain is
    /// introduced to xenstored — which fires `@introduceDomain`, so the watcher starts watching
    /// it only now (domain.ml, `build_post`).
    func build(_ vm: VMConfig) throws(XenopsError) {
        let domain = try requireDomain(vm.id)
        let domid = domain.domid
        let targetKiB = vm.memoryDynamicMax / 1024
        try hypervisor.buildDomain(domid, memoryKiB: targetKiB, vcpus: vm.vcpus)
        try writeBuildKeys(vm, domid: domid, targetKiB: targetKiB, vcpus: vm.vcpus)
        try introduce(domid)
    }

    private func writeBuildKeys(_ vm: VMConfig, domid: UInt32, targetKiB: Int64, vcpus: Int) throws(XenopsError) {
        let dom = Self.domainPath(domid)
        try transaction("build keys") { tx in
            try tx.write("\(dom)/memory/static-max", String(vm.memoryStaticMax / 1024))
            try tx.write("\(dom)/memory/target", String(targetKiB))
            try tx.write("\(dom)/domid", String(domid))
            try tx.write("\(dom)/store/port", "1")
            try tx.write("\(dom)/store/ring-ref", String(0xFEFFC + Int(domid)))
            for cpu in 0..<vm.vcpuMax {
                try tx.write("\(dom)/cpu/\(cpu)/availability", cpu < vcpus ? "online" : "offline")
            }
            try tx.write("/libxl/\(domid)/type", vm.kind == .hvm ? "hvm" : "pv")
            if vm.kind != .hvm {
                // PV consoles are served by a terminal emulator on a TCP port.
                try tx.write("\(dom)/console/tc-port", String(9000 + Int(domid)))
            }
        }
    }

    private func introduce(_ domid: UInt32) throws(XenopsError) {
        do throws(XenstoreError) {
            try store.introduceDomain(domid)
        } catch {
            throw .internalError("introduce domain \(domid): \(error)")
        }
    }

    /// `VM_create_device_model`: the emulator for HVM guests. The simulated qemu announces itself
    /// where xenopsd looks for it (state `running`, the VNC port).
    func createDeviceModel(_ vm: VMConfig) throws(XenopsError) {
        let domain = try requireDomain(vm.id)
        guard vm.kind == .hvm else { return }
        try transaction("device model") { tx in
            try tx.write("/local/domain/0/device-model/\(domain.domid)/state", "running")
            try tx.write("\(Self.domainPath(domain.domid))/console/vnc-port", String(5900 + Int(domain.domid)))
        }
        updateExtra(vm.id) { $0.deviceModel = true }
    }

    func destroyDeviceModel(_ vm: VMConfig) {
        guard let domain = domain(of: vm.id) else { return }
        try? xs.rm("/local/domain/0/device-model/\(domain.domid)")
        try? xs.rm("\(Self.domainPath(domain.domid))/console/vnc-port")
        updateExtra(vm.id) { $0.deviceModel = false }
    }

    /// `VM_destroy`: the hypervisor drops the domain (xenstored releases it and fires
    /// `@releaseDomain`), then its leftover xenstore state goes.
    func destroy(_ vm: VMConfig) throws(XenopsError) {
        guard let domain = domain(of: vm.id) else { return }
        let domid = domain.domid
        try hypervisor.destroy(domid)
        for path in [Self.domainPath(domid), Self.xenopsPath(domid), "/libxl/\(domid)",
                     "\(Self.vmPath(vm.id))/domains/\(domid)", "/local/domain/0/device-model/\(domid)",
                     "\(Self.privatePath(vm.id))/hotplug/\(domid)"] {
            try? xs.rm(path)
        }
        for kind in ["vbd", "vif"] { try? xs.rm("/local/domain/0/backend/\(kind)/\(domid)") }
        updateExtra(vm.id) { extra in
            extra.domid = nil
            extra.deviceModel = false
            extra.pcisPlugged = []
            extra.vgpusPlugged = []
        }
        logger.info("domain destroyed", metadata: ["vm": "\(vm.id)", "domid": "\(domid)"])
    }

    func pause(_ vm: VMConfig) throws(XenopsError) {
        try hypervisor.pause(try requireDomain(vm.id).domid)
    }

    func unpause(_ vm: VMConfig) throws(XenopsError) {
        try hypervisor.unpause(try requireDomain(vm.id).domid)
    }

    /// xenopsd's `Domain.set_memory_dynamic_range`, then the balance squeezed would make: with
    /// memory to spare on the host it sets the target at the new dynamic-max, which the guest's
    /// balloon driver follows.
    func setMemoryDynamicRange(_ vm: VMConfig, min: Int64, max: Int64) throws(XenopsError) {
        let domain = try requireDomain(vm.id)
        guard domain.built else { throw .domainNotBuilt }
        let dom = Self.domainPath(domain.domid)
        try transaction("memory dynamic range") { tx in
            try tx.write("\(dom)/memory/dynamic-min", String(min / 1024))
            try tx.write("\(dom)/memory/dynamic-max", String(max / 1024))
            try tx.write("\(dom)/memory/target", String(max / 1024))
        }
    }

    func setVCPUs(_ vm: VMConfig, _ count: Int) throws(XenopsError) {
        let domain = try requireDomain(vm.id)
        guard domain.built else { throw .domainNotBuilt }
        if vm.kind == .hvm && !(extra(vm.id)?.deviceModel ?? false) { throw .domainNotBuilt }
        try hypervisor.setVCPUs(domain.domid, online: count)
        for cpu in 0..<vm.vcpuMax {
            try? xs.write("\(Self.domainPath(domain.domid))/cpu/\(cpu)/availability", cpu < count ? "online" : "offline")
        }
    }

    /// Writes `control/shutdown` and waits up to `ackTimeout` for the guest to clear it.
    func requestShutdown(_ vm: VMConfig, _ request: ShutdownRequest, ackTimeout: Duration, task: TaskHandle) async throws(XenopsError) -> Bool {
        let domain = try requireDomain(vm.id)
        let path = "\(Self.domainPath(domain.domid))/control/shutdown"
        try? xs.rm(path)
        do throws(XenstoreError) {
            try xs.write(path, request.rawValue)
        } catch {
            throw .internalError("cannot write \(path): \(error)")
        }
        let xs = self.xs
        let hypervisor = self.hypervisor
        let domid = domain.domid
        return try await waiter.wait(on: path, timeout: ackTimeout, task: task) {
            let value = try? xs.read(path)
            if value == nil || value == "" { return true }
            // A domain that is already down has nobody left to acknowledge.
            return hypervisor.domainInfo(domid).map { $0.shutdown } ?? true
        }
    }

    /// Waits (on `@releaseDomain`) until the domain has shut down or gone.
    func waitShutdown(_ vm: VMConfig, timeout: Duration, task: TaskHandle) async throws(XenopsError) -> Bool {
        guard let domain = domain(of: vm.id) else { return true }
        let hypervisor = self.hypervisor
        let domid = domain.domid
        return try await waiter.wait(on: "@releaseDomain", timeout: timeout, task: task) {
            hypervisor.domainInfo(domid).map { $0.shutdown } ?? true
        }
    }

    /// Why the domain wants attention (xenops_server_xen.ml, `VM.get_domain_action_request`): its shutdown code if it stopped, else its
    /// `action-request` key; no domain at all reads as poweroff.
    func domainActionRequest(_ vm: VMConfig) -> DomainActionRequest? {
        guard let domain = domain(of: vm.id) else { return .needsPoweroff }
        if domain.shutdown {
            switch domain.shutdownReason ?? .poweroff {
            case .poweroff: return .needsPoweroff
            case .reboot, .watchdog: return .needsReboot
            case .suspend: return .needsSuspend
            case .crash: return .needsCrashdump
            case .softReset: return .needsSoftreset
            }
        }
        switch try? xs.read("\(Self.domainPath(domain.domid))/action-request") {
        case "poweroff": return .needsPoweroff
        case "reboot": return .needsReboot
        default: return nil
        }
    }

    func setDomainActionRequest(_ vm: VMConfig, _ request: DomainActionRequest?) {
        guard let domain = domain(of: vm.id) else { return }
        let path = "\(Self.domainPath(domain.domid))/action-request"
        switch request {
        case nil: try? xs.rm(path)
        case .needsPoweroff: try? xs.write(path, "poweroff")
        case .needsReboot: try? xs.write(path, "reboot")
        default: break
        }
    }

    /// `VM_save`: ask the guest to suspend, wait for it, keep its memory image. Cancellation is
    /// refused from the moment the guest is asked.
    func save(_ vm: VMConfig, task: TaskHandle, progress: @Sendable (Double) -> Void) async throws(XenopsError) {
        let domain = try requireDomain(vm.id)
        task.table.prohibitCancellation(task.id)
        guard try await requestShutdown(vm, .suspend, ackTimeout: configuration.suspendAckTimeout, task: task) else {
            throw .failedToAcknowledgeSuspendRequest
        }
        progress(0.3)
        guard try await waitShutdown(vm, timeout: configuration.suspendTimeout, task: task) else {
            throw .failedToSuspend(id: vm.id, timeout: configuration.suspendTimeout.seconds)
        }
        progress(0.6)
        let image = try hypervisor.save(domain.domid)
        updateExtra(vm.id) { $0.suspendImage = image }
        progress(1)
    }

    /// `VM_restore`: the saved image into the freshly created domain, then introduced.
    func restore(_ vm: VMConfig, progress: @Sendable (Double) -> Void) throws(XenopsError) {
        let domain = try requireDomain(vm.id)
        guard let image = extra(vm.id)?.suspendImage else { throw .internalError("VM \(vm.id) has no suspend image") }
        try hypervisor.restore(domain.domid, from: image)
        progress(0.5)
        try writeBuildKeys(vm, domid: domain.domid, targetKiB: image.memoryKiB, vcpus: image.vcpus)
        try introduce(domain.domid)
        updateExtra(vm.id) { $0.suspendImage = nil }
        progress(1)
    }

    /// `VM_softreboot`: the domain restarts in place; what the guest advertised is cleared.
    func softReset(_ vm: VMConfig) throws(XenopsError) {
        let domain = try requireDomain(vm.id)
        let dom = Self.domainPath(domain.domid)
        for feature in ["suspend", "poweroff", "reboot", "vcpu-hotplug", "balloon"] {
            try? xs.rm("\(dom)/control/feature-\(feature)")
        }
        try? xs.rm("\(dom)/memory/target")
        try? xs.write("\(dom)/data/updated", "1")
        try hypervisor.softReset(domain.domid)
        try hypervisor.unpause(domain.domid)
    }

    // MARK: VM state

    /// Running/Paused from the domain; Suspended or Halted without one.
    func powerState(of vm: VMConfig) -> PowerState {
        if let domain = domain(of: vm.id) { return domain.paused ? .paused : .running }
        if let image = extra(vm.id)?.suspendImage, image.bytes != 0 { return .suspended }
        return .halted
    }

    /// `VM.stat`'s state record (xenops_types.ml, `Vm.state`).
    func state(of vm: VMConfig) -> VMState {
        let extra = self.extra(vm.id)
        guard let domain = domain(of: vm.id) else {
            var state = VMState.halted
            if let image = extra?.suspendImage, image.bytes != 0 { state.powerState = .suspended }
            return state
        }
        let dom = Self.domainPath(domain.domid)
        var state = VMState()
        state.powerState = domain.paused ? .paused : .running
        state.domids = [Int(domain.domid)]
        if let port = (try? xs.read("\(dom)/console/vnc-port")).flatMap({ Int($0) }) {
            state.consoles.append(.init(protocol: .rfb, port: port, path: ""))
        }
        if let port = (try? xs.read("\(dom)/console/tc-port")).flatMap({ Int($0) }) {
            state.consoles.append(.init(protocol: .vt100, port: port, path: ""))
        }
        state.uncooperativeBalloonDriver = (try? xs.exists("\(dom)/memory/uncooperative")) ?? false
        state.memoryTarget = ((try? xs.read("\(dom)/memory/target")).flatMap { Int64($0) } ?? 0) * 1024
        state.memoryActual = domain.totalMemoryKiB * 1024
        let overheadMiB: Int64 = domain.hvm ? 2 : 1
        state.memoryLimit = max(state.memoryActual, domain.maxMemoryKiB * 1024 - overheadMiB * 1024 * 1024)
        state.vcpuTarget = domain.vcpus
        state.rtcTimeoffset = (try? xs.read("\(Self.vmPath(vm.id))/rtc/timeoffset")) ?? ""
        var quota = configuration.guestAgentQuotaBytes
        state.guestAgent = guestAgentListing(dom, quota: &quota)
        state.xsdataState = listing(dom, roots: [("vm-data", nil, 512), ("FIST", nil, 512)], quota: &quota)
        if quota <= 0 {
            logger.warning("guest agent xenstore quota reached", metadata: ["vm": "\(vm.id)", "domid": "\(domain.domid)"])
        }
        state.pvDriversDetected = extra?.pvDriversDetected ?? false
        state.lastStartTime = extra?.createTime ?? 0
        state.hvm = domain.hvm
        state.nomigrate = vm.platformData["nomigrate"] == "true" || vm.platformData["nomigrate"] == "1"
        state.nestedVirt = vm.platformData["nested-virt"] == "true" || vm.platformData["nested-virt"] == "1"
        state.shadowMultiplierTarget = 1.0
        state.domainType = switch extra?.kind ?? vm.kind {
        case .hvm: .hvm
        case .pv: .pv
        case .pvh: .pvh
        case .pvInPVH: .pvInPVH
        }
        return state
    }

    /// The guest's own keys xapi derives guest metrics from, with xenopsd's depths (xenops_server_xen.ml, `VM.get_state`).
    private func guestAgentListing(_ root: String, quota: inout Int) -> [VMState.GuestAgentEntry] {
        listing(root, roots: [
            ("control", nil, 0), ("feature/hotplug", nil, 0), ("xenserver/attr", nil, 3),
            ("attr", "attr/os/hotfixes", 3), ("drivers", nil, 0), ("data", nil, 0),
            ("data/service", nil, 1), ("data/pvs_target", nil, 0),
        ], quota: &quota)
    }

    /// xenopsd's `ls_lR`: the value of each directory, then its children, down to `depth`
    /// directory levels (keys one level further are still read), within a byte quota.
    private func listing(_ root: String, roots: [(String, String?, Int)], quota: inout Int) -> [VMState.GuestAgentEntry] {
        var out: [VMState.GuestAgentEntry] = []
        func walk(_ dir: String, exclude: String?, depth: Int) {
            if quota <= 0 || dir == exclude { return }
            let path = "\(root)/\(dir)"
            if let value = try? xs.read(path) {
                quota -= dir.utf8.count + value.utf8.count + 8
                out.append(.init(path: dir, value: value))
            }
            guard depth >= 0, let children = try? xs.directory(path) else { return }
            for child in children where !child.isEmpty {
                walk("\(dir)/\(child)", exclude: exclude, depth: depth - 1)
            }
        }
        for (dir, exclude, depth) in roots { walk(dir, exclude: exclude, depth: depth) }
        return out
    }

    static func freshUUID() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let hex = bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
        let chars = Array(hex)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(chars[$0]) }.joined(separator: "-")
    }
}
