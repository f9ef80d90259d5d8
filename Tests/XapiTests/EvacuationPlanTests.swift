import Testing
@testable import Xapi
@testable import XapiDB

/// xapi_host.ml `compute_evacuation_plan_no_wlb` on a three-host demo pool, its VMs made
/// resident (and booted PV) by hand, no hypervisor involved.
@Suite struct EvacuationPlanTests {
    let api: XenAPI
    let t: Tables
    let hosts: [String]

    init() throws {
        let fixture = try DemoPoolFixture(hosts: 3, vms: 6)
        (api, t, hosts) = (fixture.api, fixture.t, fixture.hosts)
        let (tables, guests, host) = (t, fixture.guests(), hosts[1])
        try api.database.write { s throws(XapiError) in
            for vm in guests {
                try s.set(tables.vm, vm, .powerState, .string("Running"))
                try s.set(tables.vm, vm, .residentOn, .string(host))
                // Booted PV: the guest needs no advertised feature to be suspended or migrated.
                let metrics = try s.get(tables.vm, vm, .metrics).stringValue!
                try s.set(tables.vmMetrics, metrics, .currentDomainType, .string("pv"))
            }
        }
    }

    func plan(_ host: String) throws -> EvacuationPlan {
        let t = t
        return try api.database.read { s throws(XapiError) in try EvacuationPlan(host: host, in: s, t) }
    }

    @Test func everyVMGoesToTheOtherHostsSpreadByRoom() throws {
        let plan = try plan(hosts[1])
        #expect(plan.blockers.isEmpty)
        #expect(plan.moves.count == 6)
        let targets = Dictionary(grouping: plan.moves, by: \.host).mapValues(\.count)
        #expect(Set(targets.keys) == [hosts[0], hosts[2]])
        #expect(targets[hosts[0]] == 3 && targets[hosts[2]] == 3)
        #expect(try self.plan(hosts[0]).moves.isEmpty)
    }

    @Test func disabledTargetsLocalDisksAndMemoryBlock() throws {
        let t = t
        let vms = try plan(hosts[1]).moves.map(\.vm).sorted()
        // A disk on the evacuated host's local SR: VM_REQUIRES_SR.
        let local = try api.database.write { s throws(XapiError) -> String in
            let pbd = try s.get(t.host, hosts[1], .pbds).refList.first { (try? s.get(t.sr, (try? s.get(t.pbd, $0, .sr).stringValue) ?? "", .type).stringValue) == "ext" }!
            let sr = try s.get(t.pbd, pbd, .sr).stringValue!
            let vdi = try s.create(t.vdi.table, ["SR": .string(sr), "virtual_size": .int(1 << 30), "type": .string("user")])
            _ = try s.create(t.vbd.table, DemoPool.vbdFields(vm: vms[0], vdi: vdi, userdevice: "5", type: "Disk", mode: "RW", bootable: false))
            try s.set(t.vm, vms[1], .memoryDynamicMin, .int(1 << 50))
            return sr
        }
        let plan = try plan(hosts[1])
        let blocked = Dictionary(uniqueKeysWithValues: plan.blockers.map { ($0.vm, $0.error.errorDescription) })
        #expect(blocked[vms[0]] == ["VM_REQUIRES_SR", vms[0], local])
        #expect(blocked[vms[1]] == ["HOST_NOT_ENOUGH_FREE_MEMORY", vms[1]])
        #expect(plan.moves.count == 4)
        try api.database.write { s throws(XapiError) in
            for host in [hosts[0], hosts[2]] { try s.set(t.host, host, .enabled, .bool(false)) }
        }
        #expect(try self.plan(hosts[1]).blockers.allSatisfy { $0.error.errorDescription == ["NO_HOSTS_AVAILABLE", $0.vm] })
    }
}
