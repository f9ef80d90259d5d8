import Wire
import Foundation
import Testing
import Simulator
import Timing
@testable import Xenops
import Xenstore

/// Tasks, cancellation and the consistency left behind, coalescing at the engine, barriers and
/// refresh through the facade, diagnostics.
@Suite(.timeLimit(.minutes(2))) struct TaskTests {
    /// Nothing of the VM's domain is left: no domain, no xenstore trees, devices unplugged.
    static func expectNoTrace(_ h: Harness, _ uuid: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(h.simulator.domainInfo(uuid: uuid) == nil, sourceLocation: sourceLocation)
        #expect(try h.dom0.directory("/local/domain") == ["0"], sourceLocation: sourceLocation)
        #expect(try h.dom0.directory("/xenops/domain").isEmpty, sourceLocation: sourceLocation)
        for kind in ["vbd", "vif"] {
            #expect(((try? h.dom0.directory("/local/domain/0/backend/\(kind)")) ?? []).isEmpty, sourceLocation: sourceLocation)
        }
        let state = try h.xenops.vm.stat(uuid).state
        #expect(state.powerState == .halted && state.domids.isEmpty, sourceLocation: sourceLocation)
        for (_, vbd) in h.xenops.vbd.list(uuid) { #expect(!vbd.plugged, sourceLocation: sourceLocation) }
        for (_, vif) in h.xenops.vif.list(uuid) { #expect(!vif.plugged, sourceLocation: sourceLocation) }
    }

    /// xenopsd's cancel trigger at every cancel point of a start: each cancelled start fails
    /// `Cancelled` and its cleanup leaves no trace; a start past the last point completes.
    @Test func cancellingAStartAtAnyCancelPointLeavesAConsistentState() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "55555555-0000-0000-0000-000000000001"
        h.xenops.vm.importMetadata(Harness.metadata(uuid, vbds: [("xvda", .readWrite, .disk), ("xvdb", .readOnly, .disk)], vifs: 2))
        var cancelled = 0
        for point in 1...40 {
            let dbg = "cancel-at-\(point)"
            h.xenops.task.setCancelTrigger(dbg: dbg, at: point)
            let start = h.xenops.vm.start(uuid, dbg: dbg)
            let record = try #require(await h.finish(start))
            try h.xenops.task.destroy(start)
            if case .failed(let error) = record.state {
                guard case .cancelled = error else { Issue.record("point \(point): \(error)"); continue }
                cancelled += 1
                #expect(Int(record.debugInfo["cancel_points_seen"] ?? "") == point)
                try Self.expectNoTrace(h, uuid)
            } else {
                #expect(record.state.isCompleted)
                #expect(try h.xenops.vm.stat(uuid).state.powerState == .paused)
                break
            }
        }
        // The start's own cancel points: create, build, the device step, device model, action request.
        #expect(cancelled == 5)
    }

    /// TASK.cancel while the start waits for a device's hotplug script.
    @Test func cancellingAStartBlockedOnADeviceLeavesAConsistentState() async throws {
        var simulation = SimulatedHypervisor.Configuration()
        simulation.deviceStepDelay = .milliseconds(100)
        let h = await Harness(simulation: simulation)
        defer { Task { await h.stop() } }
        let uuid = "55555555-0000-0000-0000-000000000002"
        h.xenops.vm.importMetadata(Harness.metadata(uuid, vbds: [("xvda", .readWrite, .disk)], vifs: 1))
        let dom0 = h.dom0
        let backendAppeared = Task {
            await h.waitFor("/local/domain/0/backend/vbd") { ((try? dom0.directory("/local/domain/0/backend/vbd")) ?? []).count > 0 }
        }
        let start = h.xenops.vm.start(uuid, dbg: "blocked")
        #expect(await backendAppeared.value)
        try h.xenops.task.cancel(start)
        let record = try #require(await h.finish(start))
        #expect(record.state == .failed(.cancelled(task: start)))
        try Self.expectNoTrace(h, uuid)
        // And the VM starts normally afterwards.
        #expect(await h.startRunning(uuid) != nil)
    }

    @Test func progressIsSignalledAfterEveryStepAndTasksFinishCompleted() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "55555555-0000-0000-0000-000000000003"
        h.xenops.vm.importMetadata(Harness.metadata(uuid))
        var token = h.xenops.updates.lastID
        let start = h.xenops.vm.start(uuid)
        var progress: [Double] = []
        var finished = false
        while !finished {
            let batch = await h.xenops.updates.get(from: token, timeout: .seconds(10))
            token = batch.next
            guard batch.updates.contains(.task(start)) else { continue }
            switch try h.xenops.task.stat(start).state {
            case .pending(let value): progress.append(value)
            case .completed(let duration, _):
                #expect(duration >= 0)
                finished = true
            case .failed(let error):
                Issue.record("\(error)")
                finished = true
            }
        }
        #expect(progress == progress.sorted())
        #expect(progress.allSatisfy { $0 > 0 && $0 <= 1 })
        // The parallel device step shows up as subtasks, one per atom, all completed.
        let subtasks = try h.xenops.task.stat(start).subtasks
        #expect(subtasks.count >= 2)
        #expect(subtasks.allSatisfy { $0.name.hasPrefix("Parallel:task=\(start)") && $0.state.isCompleted })
        #expect(h.xenops.task.list().map(\.id).contains(start))
        try h.xenops.task.destroy(start)
        #expect(throws: XenopsError.doesNotExist(kind: "task", id: start)) { try h.xenops.task.stat(start) }
        #expect(!h.xenops.updates.dump().updates.contains { $0.id == .task(start) })
    }

    @Test func taskTableSemantics() async throws {
        let updates = Updates(logger: Harness.logger())
        let tasks = TaskTable(updates: updates, clock: SystemClock(), retention: .seconds(60), finishedLimit: 100,
                              logger: Harness.logger())
        let first = tasks.add(dbg: "a")
        let second = tasks.add(dbg: "b")
        #expect(first.id == "0" && second.id == "1")
        // Every progress step is a Task signal.
        let token = updates.lastID
        first.setProgress(0.5)
        #expect(await updates.get(from: token, timeout: .zero).updates == [.task("0")])
        // A task past its non-cancellable point ignores cancel.
        tasks.prohibitCancellation(second.id)
        try tasks.cancel(second.id)
        #expect(throws: Never.self) { try second.checkCancelling() }
        #expect(try tasks.stat(second.id).cancellable == false)
        // A cancellable one fails at its next cancel point.
        try tasks.cancel(first.id)
        #expect(throws: XenopsError.cancelled(task: "0")) { try first.checkCancelling() }
        #expect(try tasks.stat(first.id).debugInfo["cancel_points_seen"] == "1")
        tasks.finish(first.id, .failure(.cancelled(task: "0")))
        #expect(try tasks.stat(first.id).state == .failed(.cancelled(task: "0")))
        tasks.finish(second.id, .success("result"))
        guard case .completed(_, let result) = try tasks.stat(second.id).state else { Issue.record("not completed"); return }
        #expect(result == "result")
        #expect(throws: XenopsError.doesNotExist(kind: "task", id: "9")) { try tasks.cancel("9") }
        try tasks.destroy(first.id)
        #expect(tasks.list().map(\.id) == ["1"])
    }

    @Test func destroyOnFinishAndExpiryKeepTheTablesBounded() async throws {
        var configuration = Harness.testConfiguration()
        configuration.finishedTaskLimit = 3
        let h = await Harness(configuration)
        defer { Task { await h.stop() } }
        let uuid = "55555555-0000-0000-0000-000000000004"
        h.xenops.vm.importMetadata(Harness.metadata(uuid, vbds: [], vifs: 0))
        let first = h.xenops.vm.pause(uuid)
        try h.xenops.task.destroyOnFinish(first)
        _ = await h.xenops.task.wait(first)
        #expect(throws: XenopsError.self) { try h.xenops.task.stat(first) }
        // Nobody destroys these: the table keeps the newest `finishedTaskLimit`.
        var ids: [String] = []
        for _ in 0..<10 {
            let id = h.xenops.vm.pause(uuid)
            _ = await h.xenops.task.wait(id)
            ids.append(id)
        }
        _ = h.xenops.vm.pause(uuid)  // expiry runs as tasks are added
        let left = Set(h.xenops.task.list().map(\.id))
        #expect(left.intersection(ids).count <= 3)
        let taskEntries = h.xenops.updates.dump().updates.filter { if case .task = $0.id { true } else { false } }
        #expect(taskEntries.count <= 4)
    }

    @Test func checkStateCoalescesOnTheVMQueue() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "55555555-0000-0000-0000-000000000005"
        h.xenops.vm.importMetadata(Harness.metadata(uuid, vbds: [], vifs: 0))
        #expect(await h.startRunning(uuid) != nil)
        // Hold the VM's queue with a delay step, then pile up signals.
        let delay = h.xenops.engine.queue(.atomic(.vmDelay(uuid, seconds: 0.3)), dbg: "hold")
        for _ in 0..<50 { h.xenops.engine.queueUntracked(.vmCheckState(uuid), dbg: "events") }
        for _ in 0..<50 { h.xenops.engine.queueUntracked(.vbdCheckState(DeviceID(vm: uuid, device: "xvda")), dbg: "events") }
        let pending = h.xenops.engine.queues.snapshot().first { $0.tag == uuid }?.items.map(\.operation) ?? []
        #expect(pending.filter { $0 == .vmCheckState(uuid) }.count == 1)
        #expect(pending.filter { $0 == .vbdCheckState(DeviceID(vm: uuid, device: "xvda")) }.count == 1)
        #expect(h.xenops.engine.queues.counters.coalesced >= 98)
        #expect(await h.succeed(delay))
    }

    @Test func cancellingADelayInterruptsIt() async throws {
        let clock = ManualClock()
        let h = await Harness(clock: clock)
        defer { Task { await h.stop() } }
        let uuid = "55555555-0000-0000-0000-000000000006"
        h.xenops.vm.importMetadata(Harness.metadata(uuid, vbds: [], vifs: 0))
        let delay = h.xenops.engine.queue(.atomic(.vmDelay(uuid, seconds: 600)), dbg: "long")
        await clock.waitForSleepers(1, dueWithin: .seconds(600))  // the delay is running
        try h.xenops.task.cancel(delay)
        let record = try #require(await h.xenops.task.wait(delay))
        #expect(record.state == .failed(.cancelled(task: delay)))
        #expect(clock.now == .zero)
    }

    @Test func barrierAndRefreshThroughTheFacade() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "55555555-0000-0000-0000-000000000007"
        let other = "55555555-0000-0000-0000-000000000008"
        h.xenops.vm.importMetadata(Harness.metadata(uuid))
        h.xenops.vm.importMetadata(Harness.metadata(other))
        #expect(await h.startRunning(uuid) != nil)
        #expect(await h.startRunning(other) != nil)
        let token = await SignalTests.quiesce(h, from: nil)
        h.xenops.updates.refreshVM(uuid)
        h.xenops.updates.injectBarrier(vm: uuid, id: 42)
        let batch = await h.xenops.updates.get(from: token, timeout: .seconds(5))
        let barrier = try #require(batch.barriers.first)
        #expect(barrier.id == 42)
        #expect(Set(barrier.updates) == [.vm(uuid), .vbd(DeviceID(vm: uuid, device: "xvda")), .vif(DeviceID(vm: uuid, device: "0"))])
        #expect(barrier.updates.allSatisfy { $0.vm == uuid })
        h.xenops.updates.removeBarrier(42)
        let after = await h.xenops.updates.get(from: batch.next, timeout: .zero)
        #expect(after.barriers.isEmpty)
    }

    @Test func diagnosticsDocument() async throws {
        let clock = ManualClock()
        let h = await Harness(clock: clock)
        defer { Task { await h.stop() } }
        let uuid = "55555555-0000-0000-0000-000000000009"
        h.xenops.vm.importMetadata(Harness.metadata(uuid))
        #expect(await h.startRunning(uuid) != nil)
        h.xenops.updates.injectBarrier(vm: uuid, id: 7)
        // A reader with a token from the future stays parked (nothing can be newer for it).
        let token = h.xenops.updates.lastID + 1_000
        let waiting = Task { await h.xenops.updates.get(from: token, timeout: .seconds(30)) }
        await clock.waitForSleepers(1, dueWithin: .seconds(30))  // the reader's timeout
        let hold = h.xenops.engine.queue(.atomic(.vmDelay(uuid, seconds: 5)), dbg: "hold")
        await clock.waitForSleepers(2, dueWithin: .seconds(30))  // …and the delay, running
        let pause = h.xenops.vm.pause(uuid)
        let document = h.xenops.diagnostics()
        let json = try #require(try JSONSerialization.jsonObject(with: Data(document.bytes)) as? [String: Any])
        #expect(Set(json.keys) == ["queues", "workers", "scheduler", "updates", "tasks", "vm_actions"])
        let workers = try #require(json["workers"] as? [[String: Any]])
        #expect(workers.count == 16)  // four sets (default, parallel, nested, receive_memory) of four
        #expect(workers.contains { ($0["task"] as? String) == hold })
        let updates = try #require(json["updates"] as? [String: Any])
        let barriers = try #require(updates["barriers"] as? [[Any]])
        #expect(barriers.first?.first as? Int == 7)
        let entries = try #require(updates["updates"] as? [[String: Any]])
        #expect(entries.contains { ($0["v"] as? String) == "[\"Vm\",\"\(uuid)\"]" })
        let scheduler = try #require(json["scheduler"] as? [[String: Any]])
        #expect(scheduler.contains { ($0["thing"] as? String)?.contains("get timeout") == true })
        let actions = try #require(json["vm_actions"] as? [[Any]])
        #expect(actions.first?.first as? String == uuid)
        let queues = try #require(json["queues"] as? [[String: Any]])
        let works = queues.first { ($0["tag"] as? String) == uuid }?["works"] as? [Any] ?? []
        #expect(works.contains { ($0 as? [Any])?.first as? String == "Atomic" && "\($0)".contains("VM_pause") })
        let tasks = try #require(json["tasks"] as? [[String: Any]])
        #expect(tasks.contains { ($0["dbg"] as? String) == "hold" })
        #expect(tasks.contains { ($0["id"] as? String) == pause })
        clock.advance(by: .seconds(5))
        #expect(await h.succeed(hold))
        #expect(await h.succeed(pause))
        waiting.cancel()
        _ = await waiting.value
    }
}
