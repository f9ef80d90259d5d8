import Testing
import Simulator
import Timing
@testable import Xenops
import Xenstore

/// Signals that start in xenstore: domain introduction and release, guest agents, guests
/// shutting themselves down — all reaching the external Updates only through watches.
@Suite(.timeLimit(.minutes(2))) struct SignalTests {
    /// Reads Updates until nothing arrives for a short while, returning the token.
    static func quiesce(_ h: Harness, from token: Int?) async -> Int {
        var token = token
        while true {
            let batch = await h.xenops.updates.get(from: token, timeout: .milliseconds(300))
            if batch.isEmpty { return batch.next }
            token = batch.next
        }
    }

    @Test func introduceDomainFiresAtTheEndOfBuildNotAtCreate() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "44444444-0000-0000-0000-000000000001"
        h.xenops.vm.importMetadata(Harness.metadata(uuid, vbds: [], vifs: 0))
        let watch = try h.dom0.watch("@introduceDomain", token: "test")
        var events = watch.makeAsyncIterator()
        #expect(await events.next()?.path == "@introduceDomain")  // the registration event

        #expect(await h.succeed(h.xenops.vm.create(uuid)))
        let domid = try #require(h.simulator.domainInfo(uuid: uuid)?.domid)
        #expect(try !h.dom0.isDomainIntroduced(domid))
        #expect(!h.xenops.watcher.watchedDomains.contains(domid))
        #expect(try !h.dom0.exists("/local/domain/\(domid)/store/port"))

        let token = h.xenops.updates.lastID
        #expect(await h.succeed(h.xenops.vm.build(uuid)))
        #expect(try h.dom0.isDomainIntroduced(domid))
        #expect(await events.next()?.path == "@introduceDomain")
        // Introduced last: the build keys were already there.
        #expect(try h.dom0.read("/local/domain/\(domid)/store/port") == "1")
        #expect(try h.dom0.exists("/local/domain/\(domid)/memory/static-max"))
        // The watcher diffed the domain list, found the new domain and started watching it; the
        // VM_check_state that followed signalled the VM.
        #expect(await h.waitForUpdates(from: token) { $0.contains(.vm(uuid)) }.satisfied)
        #expect(h.xenops.watcher.watchedDomains.contains(domid))
    }

    @Test func aGuestAgentWriteBecomesAVMSignal() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "44444444-0000-0000-0000-000000000002"
        h.xenops.vm.importMetadata(Harness.metadata(uuid, vbds: [], vifs: 0))
        h.simulator.setAgentEnabled(vm: uuid, false)
        let domid = try #require(await h.startRunning(uuid))
        var token = await Self.quiesce(h, from: h.xenops.updates.lastID)

        // The agent's last write, `data/updated`, is watched: the VM is signalled.
        let guest = h.store.connect(domid: domid)
        try guest.write("data/updated", "marker-1")
        let seen = await h.waitForUpdates(from: token) { $0.contains(.vm(uuid)) }
        #expect(seen.satisfied)
        #expect(try h.xenops.vm.stat(uuid).state.guestAgent.contains { $0.path == "data/updated" && $0.value == "marker-1" })

        // A key xenopsd does not watch (`data/meminfo_free`) signals nothing by itself.
        token = await Self.quiesce(h, from: seen.token)
        try guest.write("data/meminfo_free", "1234")
        let quiet = await h.xenops.updates.get(from: token, timeout: .milliseconds(500))
        #expect(!quiet.updates.contains(.vm(uuid)))

        // The real agent: its report reaches xapi as a VM change whose stat carries it.
        h.simulator.setAgentEnabled(vm: uuid, true)
        #expect(await h.waitForVM(uuid, from: quiet.next) { state in
            state.guestAgent.contains { $0.path == "data/os_name" } && state.guestAgent.contains { $0.path == "attr/PVAddons/Installed" }
        })
        #expect(h.simulator.agentCycles >= 1)
    }

    @Test func aGuestShuttingItselfDownReachesUpdatesAsAVMChangeWithTheDomainGone() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "44444444-0000-0000-0000-000000000003"
        h.xenops.vm.importMetadata(Harness.metadata(uuid))
        let domid = try #require(await h.startRunning(uuid))
        let token = h.xenops.updates.lastID
        try h.simulator.guestShutdown(vm: uuid, reason: .poweroff)
        #expect(await h.waitForVM(uuid, from: token) { $0.powerState == .halted && $0.domids.isEmpty })
        #expect(h.simulator.domainInfo(uuid: uuid) == nil)
        #expect(try !h.dom0.exists("/local/domain/\(domid)"))
        #expect(try h.dom0.directory("/local/domain/0/backend/vbd").isEmpty)
        #expect(try h.dom0.directory("/local/domain/0/backend/vif").isEmpty)
        #expect(try !h.xenops.vbd.stat(DeviceID(vm: uuid, device: "xvda")).state.plugged)
        #expect(!h.xenops.watcher.watchedDomains.contains(domid))
    }

    @Test func s16_aGuestRebootingItselfComesBackInANewDomain() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "44444444-0000-0000-0000-000000000004"
        h.xenops.vm.importMetadata(Harness.metadata(uuid, onReboot: [.start]))
        let before = try #require(await h.startRunning(uuid))
        let token = h.xenops.updates.lastID
        try h.simulator.guestShutdown(vm: uuid, reason: .reboot)
        #expect(await h.waitForVM(uuid, from: token) { state in
            state.powerState == .running && state.domids.count == 1 && state.domids[0] != Int(before)
        })
        #expect(h.simulator.domainInfo(before) == nil)
    }

    @Test func s16_haltLeavesNoDomain() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "44444444-0000-0000-0000-000000000005"
        h.xenops.vm.importMetadata(Harness.metadata(uuid))
        #expect(await h.startRunning(uuid) != nil)
        let token = h.xenops.updates.lastID
        // Through the guest's own shutdown handler this time: halt via control/shutdown.
        let domid = try #require(h.simulator.domainInfo(uuid: uuid)?.domid)
        try h.dom0.write("/local/domain/\(domid)/control/shutdown", "halt")
        #expect(await h.waitForVM(uuid, from: token) { $0.domids.isEmpty })
    }

    @Test func aCrashRunsOnCrashButTooEarlyARestartBecomesAShutdown() async throws {
        var configuration = Harness.testConfiguration()
        configuration.crashRestartGuard = .seconds(120)
        let h = await Harness(configuration)
        defer { Task { await h.stop() } }
        let uuid = "44444444-0000-0000-0000-000000000006"
        h.xenops.vm.importMetadata(Harness.metadata(uuid, onCrash: [.start]))
        #expect(await h.startRunning(uuid) != nil)
        let token = h.xenops.updates.lastID
        try h.simulator.guestShutdown(vm: uuid, reason: .crash)
        #expect(await h.waitForVM(uuid, from: token) { $0.powerState == .halted })
    }

    @Test func aCrashWithRestartAfterTheGuardRestarts() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "44444444-0000-0000-0000-000000000007"
        h.xenops.vm.importMetadata(Harness.metadata(uuid, onCrash: [.start]))
        let before = try #require(await h.startRunning(uuid))
        let token = h.xenops.updates.lastID
        try h.simulator.guestShutdown(vm: uuid, reason: .crash)
        #expect(await h.waitForVM(uuid, from: token) { state in
            state.powerState == .running && state.domids.first.map(UInt32.init) != before && !state.domids.isEmpty
        })
    }

    @Test func vmActionRequestTable() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "44444444-0000-0000-0000-000000000008"
        let metadata = Harness.metadata(uuid, vbds: [], vifs: 0)
        h.xenops.vm.importMetadata(metadata)
        let backend = h.xenops.backend
        #expect(backend.domainActionRequest(metadata.vm) == .needsPoweroff)  // no domain
        #expect(await h.startRunning(uuid) != nil)
        #expect(backend.domainActionRequest(metadata.vm) == nil)
        let domid = try #require(h.simulator.domainInfo(uuid: uuid)?.domid)
        try h.dom0.write("/local/domain/\(domid)/action-request", "reboot")
        #expect(backend.domainActionRequest(metadata.vm) == .needsReboot)
        try h.dom0.rm("/local/domain/\(domid)/action-request")
        h.simulator.setAgentEnabled(vm: uuid, false)
        for (reason, request) in [(ShutdownReason.suspend, DomainActionRequest.needsSuspend), (.crash, .needsCrashdump),
                                  (.softReset, .needsSoftreset), (.watchdog, .needsReboot), (.poweroff, .needsPoweroff)] {
            let hypervisor = SimulatedHypervisor(store: XenstoreDaemon(logger: Harness.logger()), logger: Harness.logger())
            let d = try hypervisor.createDomain(uuid: "x", hvm: false, vcpuMax: 1, maxMemoryKiB: 1024)
            try hypervisor.shutdown(d, reason: reason)
            let other = DomainBackend(hypervisor: hypervisor, store: h.store, metadata: MetadataStore(),
                                      configuration: Harness.testConfiguration(), clock: SystemClock(), logger: Harness.logger())
            #expect(other.domainActionRequest(VMConfig(id: "x")) == request)
        }
    }

    @Test func unmanagedDomainsAreIgnored() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        // A domain the engine does not know (not in its metadata).
        let domid = try h.simulator.createDomain(uuid: "not-ours", hvm: false, vcpuMax: 1, maxMemoryKiB: 1024)
        try h.store.introduceDomain(domid)
        let uuid = "44444444-0000-0000-0000-000000000009"
        h.xenops.vm.importMetadata(Harness.metadata(uuid, vbds: [], vifs: 0))
        let token = h.xenops.updates.lastID
        let ours = try #require(await h.startRunning(uuid))
        #expect(await h.waitForUpdates(from: token) { $0.contains(.vm(uuid)) }.satisfied)
        #expect(h.xenops.watcher.watchedDomains.contains(ours))
        #expect(!h.xenops.watcher.watchedDomains.contains(domid))
    }
}
