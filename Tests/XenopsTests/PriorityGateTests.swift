import Synchronization
import Testing
@testable import Xenops

/// A foreground body held open until the test says so.
private final class Latch: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let open = state.withLock { s -> Bool in
                if !s.open { s.waiters.append(continuation) }
                return s.open
            }
            if open { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// Background bodies running now, the most at once, and those finished.
private final class Counts: Sendable {
    let state = Mutex((now: 0, most: 0, finished: 0))

    func run() async {
        state.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
        try? await Task.sleep(for: .milliseconds(5))
        state.withLock { $0.now -= 1; $0.finished += 1 }
    }
}

/// Foreground work in flight on a gate until `end()`; `then` runs as it finishes.
private struct HeldForeground {
    let latch: Latch
    let task: Task<Void, Never>

    static func begin(_ gate: PriorityGate, key: String? = nil, then: @escaping @Sendable () -> Void = {}) async -> HeldForeground {
        let latch = Latch()
        let entered = Latch()
        let hold: @Sendable () async -> Void = {
            entered.open()
            await latch.wait()
            then()
        }
        let task = Task { await gate.foreground(key: key, hold) }
        await entered.wait()
        return HeldForeground(latch: latch, task: task)
    }

    func end() async {
        latch.open()
        await task.value
    }
}

/// Four background bodies at once; the most that ran together.
private func runFour(on gate: PriorityGate) async -> Counts {
    let counts = Counts()
    await withTaskGroup(of: Void.self) { group in
        for _ in 0..<4 {
            group.addTask { await gate.background { await counts.run() } }
        }
        await group.waitForAll()
    }
    return counts
}

struct PriorityGateTests {
    @Test func backgroundRunsAtOnceWithNoForeground() async {
        let gate = PriorityGate(limit: 1, pause: .seconds(60))
        let ran = await gate.background { true }
        #expect(ran)
    }

    @Test func withNoForegroundBackgroundRunsUpToTheIdleLimit() async {
        let one = await runFour(on: PriorityGate(idleLimit: 1, pause: .seconds(60)))
        #expect(one.state.withLock { $0.finished } == 4)
        #expect(one.state.withLock { $0.most } == 1)
        let three = await runFour(on: PriorityGate(idleLimit: 3, pause: .seconds(60)))
        #expect(three.state.withLock { $0.most } == 3)
    }

    @Test func backgroundWaitsForForegroundToEnd() async {
        let gate = PriorityGate(limit: 1, pause: .seconds(60))
        let order = Mutex<[String]>([])
        let foreground = await HeldForeground.begin(gate) { order.withLock { $0.append("foreground") } }
        let record: @Sendable () async -> Void = { order.withLock { $0.append("background") } }
        let background = Task { await gate.background(record) }
        while gate.waitingCount == 0 { await Task.yield() }
        #expect(order.withLock { $0 }.isEmpty)
        await foreground.end()
        await background.value
        #expect(order.withLock { $0 } == ["foreground", "background"])
    }

    @Test func backgroundForTheForegroundsObjectIsNotHeld() async {
        let gate = PriorityGate(limit: 1, pause: .seconds(60))
        let foreground = await HeldForeground.begin(gate, key: "vm-a")
        // Would wait a minute if it were held; the foreground itself may be waiting for it.
        let ran = await gate.background(key: "vm-a") { true }
        #expect(ran)
        await foreground.end()
    }

    @Test func afterThePauseBackgroundTricklesAtTheLimit() async {
        let gate = PriorityGate(limit: 1, idleLimit: 4, pause: .milliseconds(20))
        let foreground = await HeldForeground.begin(gate)
        let counts = await runFour(on: gate)
        // All four ran while the foreground was still in flight, one at a time.
        #expect(counts.state.withLock { $0.finished } == 4)
        #expect(counts.state.withLock { $0.most } == 1)
        await foreground.end()
    }

    @Test func promotedWorkInsideABackgroundBodyGivesItsSlotUp() async {
        let gate = PriorityGate(limit: 1, idleLimit: 1, pause: .zero)
        let latch = Latch()
        let entered = Latch()
        let longOperation: @Sendable () async -> Void = {
            await gate.promoted(key: "vm-a") {
                entered.open()
                await latch.wait()
            }
        }
        let check = Task { await gate.background(key: "vm-a", longOperation) }
        await entered.wait()
        // The check's slot is free while its operation runs: another VM's signal goes.
        let ran = await gate.background(key: "vm-b") { true }
        #expect(ran)
        latch.open()
        await check.value
        #expect(gate.foregroundCount == 0)
    }

    @Test func cancelledWaiterGoesAtOnce() async {
        let gate = PriorityGate(limit: 1, pause: .seconds(60))
        let foreground = await HeldForeground.begin(gate)
        let observe: @Sendable () async -> Bool = { Task.isCancelled }
        let background = Task { await gate.background(observe) }
        while gate.waitingCount == 0 { await Task.yield() }
        background.cancel()
        #expect(await background.value)
        await foreground.end()
        #expect(gate.foregroundCount == 0)
    }
}
