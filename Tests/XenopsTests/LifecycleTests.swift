import Foundation
import Synchronization
import Testing
import Simulator
@testable import Xenops
import Xenstore

/// VM lifecycle through the in-process xenstore with the simulated machine.
@Suite(.timeLimit(.minutes(2))) struct LifecycleTests {
    @Test func startLeavesTheDomainPausedAndWritesTheLayout() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "11111111-0000-0000-0000-000000000001"
        h.xenops.vm.importMetadata(Harness.metadata(uuid, vbds: [("xvda", .readWrite, .disk)], vifs: 1))
        #expect(await h.succeed(h.xenops.vm.start(uuid)))
        let state = try h.xenops.vm.stat(uuid).state
        #expect(state.powerState == .paused)
        let domid = try #require(state.domids.first)
        let dom = "/local/domain/\(domid)"
        let x = h.dom0

        // Domain creation and build keys (reference §5.6).
        #expect(try x.read("\(dom)/vm") == "/vm/\(uuid)")
        #expect(try x.read("\(dom)/memory/static-max") == String(256 * 1024))
        #expect(try x.read("\(dom)/memory/target") == String(256 * 1024))
        #expect(try x.read("\(dom)/domid") == String(domid))
        #expect(try x.exists("\(dom)/unique-domain-id"))
        #expect(try x.read("\(dom)/control/platform-feature-xs_reset_watches") == "1")
        #expect(try x.read("/vm/\(uuid)/domains/\(domid)") == dom)
        // The last step of the start cleared the request set at creation.
        #expect(try !x.exists("\(dom)/action-request"))
        #expect(try x.isDomainIntroduced(UInt32(domid)))
        #expect(try x.getPermissions("\(dom)/data") == [XenstorePermission(.none, UInt32(domid))])

        // VBD frontend, mirror, backend, private data, active flag.
        let fe = "\(dom)/device/vbd/51712"
        let be = "/local/domain/0/backend/vbd/\(domid)/51712"
        #expect(try x.read("\(fe)/backend") == be)
        #expect(try x.read("\(fe)/virtual-device") == "51712")
        #expect(try x.read("\(fe)/device-type") == "disk")
        #expect(try x.read("/xenops/domain/\(domid)/device/vbd/51712/backend") == be)
        #expect(try x.read("\(be)/frontend") == fe)
        #expect(try x.read("\(be)/frontend-id") == String(domid))
        #expect(try x.read("\(be)/online") == "1")
        #expect(try x.read("\(be)/dev") == "xvda")
        #expect(try x.read("\(be)/mode") == "w")
        #expect(try x.read("\(be)/params") == "/dev/sm/backend/sr-1/\(uuid)-xvda")
        #expect(try x.read("\(be)/hotplug-status") == "connected")
        #expect(try x.read("/xapi/\(uuid)/private/vbd/51712/backend-kind") == "vbd")
        #expect(try x.read("/vm/\(uuid)/devices/vbd/xvda") == "1")
        #expect(try x.read("/xapi/\(uuid)/hotplug/\(domid)/vif/0/hotplug") == "online")

        // Paused: the guest has not booted, so the backends wait in InitWait.
        #expect(await h.waitForValue("\(be)/state", "2"))
        #expect(try x.read("\(fe)/state") == "1")
        let vbd = try h.xenops.vbd.stat(DeviceID(vm: uuid, device: "xvda")).state
        #expect(vbd == VBDState(active: true, plugged: true, backendPresent: .vdi("sr-1/\(uuid)-xvda")))

        // Unpause: the guest connects its devices.
        let token = h.xenops.updates.lastID
        #expect(await h.succeed(h.xenops.vm.unpause(uuid)))
        #expect(try h.xenops.vm.stat(uuid).state.powerState == .running)
        #expect(await h.waitForValue("\(be)/state", "4"))
        #expect(await h.waitForValue("\(fe)/state", "4"))
        #expect(await h.waitForValue("/local/domain/0/backend/vif/\(domid)/0/state", "4"))
        #expect(await h.waitForVM(uuid, from: token) { $0.pvDriversDetected })
        let vif = try h.xenops.vif.stat(DeviceID(vm: uuid, device: "0")).state
        #expect(vif.plugged && vif.active && vif.device == "vif\(domid).0" && vif.kthreadPid > 0)
    }

    @Test func statReportsTheFieldsXapiReads() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "11111111-0000-0000-0000-000000000002"
        h.xenops.vm.importMetadata(Harness.metadata(uuid, kind: .hvm, vcpus: 2))
        let domid = try #require(await h.startRunning(uuid))
        let token = h.xenops.updates.lastID
        #expect(await h.waitForVM(uuid, from: token) { state in
            state.guestAgent.contains { $0.path == "data/updated" }
        })
        let state = try h.xenops.vm.stat(uuid).state
        #expect(state.powerState == .running)
        #expect(state.domids == [Int(domid)])
        #expect(state.memoryTarget == 256 << 20)
        #expect(state.memoryActual == 256 << 20)
        #expect(state.vcpuTarget == 2)
        #expect(state.hvm)
        #expect(state.domainType == .hvm)
        #expect(state.lastStartTime > 0)
        #expect(state.consoles.contains { $0.protocol == .rfb && $0.port == 5900 + Int(domid) })
        let agent = Dictionary(state.guestAgent.map { ($0.path, $0.value) }, uniquingKeysWith: { a, _ in a })
        #expect(agent["attr/PVAddons/MajorVersion"] == "8")
        #expect(agent["data/os_distro"] == "debian")
        #expect(agent["control/feature-shutdown"] == "1")
        #expect(agent["attr/vif/0/ipv4/0"] != nil)
        #expect(agent["data/meminfo_total"] == String(256 * 1024))
        // Depth limits: `control` lists its direct children only; `data/volumes` is not read.
        #expect(agent.keys.allSatisfy { !$0.hasPrefix("data/volumes") })
    }

    @Test func s15_startAndShutdownCompleteAsTasksSeenThroughUpdates() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "11111111-0000-0000-0000-000000000003"
        h.xenops.vm.importMetadata(Harness.metadata(uuid))
        let token = h.xenops.updates.lastID
        let start = h.xenops.vm.start(uuid)
        // xapi's wait_for_task: Updates polls with a 30 s timeout until the Task id shows up finished.
        let sawTask = await h.waitForUpdates(from: token) { seen in
            seen.contains(.task(start)) && (try? h.xenops.task.stat(start).state).map {
                if case .pending = $0 { false } else { true }
            } == true
        }
        #expect(sawTask.satisfied)
        guard case .completed = try h.xenops.task.stat(start).state else { Issue.record("start failed"); return }
        try h.xenops.task.destroy(start)
        let shutdown = h.xenops.vm.shutdown(uuid)
        #expect(await h.succeed(shutdown))
        let state = try h.xenops.vm.stat(uuid).state
        #expect(state.powerState == .halted)
        #expect(state.domids.isEmpty)
        // Poweroff deactivates devices.
        #expect(try h.xenops.vbd.stat(DeviceID(vm: uuid, device: "xvda")).state == VBDState())
        #expect(h.xenops.task.list().allSatisfy { $0.id != start })
    }

    @Test func s13_removeRunningFailsAndMissingDoesNotExist() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "11111111-0000-0000-0000-000000000004"
        h.xenops.vm.importMetadata(Harness.metadata(uuid))
        #expect(await h.startRunning(uuid) != nil)
        await #expect(throws: XenopsError.badPowerState(actual: .running, expected: .halted)) {
            try await h.xenops.vm.remove(uuid)
        }
        await #expect(throws: XenopsError.doesNotExist(kind: "VM", id: "missing")) {
            try await h.xenops.vm.remove("missing")
        }
        #expect(await h.succeed(h.xenops.vm.shutdown(uuid)))
        try await h.xenops.vm.remove(uuid)
        #expect(!h.xenops.vm.exists(uuid))
        #expect(try !h.dom0.exists("/vm/\(uuid)"))
        #expect(!h.xenops.updates.dump().updates.contains { $0.id.vm == uuid })
    }

    @Test func s14_removingAPluggedDeviceFails() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "11111111-0000-0000-0000-000000000005"
        h.xenops.vm.importMetadata(Harness.metadata(uuid))
        #expect(await h.startRunning(uuid) != nil)
        #expect(throws: XenopsError.deviceIsConnected) { try h.xenops.vbd.remove(DeviceID(vm: uuid, device: "xvda")) }
        #expect(throws: XenopsError.deviceIsConnected) { try h.xenops.vif.remove(DeviceID(vm: uuid, device: "0")) }
        #expect(throws: XenopsError.doesNotExist(kind: "VM", id: "nope")) {
            try h.xenops.vbd.add(VBDConfig(id: DeviceID(vm: "nope", device: "xvdb"), backend: nil))
        }
    }

    @Test func s17_stepwiseBuildPauseAndVCPUs() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "11111111-0000-0000-0000-000000000006"
        h.xenops.vm.importMetadata(Harness.metadata(uuid, kind: .hvm, vbds: [], vifs: 0, vcpus: 2))
        // Pause right after create: not built. Both are queued before the create runs, so the
        // VM_check_state the new domain's signal brings comes after them on the VM's queue (a check
        // in between would find the half-made domain flagged `action-request=poweroff` and shut
        // it down first, as xenopsd's would). The pause's failure cleanup is that check.
        let create = h.xenops.vm.create(uuid)
        let pause = h.xenops.vm.pause(uuid)
        #expect(await h.succeed(create))
        let paused = await h.finish(pause)?.state
        #expect(paused == .failed(.domainNotBuilt), "\(String(describing: paused))")
        #expect(h.simulator.domainInfo(uuid: uuid) == nil)
        // Built, but no device model yet: vCPUs cannot change.
        let again = h.xenops.vm.create(uuid)
        let build = h.xenops.vm.build(uuid)
        let vcpus = h.xenops.vm.setVCPUs(uuid, 1)
        #expect(await h.succeed(again))
        #expect(await h.succeed(build))
        let early = await h.finish(vcpus)?.state
        #expect(early == .failed(.domainNotBuilt), "\(String(describing: early))")
        #expect(h.simulator.domainInfo(uuid: uuid) == nil)
        // Fully started: 1 then 2 work, 4 and 0 do not (and the VM keeps running).
        #expect(await h.startRunning(uuid) != nil)
        #expect(await h.succeed(h.xenops.vm.setVCPUs(uuid, 1)))
        #expect(try h.xenops.vm.stat(uuid).state.vcpuTarget == 1)
        #expect(await h.succeed(h.xenops.vm.setVCPUs(uuid, 2)))
        #expect(try h.xenops.vm.stat(uuid).state.vcpuTarget == 2)
        #expect(await h.finish(h.xenops.vm.setVCPUs(uuid, 4))?.state == .failed(.invalidVcpus(max: 2)))
        #expect(await h.finish(h.xenops.vm.setVCPUs(uuid, 0))?.state == .failed(.invalidVcpus(max: 2)))
        #expect(try h.xenops.vm.stat(uuid).state.powerState == .running)
    }

    @Test func startOfARunningVMFailsBadPowerState() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "11111111-0000-0000-0000-000000000007"
        h.xenops.vm.importMetadata(Harness.metadata(uuid))
        #expect(await h.startRunning(uuid) != nil)
        let again = await h.finish(h.xenops.vm.start(uuid))
        #expect(again?.state == .failed(.badPowerState(actual: .running, expected: .halted)))
        let missing = await h.finish(h.xenops.vm.start("missing"))
        #expect(missing?.state == .failed(.doesNotExist(kind: "VM", id: "missing")))
    }

    @Test func cleanShutdownAsksTheGuestFirst() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "11111111-0000-0000-0000-000000000008"
        h.xenops.vm.importMetadata(Harness.metadata(uuid))
        let domid = try #require(await h.startRunning(uuid))
        #expect(await h.succeed(h.xenops.vm.shutdown(uuid, timeout: 30)))
        #expect(try h.xenops.vm.stat(uuid).state.powerState == .halted)
        #expect(h.simulator.domainInfo(domid) == nil)
        #expect(try !h.dom0.exists("/local/domain/\(domid)"))
        #expect(try h.dom0.directory("/local/domain/0/backend/vbd").isEmpty)
    }

    @Test func aGuestThatIgnoresShutdownFailsToAcknowledgeThenHardShutdownWorks() async throws {
        var configuration = Harness.testConfiguration()
        configuration.domainShutdownAckTimeout = .milliseconds(300)
        let h = await Harness(configuration)
        defer { Task { await h.stop() } }
        let uuid = "11111111-0000-0000-0000-000000000009"
        h.xenops.vm.importMetadata(Harness.metadata(uuid))
        #expect(await h.startRunning(uuid) != nil)
        h.simulator.setGuestResponsive(vm: uuid, false)
        let clean = await h.finish(h.xenops.vm.shutdown(uuid, timeout: 30))
        #expect(clean?.state == .failed(.failedToAcknowledgeShutdownRequest))
        #expect(try h.xenops.vm.stat(uuid).state.powerState == .running)
        #expect(await h.succeed(h.xenops.vm.shutdown(uuid)))
        #expect(try h.xenops.vm.stat(uuid).state.powerState == .halted)
    }

    @Test func suspendKeepsAnImageAndResumeRestoresIt() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "11111111-0000-0000-0000-00000000000a"
        h.xenops.vm.importMetadata(Harness.metadata(uuid))
        #expect(await h.startRunning(uuid) != nil)
        let suspend = h.xenops.vm.suspend(uuid)
        #expect(await h.succeed(suspend))
        var state = try h.xenops.vm.stat(uuid).state
        #expect(state.powerState == .suspended)
        #expect(state.domids.isEmpty)
        #expect(await h.succeed(h.xenops.vm.resume(uuid)))
        state = try h.xenops.vm.stat(uuid).state
        #expect(state.powerState == .paused)
        #expect(state.memoryActual == 256 << 20)
        #expect(await h.succeed(h.xenops.vm.unpause(uuid)))
        #expect(try h.xenops.vm.stat(uuid).state.powerState == .running)
        #expect(try h.xenops.vbd.stat(DeviceID(vm: uuid, device: "xvda")).state.plugged)
    }

    @Test func rebootThroughTheAPIGivesANewDomainAndStatNeverSaysHalted() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "11111111-0000-0000-0000-00000000000b"
        h.xenops.vm.importMetadata(Harness.metadata(uuid))
        let before = try #require(await h.startRunning(uuid))
        var token = h.xenops.updates.lastID
        let reboot = h.xenops.vm.reboot(uuid, timeout: 30)
        // Stat on every signal while the reboot runs.
        var sawHalted = false
        var running = true
        while running {
            let batch = await h.xenops.updates.get(from: token, timeout: .seconds(10))
            token = batch.next
            if try h.xenops.vm.stat(uuid).state.powerState == .halted { sawHalted = true }
            if let state = try? h.xenops.task.stat(reboot).state, case .pending = state {} else { running = false }
            if batch.isEmpty { running = false }
        }
        #expect(await h.succeed(reboot))
        #expect(!sawHalted)
        let state = try h.xenops.vm.stat(uuid).state
        #expect(state.powerState == .running)
        #expect(state.domids.first.map(UInt32.init) != before)
    }

    @Test func cdromEjectAndInsert() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "11111111-0000-0000-0000-00000000000c"
        h.xenops.vm.importMetadata(Harness.metadata(uuid, vbds: [("xvda", .readWrite, .disk), ("xvdd", .readOnly, .cdrom)]))
        #expect(await h.startRunning(uuid) != nil)
        let cd = DeviceID(vm: uuid, device: "xvdd")
        #expect(try h.xenops.vbd.stat(cd).state.backendPresent == nil)
        #expect(await h.finish(h.xenops.vbd.eject(cd))?.state == .failed(.mediaNotPresent))
        #expect(await h.succeed(h.xenops.vbd.insert(cd, .vdi("sr-iso/debian.iso"))))
        #expect(try h.xenops.vbd.stat(cd).state.backendPresent == .vdi("sr-iso/debian.iso"))
        #expect(await h.succeed(h.xenops.vbd.eject(cd)))
        #expect(try h.xenops.vbd.stat(cd).state.backendPresent == nil)
        let disk = await h.finish(h.xenops.vbd.eject(DeviceID(vm: uuid, device: "xvda")))
        #expect(disk?.state == .failed(.mediaNotEjectable))
    }

    @Test func s18_readWriteDisksArePluggedBeforeReadOnlyOnes() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "11111111-0000-0000-0000-00000000000d"
        // The read-only disk comes first by position.
        h.xenops.vm.importMetadata(Harness.metadata(uuid, vbds: [("xvda", .readOnly, .disk), ("xvdb", .readWrite, .disk),
                                                                  ("xvdc", .readOnly, .disk), ("xvde", .readWrite, .disk)], vifs: 0))
        let atomics = try h.xenops.engine.atomics(of: .vmStart(uuid, force: false))
        guard case .serial(_, _, let plugs) = atomics[2] else { Issue.record("no device step: \(atomics)"); return }
        let order = plugs.flatMap { step -> [String] in
            guard case .nestedParallel(_, _, let group) = step else { return [] }
            return group.compactMap { if case .serial(_, _, let s) = $0, case .vbdPlug(let id) = s.last { id.device } else { nil } }
        }
        #expect(order == ["xvdb", "xvde", "xvda", "xvdc"])
        // And as seen in xenstore: every RW backend exists before any RO one.
        let observed = Observed()
        let watch = try h.dom0.watch("/local/domain/0/backend/vbd", token: "order")
        let watching = Task {
            for await event in watch where event.path.hasSuffix("/dev") {
                if let name = try? h.dom0.read(event.path) { observed.append(name) }
                if observed.count == 4 { return }
            }
        }
        #expect(await h.succeed(h.xenops.vm.start(uuid)))
        await watching.value
        let seen = observed.values
        #expect(Set(seen.prefix(2)) == ["xvdb", "xvde"])
        #expect(Set(seen.suffix(2)) == ["xvda", "xvdc"])
    }

    @Test(.timeLimit(.minutes(3))) func s19_manyVMsStartAndStopInParallelThroughOneUpdatesLoop() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let count = 100
        let uuids = (0..<count).map { "22222222-0000-0000-0000-\(String(format: "%012d", $0))" }
        for uuid in uuids { h.xenops.vm.importMetadata(Harness.metadata(uuid)) }
        for phase in ["start", "shutdown"] {
            var token = h.xenops.updates.lastID
            var pending = Set(uuids.map { phase == "start" ? h.xenops.vm.start($0) : h.xenops.vm.shutdown($0) })
            while !pending.isEmpty {
                let batch = await h.xenops.updates.get(from: token, timeout: .seconds(30))
                #expect(!batch.isEmpty, "a 30 s poll returned nothing")
                token = batch.next
                for case .task(let id) in batch.updates where pending.contains(id) {
                    guard let record = try? h.xenops.task.stat(id) else { continue }
                    if case .pending = record.state { continue }
                    #expect(record.state.isCompleted, "\(phase) \(id): \(record.state)")
                    pending.remove(id)
                    try h.xenops.task.destroy(id)
                }
            }
        }
        for uuid in uuids { #expect(try h.xenops.vm.stat(uuid).state.powerState == .halted) }
        #expect(h.simulator.domainList().isEmpty)
        // Every API task was destroyed (parallel steps of the internal checks may still run).
        #expect(h.xenops.task.list().filter { $0.dbg.hasPrefix("VM.") }.isEmpty)
    }
}

@Suite(.timeLimit(.minutes(1))) struct ServiceTests {
    /// Cancelling `run()` stops workers, watches and guests, and returns.
    @Test func runStopsCleanlyOnCancellation() async throws {
        let h = await Harness()
        let uuid = "88888888-0000-0000-0000-000000000001"
        h.xenops.vm.importMetadata(Harness.metadata(uuid))
        let domid = try #require(await h.startRunning(uuid))
        #expect(h.xenops.watcher.watchedDomains == [domid])
        // Something queued behind a long step, and a reader parked on Updates.
        _ = h.xenops.engine.queue(.atomic(.vmDelay(uuid, seconds: 600)), dbg: "long")
        let reader = Task { await h.xenops.updates.get(from: h.xenops.updates.lastID + 10, timeout: nil) }
        await h.stop()
        #expect(h.xenops.watcher.watchedDomains.isEmpty)
        reader.cancel()
        #expect(await reader.value.isEmpty)
    }
}

@Suite(.timeLimit(.minutes(1))) struct DeviceKindTests {
    @Test func pciAndVGPUFollowTheVM() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "77777777-0000-0000-0000-000000000001"
        var metadata = Harness.metadata(uuid, kind: .hvm)
        metadata.pcis = [PCIConfig(id: DeviceID(vm: uuid, device: "0"), address: "0000:04:00.0")]
        metadata.vgpus = [VGPUConfig(id: DeviceID(vm: uuid, device: "0"), physicalPCIAddress: "0000:05:00.0")]
        h.xenops.vm.importMetadata(metadata)
        let pci = DeviceID(vm: uuid, device: "0")
        #expect(try h.xenops.pci.stat(pci).state == PCIState(plugged: false))
        #expect(await h.startRunning(uuid) != nil)
        #expect(try h.xenops.pci.stat(pci).state == PCIState(plugged: true))
        #expect(try h.xenops.vgpu.stat(pci).state == VGPUState(active: true, plugged: true))
        #expect(throws: XenopsError.deviceIsConnected) { try h.xenops.pci.remove(pci) }
        #expect(await h.succeed(h.xenops.pci.unplug(pci)))
        #expect(try h.xenops.pci.stat(pci).state == PCIState(plugged: false))
        #expect(await h.succeed(h.xenops.pci.plug(pci)))
        #expect(try h.xenops.pci.stat(pci).state == PCIState(plugged: true))
        #expect(await h.succeed(h.xenops.vm.shutdown(uuid)))
        #expect(try h.xenops.pci.stat(pci).state == PCIState(plugged: false))
        #expect(try h.xenops.vgpu.stat(pci).state == VGPUState(active: false, plugged: false))
        try h.xenops.pci.remove(pci)
        #expect(h.xenops.pci.list(uuid).isEmpty)
    }

    @Test func vifMACsAreGeneratedWhenEmptyOrRandom() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "77777777-0000-0000-0000-000000000002"
        h.xenops.vm.add(VMConfig(id: uuid))
        try h.xenops.vif.add(VIFConfig(id: DeviceID(vm: uuid, device: "0")))
        try h.xenops.vif.add(VIFConfig(id: DeviceID(vm: uuid, device: "1"), mac: "random"))
        try h.xenops.vif.add(VIFConfig(id: DeviceID(vm: uuid, device: "2"), mac: "aa:bb:cc:dd:ee:ff"))
        let macs = h.xenops.vif.list(uuid).map(\.config.mac)
        #expect(macs[2] == "aa:bb:cc:dd:ee:ff")
        for mac in macs.prefix(2) {
            let bytes = mac.split(separator: ":").compactMap { UInt8($0, radix: 16) }
            #expect(bytes.count == 6)
            #expect(bytes[0] & 0x02 == 0x02 && bytes[0] & 0x01 == 0)  // locally administered, unicast
        }
        // Derived, so stable for the same VM and position.
        #expect(MACAddress.assign(VIFConfig(id: DeviceID(vm: uuid, device: "0"))).mac == macs[0])
    }
}

extension TaskState {
    var isCompleted: Bool { if case .completed = self { true } else { false } }
}

final class Observed: Sendable {
    private let state = Mutex<[String]>([])
    func append(_ value: String) { state.withLock { $0.append(value) } }
    var values: [String] { state.withLock { $0 } }
    var count: Int { state.withLock { $0.count } }
}
