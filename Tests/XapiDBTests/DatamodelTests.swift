import Testing
@testable import XapiDB

@Suite struct DatamodelTests {
    let model = Datamodel.xapi

    @Test func loadsEveryClassOfTheFacts() throws {
        #expect(model.classes.count == 67)
        let vm = try #require(model.class(named: "VM"))
        #expect(vm.fields.count == 90)
        #expect(vm.isTable && vm.generatesEvents && vm.isPersisted)
        #expect(model.class(lowercased: "vm_METRICS")?.name == "VM_metrics")
        #expect(model.class(named: "event")?.isTable == false)
        #expect(model.class(named: "session")?.generatesEvents == false)
        #expect(model.class(named: "task")?.isPersisted == false)
    }

    @Test func keepsEachMessagesRoles() throws {
        #expect(model.roleNames == ["pool-admin", "pool-operator", "vm-power-admin", "vm-admin", "vm-operator", "client-cert", "read-only"])
        let vm = try #require(model.class(named: "VM"))
        #expect(vm.message("start")?.roles == ["pool-admin", "pool-operator", "vm-power-admin", "vm-admin", "vm-operator"])
        #expect(vm.message("get_record")?.roles.contains("read-only") == true)
        #expect(vm.message("destroy")?.roles.contains("vm-operator") == false)
    }

    @Test func parsesTypesQualifiersAndDefaults() throws {
        let vm = try #require(model.class(named: "VM"))
        #expect(vm.field("power_state")?.type == .enumeration("vm_power_state"))
        #expect(vm.field("power_state")?.defaultValue == .string("Halted"))
        #expect(vm.field("current_operations")?.type == .map(.string, .enumeration("vm_operations")))
        #expect(vm.field("VBDs")?.type == .set(.ref("VBD")))
        #expect(vm.field("HVM_shadow_multiplier")?.defaultValue == .double(1))
        #expect(vm.field("memory_static_max")?.qualifier == .constructor)
        #expect(vm.field("memory_static_max")?.defaultValue == nil)
        #expect(vm.field("snapshot_time")?.defaultValue == .dateTime(.epoch))
        let host = try #require(model.class(named: "host"))
        #expect(host.field("license_server")?.defaultValue == .structure(["address": .string("localhost"), "port": .string("27000")]))
        #expect(host.field("virtual_hardware_platform_versions")?.defaultValue == .array([.int(0)]))
        #expect(model.class(named: "task")?.field("backtrace")?.defaultValue == .string("()"))
    }

    @Test func resolvesRelationsBothWays() throws {
        let vm = try #require(model.class(named: "VM"))
        let vbd = try #require(model.class(named: "VBD"))
        #expect(vbd.field("VM")?.relation == .forwardRef(parentClass: vm.index, parentField: vm.fieldIndex["VBDs"]!))
        #expect(vm.field("VBDs")?.relation == .reverseSet(childClass: vbd.index, childField: vbd.fieldIndex["VM"]!))
        let host = try #require(model.class(named: "host"))
        #expect(vm.field("resident_on")?.relation == .forwardRef(parentClass: host.index, parentField: host.fieldIndex["resident_VMs"]!))
        // PCI.attached_VMs is internal to xapi, so that relation is skipped.
        #expect(model.class(named: "PCI")?.field("attached_VMs") == nil)
        #expect(vm.field("attached_PCIs")?.relation == nil)
        let update = try #require(model.class(named: "pool_update"))
        #expect(host.field("updates")?.relation == .manyToMany(otherClass: update.index, otherField: update.fieldIndex["hosts"]!))
    }

    @Test func constructorInputsMatchTheReference() throws {
        // Reference §5.2: required keys of VBD.create are the RW/RC fields without default.
        let vbd = try #require(model.class(named: "VBD"))
        let required = vbd.fields.filter { $0.isConstructorInput && $0.defaultValue == nil }.map(\.name)
        #expect(Set(required) == ["VM", "VDI", "userdevice", "bootable", "mode", "type", "empty", "other_config",
                                  "qos_algorithm_type", "qos_algorithm_params"])
    }

    @Test func messagesCarrySignaturesAndDefaults() throws {
        let session = try #require(model.class(named: "session"))
        let login = try #require(session.message("login_with_password"))
        #expect(!login.takesSession)
        #expect(login.parameters.map(\.name) == ["uname", "pwd", "version", "originator"])
        #expect(login.parameters[2].defaultValue == .string("1.1"))
        let start = try #require(model.class(named: "VM")?.message("start"))
        #expect(start.isAsync && !start.isImplicit && start.takesSession)
        #expect(start.callParameters.map(\.type) == [.ref("VM"), .bool, .bool])
        let from = try #require(model.class(named: "event")?.message("from"))
        #expect(from.result == .eventBatch)
    }

    @Test(arguments: ["(string -> enum vm_operations) map", "(VM ref -> (string -> string) map) map",
                      "string set set", "sr_stat record option", "(int -> string set) map"])
    func typeStringsRoundTrip(text: String) throws {
        #expect(try #require(FieldType(parsing: text)).description == text)
    }
}
