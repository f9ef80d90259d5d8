import Testing
@testable import Xapi
@testable import XapiDB

@Suite struct CopyTests {
    @Test func cloneCopiesDisksAndInterfacesWithFreshIdentities() async throws {
        let h = try await Harness()
        let vm = try await h.vms()[0]
        let clone = try await h.value("VM.clone", .string(vm), .string("the clone")).stringValue!
        let source = try await h.value("VM.get_record", .string(vm)).structureValue!
        let copy = try await h.value("VM.get_record", .string(clone)).structureValue!
        #expect(copy["name_label"] == .string("the clone"))
        #expect(copy["uuid"] != source["uuid"])
        #expect(copy["is_a_template"] == .bool(false))
        #expect(copy["parent"] == .string(vm))
        #expect(copy["VBDs"]?.arrayValue?.count == 2 && copy["VIFs"]?.arrayValue?.count == 1)
        #expect(copy["current_operations"] == .emptyStructure)
        #expect(source["current_operations"] == .emptyStructure)
        let sourceDisk = try await h.value("VBD.get_VDI", source["VBDs"]!.arrayValue![0])
        let copyDisks = try await copy["VBDs"]!.arrayValue!.asyncMap { try await h.value("VBD.get_VDI", $0) }
        #expect(!copyDisks.contains(sourceDisk))
        let sourceMAC = try await h.value("VIF.get_MAC", source["VIFs"]!.arrayValue![0])
        #expect(try await h.value("VIF.get_MAC", copy["VIFs"]!.arrayValue![0]) != sourceMAC)
    }

    @Test func templatesCloneIntoTemplatesAndProvisionMakesDisks() async throws {
        let h = try await Harness()
        let template = try await h.value("VM.get_by_name_label", .string("Debian Bookworm 12")).arrayValue![0]
        let clone = try await h.value("VM.clone", template, .string("installed")).stringValue!
        #expect(try await h.value("VM.get_is_a_template", .string(clone)) == .bool(true))
        #expect(try await h.value("VM.get_is_default_template", .string(clone)) == .bool(false))
        _ = try await h.value("VM.provision", .string(clone))
        #expect(try await h.value("VM.get_is_a_template", .string(clone)) == .bool(false))
        let vbds = try await h.value("VM.get_VBDs", .string(clone)).arrayValue!
        #expect(vbds.count == 1)
        let vdi = try await h.value("VBD.get_VDI", vbds[0])
        #expect(try await h.value("VDI.get_virtual_size", vdi) == .int(10_737_418_240))
        #expect(try await h.value("VM.get_other_config", .string(clone)).structureValue?["disks"] == nil)
        #expect(try await h.value("VM.get_allowed_operations", .string(clone)).arrayValue?.contains(.string("start")) == true)
        #expect(await h.error("VM.provision", .string(clone)) == ["PROVISION_ONLY_ALLOWED_ON_TEMPLATE"])
    }

    @Test func snapshotsAreTemplatesOfTheirSource() async throws {
        let h = try await Harness()
        let vm = try await h.vms()[0]
        let snapshot = try await h.value("VM.snapshot", .string(vm), .string("snap")).stringValue!
        let record = try await h.value("VM.get_record", .string(snapshot)).structureValue!
        #expect(record["is_a_snapshot"] == .bool(true) && record["is_a_template"] == .bool(true))
        #expect(record["snapshot_of"] == .string(vm))
        #expect(try await h.value("VM.get_snapshots", .string(vm)) == .array([.string(snapshot)]))
        #expect(await h.error("VM.set_name_label", .string(snapshot), .string("renamed")) == nil)
        let disk = try await h.value("VBD.get_VDI", record["VBDs"]!.arrayValue![0])
        #expect(try await h.value("VDI.get_is_a_snapshot", disk) == .bool(true))
    }

    @Test func copyPutsDisksOnTheTargetSRAndVDIsAccountForSpace() async throws {
        let h = try await Harness()
        let vm = try await h.vms()[0]
        let sr = try await h.value("SR.get_by_name_label", .string("Local storage")).arrayValue![0]
        let before = try await h.value("SR.get_virtual_allocation", sr).intValue!
        let copy = try await h.value("VM.copy", .string(vm), .string("copied"), sr).stringValue!
        #expect(try await h.value("SR.get_virtual_allocation", sr).intValue! == before + 10_737_418_240)
        #expect(try await h.value("VM.get_VBDs", .string(copy)).arrayValue?.count == 2)
        let vdi = try await h.value("VDI.create", .structure([
            "SR": sr, "virtual_size": .string("1024"), "type": .string("user"), "sharable": .bool(false),
            "read_only": .bool(false), "other_config": .structure([:]), "name_label": .string("scratch"),
        ]))
        #expect(try await h.value("SR.get_VDIs", sr).arrayValue?.contains(vdi) == true)
        _ = try await h.value("VDI.destroy", vdi)
        #expect(await h.error("VDI.get_record", vdi) == ["HANDLE_INVALID", "VDI", vdi.stringValue!])
        #expect(await h.error("VDI.create", .structure(["SR": .string("OpaqueRef:none"), "virtual_size": .int(1), "type": .string("user"),
                                                        "sharable": .bool(false), "read_only": .bool(false), "other_config": .structure([:])]))
                == ["HANDLE_INVALID", "SR", "OpaqueRef:none"])
    }

    @Test func provisionSpecParses() throws {
        let disks = try ProvisionSpec.parse(#"<provision><disk device="0" size="10737418240" sr="" bootable="true" type="system"/><disk device='1' size="5" sr="abc" bootable="false" type="user"/></provision>"#)
        #expect(disks == [.init(device: "0", size: 10_737_418_240, sr: "", bootable: true, type: "system"),
                          .init(device: "1", size: 5, sr: "abc", bootable: false, type: "user")])
        #expect(throws: XapiError.self) { try ProvisionSpec.parse(#"<provision><disk device="0"/></provision>"#) }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
