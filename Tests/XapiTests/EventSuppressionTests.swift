import Testing
@testable import Xapi
@testable import XapiDB
import Simulator
import Xenops

/// xapi's `with_suppressed`: updates of a held VM are dropped by the events loop, and the last
/// holder out brings the database to the truth (refresh and barrier) before any holder returns.
@Suite(.serialized) struct EventSuppressionTests {
    @Test func updatesOfAHeldVMAreIgnoredUntilTheLastHolderLeaves() async throws {
        let plant = try await Plant()
        let (vm, uuid) = try await plant.vm()
        _ = try await plant.call("VM.start", .string(vm), .bool(false), .bool(false))
        _ = try await plant.waitFor(vm) { $0["power_state"] == .string("Running") }
        let bridge = try #require(plant.api.bridge)
        let domid = try #require(plant.machine.domainInfo(uuid: uuid)?.domid)
        let t = plant.api.tables
        func power() -> Value? { plant.api.database.read { try? $0.get(t.vm, vm, .powerState) } }

        try await bridge.withSuppressed(vm: uuid) {
            try await bridge.withSuppressed(vm: uuid) {
                // The domain pauses behind the toolstack's back; its update reaches the loop…
                try plant.machine.pause(domid)
                plant.xenops.updates.refreshVM(uuid)
                await bridge.barrier(vm: uuid)
                // …and is dropped: the VM is held.
                #expect(power() == .string("Running"))
            }
            // The inner (nested) holder has left without waiting; the outer still holds: ignored.
            #expect(bridge.suppression.isSuppressed(uuid))
            await bridge.barrier(vm: uuid)
            #expect(power() == .string("Running"))
        }
        // The last holder out refreshed the VM behind a barrier before returning.
        #expect(!bridge.suppression.isSuppressed(uuid))
        #expect(power() == .string("Paused"))
    }

    @Test func aConcurrentHolderReturnsOnlyOnceTheLastHasLifted() async throws {
        let suppression = EventSuppression()
        await suppression.enter("a")
        await suppression.enter("a")
        let inner = Task { await suppression.leave("a") }
        while suppression.holders(of: "a") != 1 { await Task.yield() }
        // The other leaves last: it lifts, and the first returns only after `lifted`.
        #expect(await suppression.leave("a"))
        #expect(!suppression.isSuppressed("a"))
        suppression.lifted("a")
        #expect(await inner.value == false)
        // Entering again works once lifted.
        await suppression.enter("a")
        #expect(suppression.isSuppressed("a"))
        #expect(await suppression.leave("a"))
        suppression.lifted("a")
        #expect(suppression.suppressed.isEmpty)
    }
}
