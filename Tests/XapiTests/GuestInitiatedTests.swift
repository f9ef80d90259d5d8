import Logging
import Testing
import Timing
@testable import Xapi
@testable import XapiDB
import Simulator
import Xenops
import Xenstore

/// A XenAPI with Xenops and xenstore in process: the whole path, without HTTP.
final class Plant: Sendable {
    let api: XenAPI
    let xenops: Xenops
    let machine: SimulatedHypervisor
    let running: Task<Void, Never>

    init(crashRestartGuard: Duration = .zero) async throws {
        let logger = Logger(label: "test")
        var configuration = XenopsConfiguration()
        configuration.minimumRebootDelay = .zero
        configuration.crashRestartGuard = crashRestartGuard
        var timings = SimulatedHypervisor.Configuration()
        timings.agentSchedule = .once
        let store = XenstoreDaemon(logger: logger)
        let machine = SimulatedHypervisor(store: store, configuration: timings, logger: logger)
        let xenops = Xenops(store: store, hypervisor: machine, configuration: configuration, logger: logger)
        let api = XenAPI(database: Database(), configuration: XapiConfiguration(password: "pw"), logger: logger, xenops: xenops)
        try DemoPool.createIfEmpty(in: api, options: .init(vms: 2))
        self.api = api
        self.xenops = xenops
        self.machine = machine
        running = Task {
            await withDiscardingTaskGroup { group in
                group.addTask { try? await xenops.run() }
                group.addTask { await api.bridge!.run() }
            }
        }
        await api.bridge!.waitUntilRunning()
    }

    deinit { running.cancel() }

    func call(_ name: String, _ params: Value...) async throws -> Value {
        let session = try await api.call("session.login_with_password", [.string("root"), .string("pw")], origin: .init(transport: .tcp)).get()
        return try await api.call(name, [session] + params, origin: .init(transport: .tcp)).get()
    }

    func vm() async throws -> (ref: String, uuid: String) {
        let t = api.tables
        return api.database.read { s in
            let ref = s.rows(t.vm).first { _, row in
                row.fields[t.vm[.isATemplate]] == .bool(false) && row.fields[t.vm[.isControlDomain]] == .bool(false)
            }!.key
            return (ref, (try? s.get(t.vm, ref, .uuid).stringValue) ?? "")
        }
    }

    /// Waits, event-driven, until `condition` holds for the VM's record.
    func waitFor(_ vm: String, _ condition: @escaping @Sendable (Structure) -> Bool) async throws -> Structure {
        let t = api.tables
        let subscription = Subscription(["vm/\(vm)"], model: api.database.model)
        let clock = api.database.clock
        let deadline = clock.now + .seconds(20)
        while true {
            let (record, generation) = try api.database.read { s throws(XapiError) in (try s.record(t.vm.table, vm), s.generation) }
            if condition(record) { return record }
            guard clock.now < deadline else { throw XapiError.internalError("timed out waiting for \(vm)") }
            _ = await api.database.waitForChange(session: "", subscription: subscription, after: generation, deadline: deadline)
        }
    }
}

@Suite(.serialized) struct GuestInitiatedTests {
    @Test func aGuestRebootingItselfGetsANewDomain() async throws {
        let plant = try await Plant()
        let (vm, uuid) = try await plant.vm()
        _ = try await plant.call("VM.start", .string(vm), .bool(false), .bool(false))
        let before = try await plant.waitFor(vm) { $0["power_state"] == .string("Running") }
        try plant.machine.guestShutdown(vm: uuid, reason: .reboot)
        let after = try await plant.waitFor(vm) { $0["domid"] != before["domid"] && $0["power_state"] == .string("Running") }
        #expect(after["domid"]?.intValue ?? -1 > 0)
    }

    @Test(arguments: [("destroy", "Halted"), ("restart", "Running"), ("preserve", "Paused")])
    func aCrashFollowsActionsAfterCrash(action: String, expected: String) async throws {
        let plant = try await Plant()
        let (vm, uuid) = try await plant.vm()
        _ = try await plant.call("VM.set_actions_after_crash", .string(vm), .string(action))
        _ = try await plant.call("VM.start", .string(vm), .bool(false), .bool(false))
        let before = try await plant.waitFor(vm) { $0["power_state"] == .string("Running") }
        try plant.machine.guestShutdown(vm: uuid, reason: .crash)
        let after = try await plant.waitFor(vm) { record in
            record["power_state"] == .string(expected) && (expected != "Running" || record["domid"] != before["domid"])
        }
        if expected == "Halted" { #expect(after["domid"] == .int(-1)) }
    }

    @Test func aGuestPoweringOffWithRestartActionComesBack() async throws {
        let plant = try await Plant()
        let (vm, uuid) = try await plant.vm()
        _ = try await plant.call("VM.set_actions_after_shutdown", .string(vm), .string("restart"))
        _ = try await plant.call("VM.start", .string(vm), .bool(false), .bool(false))
        let before = try await plant.waitFor(vm) { $0["power_state"] == .string("Running") }
        try plant.machine.guestShutdown(vm: uuid, reason: .poweroff)
        _ = try await plant.waitFor(vm) { $0["power_state"] == .string("Running") && $0["domid"] != before["domid"] }
        _ = try await plant.call("VM.set_actions_after_shutdown", .string(vm), .string("destroy"))
        // The change reaches Xenops through the bridge's metadata sync, which runs on its own
        // (xapi's events_from_xapi); the guest must not power off before it has.
        plant.api.bridge!.syncMetadata(vm)
        #expect(try plant.xenops.vm.stat(uuid).config.onShutdown == [.shutdown])
        try plant.machine.guestShutdown(vm: uuid, reason: .poweroff)
        _ = try await plant.waitFor(vm) { $0["power_state"] == .string("Halted") }
    }
}
