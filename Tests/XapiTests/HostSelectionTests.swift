import Testing
@testable import Xapi
@testable import XapiDB

/// xapi's placement (vm_placement.ml) on a three-host demo pool, with the random draw fixed so
/// the choice is the roomiest host of the first category that has one (xapi's
/// `deterministic_host_selection` does the same).
@Suite struct HostSelectionTests {
    let api: XenAPI
    let t: Tables
    let hosts: [String]
    let master: String

    let fixture: DemoPoolFixture

    init() throws {
        fixture = try DemoPoolFixture(hosts: 3, vms: 12)
        (api, t, hosts) = (fixture.api, fixture.t, fixture.hosts)
        master = api.localHost()
    }

    func vms() -> [String] { fixture.guests() }

    /// Places the VM and holds its room there, as a start does.
    func place(_ vm: String, random: @escaping () -> Double = { 0 }) throws -> String {
        let t = t
        return try api.database.write { s throws(XapiError) in
            let host = try HostSelection.choose(vm, in: s, t, random: random)
            try Placement.reserve(vm, on: host, in: &s, t)
            return host
        }
    }

    /// What choosing a host for the VM fails with.
    func failure(_ vm: String) -> [String]? {
        let t = t
        do {
            _ = try api.database.read { s throws(XapiError) in try HostSelection.choose(vm, in: s, t) }
            return nil
        } catch {
            return error.errorDescription
        }
    }

    @Test func vmsSpreadOverTheMembersBeforeTheMaster() throws {
        var placed: [String: Int] = [:]
        for vm in vms() { placed[try place(vm), default: 0] += 1 }
        // Equal hosts: each VM goes to the member with more room left; the master, valued at
        // half while it has room for every guest at static-max, takes none of twelve.
        #expect(placed[master] == nil)
        #expect(placed[hosts[1]] == 6 && placed[hosts[2]] == 6)
    }

    @Test func withoutTheCoordinatorBiasTheMasterTakesItsShare() throws {
        let t = t
        try api.database.write { s throws(XapiError) in
            try s.set(t.pool, s.refs(t.pool)[0], .coordinatorBias, .bool(false))
        }
        var placed: [String: Int] = [:]
        for vm in vms() { placed[try place(vm), default: 0] += 1 }
        #expect(placed[master] == 4 && placed[hosts[1]] == 4 && placed[hosts[2]] == 4)
    }

    @Test func theAffinityHostComesFirstAndDisabledHostsNever() throws {
        let t = t
        let vm = vms()[0]
        try api.database.write { s throws(XapiError) in try s.set(t.vm, vm, .affinity, .string(master)) }
        #expect(try api.database.read { s throws(XapiError) in try HostSelection.choose(vm, in: s, t, random: { 0.99 }) } == master)
        try api.database.write { s throws(XapiError) in try s.set(t.host, master, .enabled, .bool(false)) }
        for draw in [0.0, 0.5, 0.99] {
            #expect(try api.database.read { s throws(XapiError) in try HostSelection.choose(vm, in: s, t, random: { draw }) } != master)
        }
        try api.database.write { s throws(XapiError) in
            for host in hosts { try s.set(t.host, host, .enabled, .bool(false)) }
        }
        #expect(failure(vm) == ["NO_HOSTS_AVAILABLE"])
    }

    @Test func aVMTooBigForEveryHostFindsNone() throws {
        let t = t
        let vm = vms()[0]
        try api.database.write { s throws(XapiError) in
            for field in [VMField.memoryStaticMax, .memoryDynamicMax, .memoryDynamicMin] { try s.set(t.vm, vm, field, .int(1 << 50)) }
        }
        #expect(failure(vm) == ["NO_HOSTS_AVAILABLE"])
    }
}
