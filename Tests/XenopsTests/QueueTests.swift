import Wire
import Logging
import Synchronization
import Testing
@testable import Xenops

struct TestItem: QueueItem {
    let name: String
    var check = false
    var coalescingKey: String? { check ? name : nil }
    var description: JSON { .string(name) }
}

/// Records what workers ran, and lets a test hold one item until it says so.
final class Recorder: Sendable {
    private struct State {
        var log: [String] = []
        var gates: [String: CheckedContinuation<Void, Never>] = [:]
        var held: Set<String> = []
        var started: [String: [CheckedContinuation<Void, Never>]] = [:]
        var running = 0
        var maxRunningPerTag: [String: Int] = [:]
        var runningPerTag: [String: Int] = [:]
    }

    private let state = Mutex(State())

    func hold(_ name: String) { state.withLock { _ = $0.held.insert(name) } }

    func release(_ name: String) {
        let gate = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.held.remove(name)
            return state.gates.removeValue(forKey: name)
        }
        gate?.resume()
    }

    /// Suspends until the item `name` has started.
    func waitStarted(_ name: String) async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Bool in
                if state.log.contains(name) { return true }
                state.started[name, default: []].append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    func run(_ item: TestItem, tag: String) async {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.log.append(item.name)
            state.runningPerTag[tag, default: 0] += 1
            state.maxRunningPerTag[tag] = max(state.maxRunningPerTag[tag] ?? 0, state.runningPerTag[tag]!)
            return state.started.removeValue(forKey: item.name) ?? []
        }
        for waiter in waiters { waiter.resume() }
        let mustWait = state.withLock { $0.held.contains(item.name) }
        if mustWait {
            await withCheckedContinuation { continuation in
                let released = state.withLock { state -> Bool in
                    if !state.held.contains(item.name) { return true }
                    state.gates[item.name] = continuation
                    return false
                }
                if released { continuation.resume() }
            }
        }
        await Task.yield()
        state.withLock { $0.runningPerTag[tag, default: 0] -= 1 }
    }

    var log: [String] { state.withLock { $0.log } }
    var maxConcurrencyPerTag: [String: Int] { state.withLock { $0.maxRunningPerTag } }
}

@Suite struct QueueTests {
    @Test func s23_duplicateCheckStateCoalescesOtherOperationsDoNot() {
        let queues = WorkQueues<TestItem>(name: "test")
        #expect(queues.push(tag: "vm", TestItem(name: "VM_check_state", check: true)))
        #expect(!queues.push(tag: "vm", TestItem(name: "VM_check_state", check: true)))
        #expect(queues.length == 1)
        #expect(queues.push(tag: "vm", TestItem(name: "VM_start")))
        #expect(queues.push(tag: "vm", TestItem(name: "VM_start")))
        #expect(queues.length == 3)
        // Another VM's identical check is its own.
        #expect(queues.push(tag: "other", TestItem(name: "VM_check_state", check: true)))
        #expect(queues.counters.coalesced == 1)
    }

    @Test func coalescingSeesItemsWaitingBehindARunningOneButNotTheRunningOne() async {
        let queues = WorkQueues<TestItem>(name: "test")
        queues.push(tag: "vm", TestItem(name: "check", check: true))
        let popped = await queues.pop(worker: 0)
        #expect(popped?.item.name == "check")
        // The running check may have read stale state: a new one is kept…
        #expect(queues.push(tag: "vm", TestItem(name: "check", check: true)))
        // …but a second waiting one is not.
        #expect(!queues.push(tag: "vm", TestItem(name: "check", check: true)))
        queues.finished(tag: "vm")
        #expect(queues.length == 1)
    }

    @Test func s24_roundRobinOnePerTagInTagOrderAndExclusive() async {
        let queues = WorkQueues<TestItem>(name: "test")
        for name in ["b1", "b2", "b3"] { queues.push(tag: "b", TestItem(name: name)) }
        for name in ["a1", "a2"] { queues.push(tag: "a", TestItem(name: name)) }
        queues.push(tag: "c", TestItem(name: "c1"))
        var order: [String] = []
        // While a tag is being served nothing else of it comes out.
        let first = await queues.pop(worker: 0)!
        let second = await queues.pop(worker: 1)!
        let third = await queues.pop(worker: 2)!
        #expect([first.tag, second.tag, third.tag] == ["a", "b", "c"])
        order += [first.item.name, second.item.name, third.item.name]
        queues.finished(tag: "a")
        queues.finished(tag: "b")
        queues.finished(tag: "c")
        while queues.length > 0 {
            let next = await queues.pop(worker: 0)!
            order.append(next.item.name)
            queues.finished(tag: next.tag)
        }
        #expect(order == ["a1", "b1", "c1", "a2", "b2", "b3"])
    }

    @Test func backgroundOnlyTagsLeaveAWorkerForRequestedItems() async {
        let queues = WorkQueues<TestItem>(name: "test")
        queues.limitBackground(to: 1)
        queues.push(tag: "a", TestItem(name: "check-a", check: true))
        queues.push(tag: "b", TestItem(name: "check-b", check: true))
        let first = await queues.pop(worker: 0)
        #expect(first?.item.name == "check-a")
        // The one background slot is taken: a second worker waits for requested work.
        let second = Task { await queues.pop(worker: 1) }
        while queues.idleWorkerCount == 0 { await Task.yield() }
        queues.push(tag: "c", TestItem(name: "VM_start"))
        #expect(await second.value?.item.name == "VM_start")
        // A requested item behind a running check is visible to the worker running it.
        queues.push(tag: "a", TestItem(name: "VM_shutdown"))
        #expect(queues.requestedQueued(behind: "a"))
        #expect(!queues.requestedQueued(behind: "c"))
        queues.finished(tag: "a")
        queues.finished(tag: "c")
        let next = await queues.pop(worker: 0)
        #expect(next?.item.name == "VM_shutdown")
    }

    @Test func idleWorkerIsHandedAPushDirectly() async {
        let queues = WorkQueues<TestItem>(name: "test")
        let waiting = Task { await queues.pop(worker: 7) }
        queues.push(tag: "x", TestItem(name: "x1"))
        #expect(await waiting.value?.item.name == "x1")
    }

    @Test func stoppedQueuesReleaseIdleWorkers() async {
        let queues = WorkQueues<TestItem>(name: "test")
        let waiting = Task { await queues.pop(worker: 0) }
        let other = Task { await queues.pop(worker: 1) }
        other.cancel()
        #expect(await other.value == nil)
        queues.stop()
        #expect(await waiting.value == nil)
    }

    /// With one worker, a VM with 1,000 queued items delays another VM's single item by the one
    /// item in progress; with several workers, not at all (the busy VM holds only one worker).
    @Test(arguments: [1, 4])
    func fairnessOneBusyVMDelaysAnotherByAtMostOneItemPerWorker(workers: Int) async {
        let queues = WorkQueues<TestItem>(name: "test")
        let recorder = Recorder()
        let pool = WorkerPool(queues: queues, size: workers, logger: Logger(label: "test")) { item in
            await recorder.run(item, tag: item.name.hasPrefix("busy") ? "busy" : "other")
        }
        recorder.hold("busy0")
        for i in 0..<1000 { queues.push(tag: "busy", TestItem(name: "busy\(i)")) }
        let running = Task { await pool.run() }
        await recorder.waitStarted("busy0")
        queues.push(tag: "quiet", TestItem(name: "quiet"))
        recorder.release("busy0")
        await recorder.waitStarted("quiet")
        await recorder.waitStarted("busy999")
        let log = recorder.log
        let position = log.firstIndex(of: "quiet")!
        let busyBefore = log[..<position].filter { $0.hasPrefix("busy") }.count
        #expect(busyBefore <= workers, "the quiet VM waited for \(busyBefore) items of the busy one")
        #expect(busyBefore == 1)
        #expect(recorder.maxConcurrencyPerTag["busy"] == 1)
        running.cancel()
        await running.value
    }

    /// CA-87377 one layer down: a storm of checks for 500 VMs does not stand between a client's
    /// operation and the worker; the checks still get every `backgroundShare`-th pick.
    @Test func requestedOperationsGoAheadOfBackgroundChecksWhichAreNotStarved() async {
        let queues = WorkQueues<TestItem>(name: "test")
        for vm in 0..<500 { queues.push(tag: "vm\(vm)", TestItem(name: "check\(vm)", check: true)) }
        _ = await queues.pop(worker: 0)  // a check in progress, as in a storm
        queues.push(tag: "started", TestItem(name: "VM_start"))
        queues.finished(tag: "vm0")
        let next = await queues.pop(worker: 0)!
        #expect(next.item.name == "VM_start")
        queues.finished(tag: next.tag)

        // Requested operations keep arriving on 20 VMs; the checks still move.
        for vm in 0..<20 { for i in 0..<10 { queues.push(tag: "busy\(vm)", TestItem(name: "op\(vm)-\(i)")) } }
        var picks: [String] = []
        for _ in 0..<80 {
            let item = await queues.pop(worker: 0)!
            picks.append(item.item.name)
            queues.finished(tag: item.tag)
        }
        let checks = picks.filter { $0.hasPrefix("check") }.count
        #expect(checks == 80 / WorkQueues<TestItem>.backgroundShare)
        #expect(picks.first?.hasPrefix("op") == true)
    }

    @Test func poolShrinksAndGrows() async {
        let queues = WorkQueues<TestItem>(name: "test")
        let recorder = Recorder()
        let pool = WorkerPool(queues: queues, size: 4, logger: Logger(label: "test")) { item in
            await recorder.run(item, tag: item.name)
        }
        let running = Task { await pool.run() }
        #expect(pool.size == 4)
        pool.setSize(1)
        #expect(pool.size == 1)
        pool.setSize(3)
        #expect(pool.size == 3)
        for i in 0..<20 { queues.push(tag: "t\(i % 5)", TestItem(name: "i\(i)")) }
        for i in 0..<20 { await recorder.waitStarted("i\(i)") }
        #expect(recorder.log.count == 20)
        running.cancel()
        await running.value
    }
}

@Suite struct QueueAliasTests {
    /// xenopsd's migration aliases: pushes for the alias join the tag's queue while the tag is
    /// being served, and the alias is dropped when the tag finishes its item.
    @Test func aliasRedirectsUntilTheTagFinishes() async {
        let queues = WorkQueues<TestItem>(name: "test")
        queues.push(tag: "vm", TestItem(name: "migrate"))
        let running = await queues.pop(worker: 0)
        #expect(running?.tag == "vm")
        queues.alias(tag: "vm", alias: "vm-tmp")
        queues.push(tag: "vm-tmp", TestItem(name: "on-tmp"))
        #expect(queues.snapshot().map(\.tag) == ["vm"])
        queues.finished(tag: "vm")
        let next = await queues.pop(worker: 0)
        #expect(next?.tag == "vm" && next?.item.name == "on-tmp")
        queues.finished(tag: "vm")
        queues.push(tag: "vm-tmp", TestItem(name: "after"))
        #expect(queues.snapshot().map(\.tag) == ["vm-tmp"])
    }
}
