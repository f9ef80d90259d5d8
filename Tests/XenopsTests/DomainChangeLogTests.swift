import Testing
import Simulator
@testable import Xenops

/// The hypervisor's log of domain changes, which lets the watcher reconcile only the domains a
/// `@releaseDomain` concerns.
@Suite struct DomainChangeLogTests {
    @Test func answersTheChangesAfterASerialInOrder() {
        var log = DomainChangeLog()
        #expect(log.changes(after: 0) == DomainChanges(serial: 0, domids: []))
        log.record(5)
        log.record(7)
        log.record(5)
        #expect(log.changes(after: 0) == DomainChanges(serial: 3, domids: [5, 7, 5]))
        #expect(log.changes(after: 2) == DomainChanges(serial: 3, domids: [5]))
        #expect(log.changes(after: 3) == DomainChanges(serial: 3, domids: []))
    }

    @Test func aSerialFromTheFutureOrBeyondTheRingMeansListEverything() {
        var log = DomainChangeLog()
        for domid in 0..<UInt32(DomainChangeLog.capacity + 10) { log.record(domid) }
        let serial = UInt64(DomainChangeLog.capacity + 10)
        #expect(log.changes(after: 9).domids == nil)
        #expect(log.changes(after: serial + 1).domids == nil)
        // The ring has wrapped: the oldest change kept is the 11th.
        #expect(log.changes(after: 10).domids?.first == 10)
        #expect(log.changes(after: 10).domids?.count == DomainChangeLog.capacity)
        #expect(log.changes(after: serial - 2) == DomainChanges(serial: serial, domids: [UInt32(serial) - 2, UInt32(serial) - 1]))
    }

    @Test func theSimulatorLogsCreationChangesAndDestruction() async throws {
        let harness = await Harness()
        let simulator = harness.simulator
        let before = simulator.domainChanges(after: 0).serial
        let domid = try simulator.createDomain(uuid: "log-test", hvm: false, vcpuMax: 1, maxMemoryKiB: 1024)
        try simulator.buildDomain(domid, memoryKiB: 1024, vcpus: 1)
        try simulator.destroy(domid)
        #expect(simulator.domainChanges(after: before).domids == [domid, domid, domid])
        await harness.stop()
    }
}
