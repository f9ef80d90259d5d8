import Logging
import Simulator
import Synchronization
import Testing
@testable import Xapi
@testable import XapiDB
import Xenops
import Xenstore

/// The parallel events loop's lanes: order per VM, urgent lanes first, and a worker always left
/// for urgent work while the others hold background items. The rules are `LaneState`, driven
/// step by step; `Lanes` only adds the workers' continuations.
@Suite struct LanesTests {
    func vm(_ n: Int) -> LaneKey { .vm("\(n)") }
    func update(_ n: Int) -> LaneState.Item { .update(.vm("\(n)")) }

    @Test func aFocusedLaneIsServedFirstAndNotAsBackground() {
        var lanes = LaneState(workers: 4)
        for n in 0..<3 { lanes.push(update(n), lane: vm(n)) }
        lanes.focus(vm(2))
        let first = lanes.take()
        #expect(first?.lane == vm(2))
        #expect(first?.urgent == true)
        let second = lanes.take()
        #expect(second?.lane == vm(0))
        #expect(second?.urgent == false)
        lanes.unfocus(vm(2))
        lanes.finished(vm(2))
        lanes.push(update(2), lane: vm(2))
        let step1 = lanes.take()
        #expect(step1?.lane == vm(1))
    }

    @Test func oneWorkerStaysFreeForUrgentLanes() {
        var lanes = LaneState(workers: 2)
        for n in 0..<3 { lanes.push(update(n), lane: vm(n)) }
        // The one background slot is taken by the first worker…
        let step2 = lanes.take()
        #expect(step2?.lane == vm(0))
        // …so the second gets nothing, background lanes ready or not, until an urgent one comes.
        let step3 = lanes.take()
        #expect(step3 == nil)
        lanes.push(.wake(1), lane: vm(2), urgent: true)
        let taken = lanes.take()
        #expect(taken?.lane == vm(2))
        #expect(taken?.urgent == true)
        // The wake-up waits behind its lane's earlier signal, served as urgent too.
        #expect(taken?.item == update(2))
        lanes.finished(vm(2))
        let wake = lanes.take()
        #expect(wake?.item == .wake(1))
        lanes.finished(vm(2))
        // The urgent lane is done; the background slot is still held by vm 0.
        let step4 = lanes.take()
        #expect(step4 == nil)
        lanes.finished(vm(0))
        let step5 = lanes.take()
        #expect(step5?.lane == vm(1))
    }

    @Test func aSignalAlreadyWaitingIsNotQueuedTwiceAndALaneHasOneWorker() {
        var lanes = LaneState(workers: 4)
        let queued = lanes.push(update(1), lane: vm(1))
        let queuedTwice = lanes.push(update(1), lane: vm(1))
        let deviceQueued = lanes.push(.update(.vbd(.init(vm: "1", device: "xvda"))), lane: vm(1))
        #expect(queued && !queuedTwice && deviceQueued)
        #expect(lanes.queuedCount == 2)
        let step6 = lanes.take()
        #expect(step6?.item == update(1))
        // Its lane is busy: the next item of the same lane waits for `finished`.
        let step7 = lanes.take()
        #expect(step7 == nil)
        // Taken, the signal may be queued again (the state may have changed since it was read).
        let queuedAgain = lanes.push(update(1), lane: vm(1))
        #expect(queuedAgain)
        lanes.finished(vm(1))
        let step8 = lanes.take()
        #expect(step8?.item == .update(.vbd(.init(vm: "1", device: "xvda"))))
    }

    @Test func taskLanesAreServedBeforeTheRoundRobinAndNeverAsBackground() {
        var lanes = LaneState(workers: 2)
        lanes.push(update(0), lane: vm(0))
        lanes.push(update(1), lane: vm(1))
        lanes.push(.update(.task("t")), lane: .task("t"))
        let first = lanes.take()
        #expect(first?.lane == .task("t"))
        #expect(LaneState.isBackground(first!.lane, first!.item, urgent: first!.urgent) == false)
        let step9 = lanes.take()
        #expect(step9?.lane == vm(0))
    }

    @Test func theSharedLanesHandAnItemToAnIdleWorker() async {
        let lanes = Lanes(workers: 2)
        lanes.push(update(0), lane: vm(0))
        let taken = await lanes.next()
        #expect(taken?.lane == vm(0))
        lanes.finished(vm(0))
        lanes.close()
        let afterClose = await lanes.next()
        #expect(afterClose == nil)
    }
}

/// Barriers end their wait when the waiting task is cancelled, instead of holding it forever.
@Suite struct BarrierCancellationTests {
    func bridge() -> XenopsBridge {
        let logger = Logger(label: "test")
        // Nothing runs: no barrier is ever applied, so only cancellation can end a wait.
        let store = XenstoreDaemon(logger: logger)
        let xenops = Xenops(store: store, hypervisor: SimulatedHypervisor(store: store, logger: logger), logger: logger)
        return XenAPI(database: Database(), configuration: XapiConfiguration(password: "pw"), logger: logger, xenops: xenops).bridge!
    }

    @Test(.timeLimit(.minutes(1))) func aCancelledWaitReturnsAndItsLateWakeUpIsDropped() async {
        let bridge = bridge()
        let waiter = Task { await bridge.barrier(vm: "a") }
        while bridge.barriers.withLock({ $0.waiting.isEmpty }) { await Task.yield() }
        let id = bridge.barriers.withLock { $0.waiting.keys.first! }
        waiter.cancel()
        await waiter.value
        let check1 = bridge.barriers.withLock { $0.waiting.isEmpty && $0.abandoned == [id] }
        #expect(check1)
        bridge.wake(barrier: id)
        let check2 = bridge.barriers.withLock { $0.abandoned.isEmpty && $0.vms.isEmpty }
        #expect(check2)
    }

    @Test(.timeLimit(.minutes(1))) func aWaitCancelledBeforeItBeginsInjectsNothing() async {
        let bridge = bridge()
        let waiter = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            await bridge.barrier(vm: "a")
        }
        await waiter.value
        let check3 = bridge.barriers.withLock { $0.waiting.isEmpty && $0.vms.isEmpty && $0.cancelledEarly.isEmpty }
        #expect(check3)
    }
}
