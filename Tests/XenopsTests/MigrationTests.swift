import Simulator
import Testing
import Xenstore
@testable import Xenops

/// xenopsd's `VM_migrate` / `VM_receive_memory` between two engines, each on its own xenstore
/// and simulated machine (two hosts).
@Suite struct MigrationTests {
    @Test func aRunningVMMovesWithItsDevicesAndLeavesNothingBehind() async throws {
        let (source, destination) = (await Harness(), await Harness())
        let uuid = "6e1f2a3b-0c4d-4e5f-8a9b-0123456789ab"
        source.xenops.vm.importMetadata(Harness.metadata(uuid, vifs: 2))
        let domid = try #require(await source.startRunning(uuid))
        #expect(await source.succeed(source.xenops.vm.migrate(uuid, to: destination.xenops), "migrate"))

        // The source forgot the VM and its domain; no temporary id is left on either side.
        let temporary = ["6e1f2a3b-0c4d-4e5f-8a9b-000000000000", "6e1f2a3b-0c4d-4e5f-8a9b-000000000001"]
        #expect(!source.xenops.vm.exists(uuid))
        #expect(source.simulator.domainInfo(domid) == nil)
        for id in temporary {
            #expect(!source.xenops.vm.exists(id) && !destination.xenops.vm.exists(id))
        }
        // The destination runs it under its own id, its devices plugged and the domain's
        // xenstore entries naming the VM.
        let state = try destination.xenops.vm.stat(uuid).state
        #expect(state.powerState == .running)
        let newDomid = try #require(state.domids.first.map(UInt32.init))
        #expect(destination.simulator.domainInfo(newDomid)?.uuid == uuid)
        #expect(try destination.dom0.read("/local/domain/\(newDomid)/vm") == "/vm/\(uuid)")
        #expect(try destination.dom0.read("/vm/\(uuid)/uuid") == uuid)
        for device in ["xvda"] {
            #expect(try destination.xenops.vbd.stat(DeviceID(vm: uuid, device: device)).state.plugged)
        }
        for device in ["0", "1"] {
            #expect(try destination.xenops.vif.stat(DeviceID(vm: uuid, device: device)).state.plugged)
        }
        // A guest change there is the VM's, not the temporary id's.
        let token = destination.xenops.updates.lastID
        try destination.dom0.write("/local/domain/\(newDomid)/data/updated", "after-migration")
        let seen = await destination.waitForUpdates(from: token) { $0.contains(.vm(uuid)) }
        #expect(seen.satisfied)
        #expect(await destination.succeed(destination.xenops.vm.shutdown(uuid), "shutdown"))
        await source.stop()
        await destination.stop()
    }

    @Test func aDestinationThatCannotTakeTheVMLeavesItRunningOnTheSource() async throws {
        let (source, destination) = (await Harness(), await Harness())
        let uuid = "7f2a3b4c-1d5e-4f6a-9bac-123456789abc"
        source.xenops.vm.importMetadata(Harness.metadata(uuid))
        let domid = try #require(await source.startRunning(uuid))
        // The destination's domain for the temporary id cannot be made: one already has it.
        _ = try destination.simulator.createDomain(uuid: "7f2a3b4c-1d5e-4f6a-9bac-000000000001", hvm: false,
                                                   vcpuMax: 1, maxMemoryKiB: 1024)
        let task = source.xenops.vm.migrate(uuid, to: destination.xenops)
        let record = try #require(await source.finish(task))
        guard case .failed = record.state else {
            Issue.record("the migration should have failed: \(record.state)")
            return
        }
        #expect(try source.xenops.vm.stat(uuid).state.powerState == .running)
        #expect(source.simulator.domainInfo(domid)?.uuid == uuid)
        #expect(!destination.xenops.vm.exists("7f2a3b4c-1d5e-4f6a-9bac-000000000001"))
        #expect(!destination.xenops.vm.exists(uuid))
        await source.stop()
        await destination.stop()
    }

    /// Localhost migrations beyond the worker count: each source's `VM_migrate` holds a worker
    /// while it waits for its `VM_receive_memory`, which therefore has workers of its own.
    @Test func moreLocalhostMigrationsThanWorkersAllComplete() async throws {
        var configuration = Harness.testConfiguration()
        configuration.workerPoolSize = 2
        let host = await Harness(configuration)
        // Distinct in their first 24 characters, as uuids are: the temporary ids keep those.
        let uuids = (0..<5).map { "8a3b4c5\($0)-2e6f-4a7b-8cde-123456789abc" }
        for uuid in uuids {
            host.xenops.vm.importMetadata(Harness.metadata(uuid, vifs: 0))
            #expect(await host.startRunning(uuid) != nil)
        }
        let tasks = uuids.map { host.xenops.vm.migrate($0, to: host.xenops) }
        for task in tasks { #expect(await host.succeed(task, "localhost migration")) }
        for uuid in uuids { #expect(try host.xenops.vm.stat(uuid).state.powerState == .running) }
        await host.stop()
    }
}
