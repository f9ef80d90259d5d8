import Synchronization
import Testing
import Simulator
import Timing
@testable import Xenops
import Xenstore

/// The XenbusState handshake as a watch sees it, step by step: the simulated backend and
/// frontend wait one clock step before each state change, and the test moves the clock only
/// once the watcher has read everything written so far.
@Suite(.timeLimit(.minutes(1))) struct XenbusTests {
    /// State changes of one device's two `state` nodes, in commit order (one watch on their
    /// common ancestor), each read when its event arrives.
    final class StateLog: Sendable {
        private struct State {
            var entries: [String] = []
            var last: [String: String] = [:]
            var sentinel = 0
            var waiters: [(Int, CheckedContinuation<Void, Never>)] = []
            var sentinelWaiters: [(Int, CheckedContinuation<Void, Never>)] = []
        }

        private let state = Mutex(State())

        func record(_ label: String, _ value: String) {
            let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                guard state.last[label] != value else { return [] }
                state.last[label] = value
                state.entries.append("\(label)\(value)")
                let count = state.entries.count
                var ready: [CheckedContinuation<Void, Never>] = []
                state.waiters.removeAll { target, continuation in
                    guard count >= target else { return false }
                    ready.append(continuation)
                    return true
                }
                return ready
            }
            for continuation in ready { continuation.resume() }
        }

        func sawSentinel(_ value: Int) {
            let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.sentinel = max(state.sentinel, value)
                var ready: [CheckedContinuation<Void, Never>] = []
                state.sentinelWaiters.removeAll { target, continuation in
                    guard state.sentinel >= target else { return false }
                    ready.append(continuation)
                    return true
                }
                return ready
            }
            for continuation in ready { continuation.resume() }
        }

        func waitForCount(_ target: Int) async {
            await withCheckedContinuation { continuation in
                let done = state.withLock { state -> Bool in
                    if state.entries.count >= target { return true }
                    state.waiters.append((target, continuation))
                    return false
                }
                if done { continuation.resume() }
            }
        }

        func waitForSentinel(_ target: Int) async {
            await withCheckedContinuation { continuation in
                let done = state.withLock { state -> Bool in
                    if state.sentinel >= target { return true }
                    state.sentinelWaiters.append((target, continuation))
                    return false
                }
                if done { continuation.resume() }
            }
        }

        var entries: [String] { state.withLock { $0.entries } }
        var count: Int { state.withLock { $0.entries.count } }
    }

    static let step = Duration.seconds(1)

    /// Moves the clock one step at a time until `expected` more state changes were seen.
    /// Every simulated step is one sleep followed by one `state` write, so: wait for a sleeper,
    /// make sure the watcher has read everything committed (a sentinel write round-trips through
    /// the same watch), advance, wait for that step's write.
    static func drive(_ clock: ManualClock, _ log: StateLog, dom0: XenstoreConnection, counter: Counter, until expected: Int) async {
        while log.count < expected {
            await clock.waitForSleepers(1, dueWithin: step)
            let mark = Int(counter.next())
            try? dom0.write("/local/domain/0/xenbus-test-sentinel", String(mark))
            await log.waitForSentinel(mark)
            let before = log.count
            clock.advance(by: step)
            await log.waitForCount(before + 1)
        }
    }

    @Test(arguments: ["vbd", "vif"])
    func handshakeOnPlugAndUnplugAsSeenByAWatch(kind: String) async throws {
        let clock = ManualClock()
        var simulation = SimulatedHypervisor.Configuration()
        simulation.deviceStepDelay = Self.step
        let h = await Harness(simulation: simulation, clock: clock)
        defer { Task { await h.stop() } }
        let uuid = "33333333-0000-0000-0000-000000000001"
        h.xenops.vm.importMetadata(Harness.metadata(uuid, vbds: [], vifs: 0))
        let domid = try #require(await h.startRunning(uuid))

        let (devid, id): (Int, DeviceID)
        if kind == "vbd" {
            id = try h.xenops.vbd.add(VBDConfig(id: DeviceID(vm: uuid, device: "xvdb"), backend: .vdi("sr/disk")))
            devid = 51728
        } else {
            id = try h.xenops.vif.add(VIFConfig(id: DeviceID(vm: uuid, device: "1")))
            devid = 1
        }
        let frontend = "/local/domain/\(domid)/device/\(kind)/\(devid)/state"
        let backend = "/local/domain/0/backend/\(kind)/\(domid)/\(devid)/state"
        let log = StateLog()
        let x = h.dom0
        let watch = try x.watch("/local/domain", token: "xenbus-test")
        let reader = Task {
            for await event in watch {
                switch event.path {
                case frontend: if let value = try? x.read(frontend) { log.record("F", value) }
                case backend: if let value = try? x.read(backend) { log.record("B", value) }
                case "/local/domain/0/xenbus-test-sentinel":
                    if let value = (try? x.read(event.path)).flatMap({ Int($0) }) { log.sawSentinel(value) }
                default: break
                }
            }
        }
        defer { reader.cancel() }
        let counter = Counter()

        let plug = kind == "vbd" ? h.xenops.vbd.plug(id) : h.xenops.vif.plug(id)
        await Self.drive(clock, log, dom0: x, counter: counter, until: 6)
        #expect(log.entries == ["F1", "B1", "B2", "F3", "B4", "F4"])
        #expect(await h.succeed(plug))

        let unplug = kind == "vbd" ? h.xenops.vbd.unplug(id) : h.xenops.vif.unplug(id)
        await Self.drive(clock, log, dom0: x, counter: counter, until: 10)
        #expect(log.entries.suffix(4) == ["B5", "F5", "F6", "B6"])
        #expect(await h.succeed(unplug))
        #expect(try !x.exists("/local/domain/0/backend/\(kind)/\(domid)/\(devid)"))
        #expect(try !x.exists("/local/domain/\(domid)/device/\(kind)/\(devid)"))
    }

    @Test func pausedGuestLeavesBackendsInInitWaitUntilUnpaused() async throws {
        let clock = ManualClock()
        var simulation = SimulatedHypervisor.Configuration()
        simulation.deviceStepDelay = Self.step
        let h = await Harness(simulation: simulation, clock: clock)
        defer { Task { await h.stop() } }
        let uuid = "33333333-0000-0000-0000-000000000002"
        h.xenops.vm.importMetadata(Harness.metadata(uuid, vbds: [("xvda", .readWrite, .disk)], vifs: 0))
        let log = StateLog()
        let x = h.dom0
        let watch = try x.watch("/local/domain", token: "xenbus-test")
        let reader = Task {
            for await event in watch {
                if event.path.hasSuffix("/device/vbd/51712/state"), let value = try? x.read(event.path) { log.record("F", value) }
                if event.path.hasSuffix("/51712/state") && event.path.contains("/backend/"),
                   let value = try? x.read(event.path) { log.record("B", value) }
                if event.path == "/local/domain/0/xenbus-test-sentinel", let value = (try? x.read(event.path)).flatMap({ Int($0) }) {
                    log.sawSentinel(value)
                }
            }
        }
        defer { reader.cancel() }
        let counter = Counter()
        let start = h.xenops.vm.start(uuid)
        await Self.drive(clock, log, dom0: x, counter: counter, until: 3)
        #expect(await h.succeed(start))
        #expect(log.entries == ["F1", "B1", "B2"])
        #expect(try h.xenops.vm.stat(uuid).state.powerState == .paused)
        let unpause = h.xenops.vm.unpause(uuid)
        #expect(await h.succeed(unpause))
        await Self.drive(clock, log, dom0: x, counter: counter, until: 6)
        #expect(log.entries == ["F1", "B1", "B2", "F3", "B4", "F4"])
    }
}
