import Testing
@testable import Xapi
@testable import XapiDB

/// VM memory setters: xapi's constraint checks in xapi's order, after the power-state rules.
@Suite struct MemoryTests {
    let mib: Int64 = 1 << 20

    @Test func theFiveFiguresMustBeInOrder() {
        let valid = MemoryConstraints(staticMin: 1, dynamicMin: 2, target: 3, dynamicMax: 4, staticMax: 5)
        #expect(valid.areValid && !valid.arePinnedAtStaticMax)
        // xapi's own vectors (ocaml/tests/test_vm_memory_constraints.ml): invalid orders.
        for (a, b, c, d, e) in [(2, 1, 2, 3, 4), (4, 1, 2, 3, 4), (0, 4, 2, 3, 4), (0, 1, 2, 5, 4)] as [(Int64, Int64, Int64, Int64, Int64)] {
            #expect(!MemoryConstraints(staticMin: a, dynamicMin: b, target: c, dynamicMax: d, staticMax: e).areValid)
        }
        #expect(MemoryConstraints(staticMin: 1, dynamicMin: 2, target: 2, dynamicMax: 2, staticMax: 2).arePinnedAtStaticMax)
    }

    @Test func aControlDomainMustStayPinnedAndIsMarkedForReboot() async throws {
        let h = try await Harness()
        let dom0 = try #require(try await h.value("VM.get_all_records_where", .string(#"field "is_control_domain" = "true""#))
            .structureValue?.members.first?.key)
        #expect(await h.error("VM.set_memory_limits", .string(dom0), .int(512 * mib), .int(4096 * mib), .int(1024 * mib), .int(4096 * mib))
            == ["MEMORY_CONSTRAINT_VIOLATION_MAXPIN", "control domain"])
        _ = try await h.value("VM.set_memory_limits", .string(dom0), .int(512 * mib), .int(2048 * mib), .int(2048 * mib), .int(2048 * mib))
        #expect(try await h.value("VM.get_requires_reboot", .string(dom0)) == .bool(true))
    }

    @Test func nestedVirtualisationPinsTheRangeToo() async throws {
        let h = try await Harness()
        let vm = try await h.vms()[0]
        _ = try await h.value("VM.add_to_platform", .string(vm), .string("nested-virt"), .string("true"))
        #expect(await h.error("VM.set_memory_dynamic_range", .string(vm), .int(512 * mib), .int(1024 * mib))
            == ["MEMORY_CONSTRAINT_VIOLATION_MAXPIN", "nested virt"])
        _ = try await h.value("VM.set_memory_dynamic_range", .string(vm), .int(1024 * mib), .int(1024 * mib))
    }

    @Test func aRefusedSetterChangesNothing() async throws {
        let h = try await Harness()
        let vm = try await h.vms()[0]
        let before = try await h.value("VM.get_record", .string(vm))
        #expect(await h.error("VM.set_memory_static_max", .string(vm), .int(256 * mib)) == ["MEMORY_CONSTRAINT_VIOLATION_ORDER"])
        #expect(await h.error("VM.set_memory_dynamic_max", .string(vm), .int(4096 * mib)) == ["MEMORY_CONSTRAINT_VIOLATION_ORDER"])
        #expect(try await h.value("VM.get_record", .string(vm)) == before)
        _ = try await h.value("VM.set_memory_static_max", .string(vm), .int(2048 * mib))
        _ = try await h.value("VM.set_memory_dynamic_max", .string(vm), .int(2048 * mib))
        #expect(try await h.value("VM.get_memory_dynamic_max", .string(vm)) == .int(2048 * mib))
    }
}

/// Memory accounting as memory_check.ml does it.
@Suite struct MemoryAccountingTests {
    let mib: Int64 = 1 << 20

    /// xenopsd's HVM model for 1 GiB and one vCPU: 1 + 1 extra MiB, shadow ⌈(256 + 2 × 1024) / 256⌉
    /// = 9 MiB, ⌈38 / 256⌉ = 1 MiB for the vCPU's pages.
    @Test func overheadFollowsXenopsdsModel() async throws {
        #expect(MemoryModel.hvm.overheadMiB(staticMaxMiB: 1024, vcpus: 1, multiplier: 1) == 12)
        #expect(MemoryModel.linux.overheadMiB(staticMaxMiB: 1024, vcpus: 1, multiplier: 1) == 11)
        #expect(MemoryModel.pvInPVH.overheadMiB(staticMaxMiB: 900, vcpus: 2, multiplier: 1) == 1 + 1 + 10 + 1 + 33)
        #expect(MemoryModel.hvm.shadowMiB(staticMaxMiB: 1024, vcpus: 1, multiplier: 4) == 36)
        let h = try await Harness()
        let vm = try await h.vms()[0]
        #expect(try await h.value("VM.compute_memory_overhead", .string(vm)) == .int(12 * mib))
        #expect(try await h.value("VM.get_memory_overhead", .string(vm)) == .int(12 * mib))
        _ = try await h.value("VM.set_memory_limits", .string(vm), .int(512 * mib), .int(4096 * mib), .int(1024 * mib), .int(4096 * mib))
        #expect(try await h.value("VM.get_memory_overhead", .string(vm)) == .int((1 + 1 + 33 + 1) * mib))
    }

    @Test func freeMemoryCountsEveryResidentVMAtItsDynamicMin() async throws {
        let h = try await Harness()
        let host = h.api.localHost()
        let record = try await h.value("host.get_record", .string(host)).structureValue!
        let total = try await h.value("host_metrics.get_memory_total", record["metrics"]!).intValue!
        var expected = total - record["memory_overhead"]!.intValue!
        for vm in record["resident_VMs"]!.arrayValue! {
            expected -= try await h.value("VM.get_memory_dynamic_min", vm).intValue! + (try await h.value("VM.get_memory_overhead", vm).intValue!)
        }
        #expect(try await h.value("host.compute_free_memory", .string(host)) == .int(expected))
        #expect(try await h.value("host.compute_memory_overhead", .string(host)) == record["memory_overhead"])
        #expect(expected < total - 512 * mib)   // dom0 is resident and counted
    }
}

/// `assert_can_boot_here`'s checks beyond memory.
@Suite struct PlacementTests {
    @Test func theHostMustBeEnabledAndSeeTheVMsSRs() async throws {
        let h = try await Harness()
        let vm = try await h.vms()[0]
        let host = h.api.localHost()
        _ = try await h.value("VM.assert_can_boot_here", .string(vm), .string(host))
        let vdi = try await h.value("VBD.get_VDI", try await h.value("VM.get_VBDs", .string(vm)).arrayValue![0]).stringValue!
        let sr = try await h.value("VDI.get_SR", .string(vdi)).stringValue!
        let pbd = try #require(try await h.value("SR.get_PBDs", .string(sr)).arrayValue?.first?.stringValue)
        try h.api.database.write { s throws(XapiError) in try s.set(h.api.tables.pbd, pbd, .currentlyAttached, .bool(false)) }
        #expect(await h.error("VM.assert_can_boot_here", .string(vm), .string(host)) == ["VM_REQUIRES_SR", vm, sr])
        #expect(try await h.value("VM.get_possible_hosts", .string(vm)) == .array([]))
        try h.api.database.write { s throws(XapiError) in try s.set(h.api.tables.pbd, pbd, .currentlyAttached, .bool(true)) }
        try h.api.database.write { s throws(XapiError) in try s.set(h.api.tables.host, host, .enabled, .bool(false)) }
        #expect(await h.error("VM.assert_can_boot_here", .string(vm), .string(host)) == ["HOST_DISABLED", host])
    }
}
