import Testing
@testable import Xapi
@testable import XapiDB

/// Each generated destroy does what xapi's destroy function does: refusals leave the database as
/// it was, cascades leave no row naming a row that is gone.
@Suite struct DestroyTests {
    private func record(_ h: Harness, _ cls: String, _ ref: String) async throws -> Structure {
        try await h.value("\(cls).get_record", .string(ref)).structureValue!
    }

    private func byName(_ h: Harness, _ cls: String, _ name: String) async throws -> String {
        try #require(try await h.value("\(cls).get_by_name_label", .string(name)).arrayValue?.first?.stringValue)
    }

    private func set(_ h: Harness, _ table: Int, _ ref: String, _ field: String, _ value: Value) throws {
        try h.api.database.write { s throws(XapiError) in try s.set(table, ref, field: s.fieldIndex(table, field), to: value) }
    }

    /// Everything the database holds, for "a refused call changes nothing".
    private func everything(_ h: Harness) -> [String: [String: Structure]] {
        h.api.database.read { s in
            var all: [String: [String: Structure]] = [:]
            for schema in s.model.tables where schema.name != "session" && schema.name != "task" {
                all[schema.name] = s.rows(schema.index).mapValues { s.record(of: $0, table: schema.index) }
            }
            return all
        }
    }

    @Test func theDemoPoolHasNoDanglingReference() async throws {
        let h = try await Harness()
        #expect(h.api.referenceFaults().map(\.description) == [])
    }

    @Test func aNetworkWithAPIFOrAConnectedVIFStays() async throws {
        let h = try await Harness()
        let network = try await byName(h, "network", "Pool-wide network associated with eth0")
        let vif = try #require(try await record(h, "network", network)["VIFs"]?.arrayValue?.first?.stringValue)
        try set(h, h.api.tables.vif.table, vif, "currently_attached", .bool(true))
        let before = everything(h)
        #expect(await h.error("network.destroy", .string(network)) == ["NETWORK_CONTAINS_VIF", vif])
        try set(h, h.api.tables.vif.table, vif, "currently_attached", .bool(false))
        let pifs = try #require(try await record(h, "network", network)["PIFs"]?.arrayValue?.compactMap(\.stringValue))
        #expect(await h.error("network.destroy", .string(network)) == ["NETWORK_CONTAINS_PIF"] + pifs)
        let after = everything(h)
        #expect(after["network"] == before["network"] && after["VIF"]?.keys == before["VIF"]?.keys)

        let system = try await byName(h, "network", "Host internal management network")
        #expect(await h.error("network.destroy", .string(system)) == ["CANNOT_DESTROY_SYSTEM_NETWORK", system])
        #expect(h.api.referenceFaults().isEmpty)
    }

    @Test func aNetworkWithoutPIFsGoesWithItsUnpluggedVIFs() async throws {
        let h = try await Harness()
        let network = try await h.value("network.create", .structure([
            "name_label": .string("lab"), "name_description": .string(""), "bridge": .string("xenbr9"), "MTU": .int(1500),
            "other_config": .structure(Structure()),
        ])).stringValue!
        let vm = try await h.vms()[0]
        let vif = try await h.value("VIF.create", .structure([
            "device": .string("1"), "network": .string(network), "VM": .string(vm), "MAC": .string(""), "MTU": .int(1500),
            "other_config": .structure(Structure()), "qos_algorithm_type": .string(""), "qos_algorithm_params": .structure(Structure()),
        ])).stringValue!
        _ = try await h.value("network.destroy", .string(network))
        #expect(await h.error("VIF.get_record", .string(vif)) == ["HANDLE_INVALID", "VIF", vif])
        #expect(!(try await record(h, "VM", vm)["VIFs"]!.arrayValue!.contains(.string(vif))))
        #expect(h.api.referenceFaults().map(\.description) == [])
    }

    @Test func anAttachedVBDOrPlugggedPBDIsRefused() async throws {
        let h = try await Harness()
        let vm = try await h.vms()[0]
        let vmRecord = try await record(h, "VM", vm)
        let vbd = try #require(vmRecord["VBDs"]?.arrayValue?.first?.stringValue)
        try set(h, h.api.tables.vbd.table, vbd, "currently_attached", .bool(true))
        let vbdUUID = try await record(h, "VBD", vbd)["uuid"]!.stringValue!
        #expect(await h.error("VBD.destroy", .string(vbd))
            == ["OPERATION_NOT_ALLOWED", "VBD '\(vbdUUID)' still attached to '\(vmRecord["uuid"]!.stringValue!)'"])

        let pbd = try #require(try await h.value("PBD.get_all").arrayValue?.first?.stringValue)
        let before = everything(h)
        #expect(await h.error("PBD.destroy", .string(pbd)) == ["OPERATION_NOT_ALLOWED", "PBD is currently attached"])
        #expect(everything(h) == before)
    }

    @Test func aVIFOfARunningVMIsRefusedAndOfAHaltedOneGoes() async throws {
        let h = try await Harness()
        let vm = try await h.vms()[0]
        let vif = try #require(try await record(h, "VM", vm)["VIFs"]?.arrayValue?.first?.stringValue)
        try set(h, h.api.tables.vif.table, vif, "currently_attached", .bool(true))
        try set(h, h.api.tables.vm.table, vm, "domid", .int(7))
        #expect(await h.error("VIF.destroy", .string(vif)) == ["OPERATION_NOT_ALLOWED", "VIF currently attached to a running VM"])
        try set(h, h.api.tables.vm.table, vm, "domid", .int(-1))
        _ = try await h.value("VIF.destroy", .string(vif))
        #expect(h.api.referenceFaults().isEmpty)
    }

    @Test func aDestroyedVMTakesItsDevicesAndMetricsAndRebasesItsClones() async throws {
        let h = try await Harness()
        let vm = try await h.vms()[0]
        let clone = try await h.value("VM.clone", .string(vm), .string("child")).stringValue!
        let grandchild = try await h.value("VM.clone", .string(clone), .string("grandchild")).stringValue!
        #expect(try await record(h, "VM", grandchild)["parent"] == .string(clone))
        let doomed = try await record(h, "VM", clone)
        let vdis = try await doomed["VBDs"]!.arrayValue!.asyncMap { vbd in try await h.value("VBD.get_VDI", vbd) }
        _ = try await h.value("VM.destroy", .string(clone))
        #expect(try await record(h, "VM", grandchild)["parent"] == .string(vm))
        for vbd in doomed["VBDs"]!.arrayValue! { #expect(await h.error("VBD.get_record", vbd)?.first == "HANDLE_INVALID") }
        for vif in doomed["VIFs"]!.arrayValue! { #expect(await h.error("VIF.get_record", vif)?.first == "HANDLE_INVALID") }
        #expect(await h.error("VM_metrics.get_record", doomed["metrics"]!)?.first == "HANDLE_INVALID")
        for vdi in vdis where vdi != .string(nullRef) { #expect(await h.error("VDI.get_record", vdi) == nil) }
        #expect(h.api.referenceFaults().map(\.description) == [])
    }

    @Test func aVDITakesItsVBDsAndLeavesTheSuspendImageOfNoVM() async throws {
        let h = try await Harness()
        let vm = try await h.vms()[0]
        let vbd = try #require(try await record(h, "VM", vm)["VBDs"]?.arrayValue?.compactMap(\.stringValue).first { _ in true })
        var vdi = try await h.value("VBD.get_VDI", .string(vbd)).stringValue!
        if vdi == nullRef {
            vdi = try await h.value("VBD.get_VDI", try await record(h, "VM", vm)["VBDs"]!.arrayValue![1]).stringValue!
        }
        try set(h, h.api.tables.vm.table, vm, "suspend_VDI", .string(vdi))
        _ = try await h.value("VDI.destroy", .string(vdi))
        #expect(try await record(h, "VM", vm)["suspend_VDI"] == .string(nullRef))
        #expect(h.api.referenceFaults().map(\.description) == [])
    }

    @Test func consolesAreTheDomainsNotTheAPIs() async throws {
        let h = try await Harness()
        #expect(await h.error("console.create", .structure(["other_config": .structure(Structure())])) == ["NOT_IMPLEMENTED", "Console.create"])
        #expect(await h.error("console.destroy", .string("OpaqueRef:x")) == ["NOT_IMPLEMENTED", "Console.destroy"])
    }

    @Test func aScheduleWithVMsStays() async throws {
        let h = try await Harness()
        let vmss = try await h.value("VMSS.create", .structure(["name_label": .string("nightly"), "type": .string("snapshot"),
                                                                 "frequency": .string("daily")])).stringValue!
        let vm = try await h.vms()[0]
        _ = try await h.value("VM.set_snapshot_schedule", .string(vm), .string(vmss))
        #expect(await h.error("VMSS.destroy", .string(vmss)) == ["VMSS_HAS_VM"])
        _ = try await h.value("VM.set_snapshot_schedule", .string(vm), .string(nullRef))
        _ = try await h.value("VMSS.destroy", .string(vmss))
        #expect(h.api.referenceFaults().isEmpty)
    }

    /// Creates and setters refuse a ref to a row that does not exist, naming its class, so no
    /// write stores a dangling reference either.
    @Test func writesRefuseRefsToRowsThatDoNotExist() async throws {
        let h = try await Harness()
        let vm = try await h.vms()[0]
        let gone = "OpaqueRef:00000000-0000-0000-0000-000000000000"
        #expect(await h.error("VM.set_affinity", .string(vm), .string(gone)) == ["HANDLE_INVALID", "host", gone])
        #expect(await h.error("VM.set_suspend_SR", .string(vm), .string(gone)) == ["HANDLE_INVALID", "SR", gone])
        _ = try await h.value("VM.set_affinity", .string(vm), .string(h.api.localHost()))
        _ = try await h.value("VM.set_affinity", .string(vm), .string(nullRef))
        #expect(await h.error("VBD.create", .structure([
            "VM": .string(gone), "VDI": .string(nullRef), "userdevice": .string("5"), "bootable": .bool(false), "mode": .string("RO"),
            "type": .string("CD"), "unpluggable": .bool(true), "empty": .bool(true), "other_config": .structure(Structure()),
            "qos_algorithm_type": .string(""), "qos_algorithm_params": .structure(Structure()),
        ])) == ["HANDLE_INVALID", "VM", gone])
        #expect(await h.error("VM.set_affinity", .string(gone), .string(gone)) == ["HANDLE_INVALID", "VM", gone])
        #expect(h.api.referenceFaults().isEmpty)
    }

    /// xapi gives every generated constructor and destructor an `Async.` form
    /// (ocaml/idl/datamodel_utils.ml): the task carries the new ref, or the destroy's error.
    @Test func generatedCreatesAndDestroysHaveAsyncForms() async throws {
        let h = try await Harness()
        let task = try await h.value("Async.network.create", .structure([
            "name_label": .string("async"), "name_description": .string(""), "MTU": .int(1500), "other_config": .structure(Structure()),
        ])).stringValue!
        let network = try await finished(h, task)
        #expect(network.hasPrefix("<value>OpaqueRef:"))
        let ref = String(network.dropFirst("<value>".count).dropLast("</value>".count))
        #expect(try await h.value("network.get_name_label", .string(ref)) == .string("async"))
        let pifNetwork = try await h.value("PIF.get_network", try await h.value("PIF.get_all").arrayValue![0]).stringValue!
        let refused = try await h.value("Async.network.destroy", .string(pifNetwork)).stringValue!
        _ = try await finished(h, refused)
        #expect(try await h.value("task.get_error_info", .string(refused)).arrayValue?.first == .string("NETWORK_CONTAINS_PIF"))
        _ = try await finished(h, try await h.value("Async.network.destroy", .string(ref)).stringValue!)
        #expect(await h.error("network.get_record", .string(ref))?.first == "HANDLE_INVALID")
    }

    /// The task's result once it is no longer pending, waited for with `event.from` on the task.
    private func finished(_ h: Harness, _ task: String) async throws -> String {
        var token = ""
        while try await h.value("task.get_status", .string(task)) == .string("pending") {
            token = try await h.value("event.from", .array([.string("task/\(task)")]), .string(token), .double(10))
                .structureValue!["token"]!.stringValue!
        }
        return try await h.value("task.get_result", .string(task)).stringValue ?? ""
    }

    /// Every class with a generated destroy has xapi's destroy: a declared handler, the plain
    /// row delete where that is all xapi does, or MESSAGE_REMOVED for a removed class.
    @Test func everyGeneratedDestroyIsAccountedFor() throws {
        let registry = try HandlerRegistry(HandlerRegistry.tables, model: .xapi)
        for schema in Datamodel.xapi.classes {
            guard let destroy = schema.message("destroy"), destroy.isImplicit, destroy.lifecycle != .removed else { continue }
            let declared = registry.handlers["\(schema.name).destroy"] != nil
            let rowOnly = ObjectAPI.rowOnlyDestroys.contains(schema.name)
            #expect(declared != rowOnly, "\(schema.name).destroy")
        }
    }
}
