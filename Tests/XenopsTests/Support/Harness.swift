import Logging
import Synchronization
import Testing
import Simulator
import Timing
@testable import Xenops
import Xenstore

/// A running engine on a private in-process xenstore with the simulated machine.
final class Harness: Sendable {
    let store: XenstoreDaemon
    let xenops: Xenops
    let dom0: XenstoreConnection
    let clock: any ServerClock
    private let running: Task<Void, Never>

    let simulator: SimulatedHypervisor

    static func testConfiguration() -> XenopsConfiguration {
        var configuration = XenopsConfiguration()
        configuration.minimumRebootDelay = .zero
        configuration.crashRestartGuard = .zero
        configuration.hotplugTimeout = .seconds(30)
        configuration.domainShutdownAckTimeout = .seconds(10)
        return configuration
    }

    static func logger() -> Logger {
        var logger = Logger(label: "xenops-test")
        logger.logLevel = .critical
        return logger
    }

    init(_ configuration: XenopsConfiguration = Harness.testConfiguration(),
         simulation: SimulatedHypervisor.Configuration = .init(), clock: any ServerClock = SystemClock()) async {
        let logger = Self.logger()
        store = XenstoreDaemon(logger: logger)
        dom0 = store.connect(domid: 0)
        self.clock = clock
        simulator = SimulatedHypervisor(store: store, configuration: simulation, clock: clock, logger: logger)
        let xenops = Xenops(store: store, hypervisor: simulator, configuration: configuration, clock: clock, logger: logger)
        self.xenops = xenops
        running = Task { try? await xenops.run() }
        await xenops.waitUntilRunning()
    }

    func stop() async {
        running.cancel()
        await running.value
    }

    // MARK: VMs

    static func metadata(
        _ uuid: String, kind: VMConfig.DomainKind = .pv, vbds: [(String, VBDConfig.Mode, VBDConfig.Kind)] = [("xvda", .readWrite, .disk)],
        vifs: Int = 1, onShutdown: [VMConfig.Action] = [.shutdown], onReboot: [VMConfig.Action] = [.start],
        onCrash: [VMConfig.Action] = [.shutdown], vcpus: Int = 2
    ) -> VMMetadata {
        let vm = VMConfig(id: uuid, name: "test-\(uuid)", kind: kind, memoryStaticMax: 256 << 20, vcpuMax: vcpus,
                          onShutdown: onShutdown, onReboot: onReboot, onCrash: onCrash)
        let disks = vbds.map { name, mode, kind in
            VBDConfig(id: DeviceID(vm: uuid, device: name), mode: mode,
                      backend: kind == .cdrom ? nil : .vdi("sr-1/\(uuid)-\(name)"), kind: kind)
        }
        let nics = (0..<vifs).map { VIFConfig(id: DeviceID(vm: uuid, device: String($0)), bridge: "xenbr0") }
        return VMMetadata(vm: vm, vbds: disks, vifs: nics)
    }

    /// Waits for the task and returns its record (Issue.record on timeout).
    @discardableResult
    func finish(_ task: String, _ comment: Comment? = nil, timeout: Duration = .seconds(30)) async -> TaskRecord? {
        let record = await xenops.task.wait(task, timeout: timeout)
        if record == nil { Issue.record("task \(task) did not finish: \(comment?.description ?? "")") }
        return record
    }

    @discardableResult
    func succeed(_ task: String, _ comment: Comment? = nil) async -> Bool {
        guard let record = await finish(task, comment) else { return false }
        guard case .completed = record.state else {
            Issue.record("task \(task) \(comment?.description ?? ""): \(record.state)")
            return false
        }
        try? xenops.task.destroy(task)
        return true
    }

    /// start + unpause, as xapi does (the unpause is queued behind the start).
    @discardableResult
    func startRunning(_ uuid: String) async -> UInt32? {
        let start = xenops.vm.start(uuid)
        let unpause = xenops.vm.unpause(uuid)
        guard await succeed(start, "start"), await succeed(unpause, "unpause") else { return nil }
        return (try? xenops.vm.stat(uuid))?.state.domids.first.map(UInt32.init)
    }

    // MARK: waiting (events only; the timeout is a safety net)

    /// Waits until `condition` holds, re-checked on each change under `path`.
    func waitFor(_ path: String, timeout: Duration = .seconds(20), _ condition: @escaping @Sendable () -> Bool) async -> Bool {
        let waiter = XenstoreWaiter(xs: dom0, clock: SystemClock())
        return (try? await waiter.wait(on: path, timeout: timeout, task: nil, until: condition)) ?? false
    }

    func waitForValue(_ path: String, _ value: String, timeout: Duration = .seconds(20)) async -> Bool {
        let dom0 = self.dom0
        return await waitFor(path, timeout: timeout) { (try? dom0.read(path)) == value }
    }

    /// Reads Updates from `token` until `done` holds for a batch's ids (or the time is up);
    /// returns every id seen and the final token.
    func waitForUpdates(from token: Int?, timeout: Duration = .seconds(20),
                        until done: ([Dynamic]) -> Bool) async -> (seen: [Dynamic], token: Int, satisfied: Bool) {
        var token = token
        var seen: [Dynamic] = []
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let batch = await xenops.updates.get(from: token, timeout: .seconds(1))
            seen += batch.barriers.flatMap(\.updates) + batch.updates
            token = batch.next
            if !batch.isEmpty && done(seen) { return (seen, batch.next, true) }
        }
        return (seen, token ?? 0, false)
    }

    /// Reads Updates until `condition` holds after a signal about `vm`.
    func waitForVM(_ uuid: String, from token: Int?, timeout: Duration = .seconds(20),
                   _ condition: @escaping (VMState) -> Bool) async -> Bool {
        if let state = try? xenops.vm.stat(uuid).state, condition(state) { return true }
        let xenops = self.xenops
        return await waitForUpdates(from: token, timeout: timeout) { seen in
            guard seen.contains(.vm(uuid)), let state = try? xenops.vm.stat(uuid).state else { return false }
            return condition(state)
        }.satisfied
    }
}
