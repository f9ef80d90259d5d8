import Testing
@testable import Xapi
@testable import XapiDB

/// The fields logic names resolve against the datamodel once, at start; a misspelling is refused
/// there, before any call.
@Suite struct FieldNameTests {
    enum MisspeltVMField: String, FieldName {
        static let className = "VM"
        case powerState = "power_stat"
    }

    enum NoSuchClassField: String, FieldName {
        static let className = "vm"
        case uuid
    }

    @Test func everyNamedFieldOfTheServerResolves() throws {
        let tables = try Tables(model: .xapi)
        let vm = try #require(Datamodel.xapi.class(named: "VM"))
        #expect(tables.vm.table == vm.index)
        #expect(tables.vm[.powerState] == vm.fieldIndex["power_state"])
        #expect(tables.vbd[.vdi] == Datamodel.xapi.class(named: "VBD")?.fieldIndex["VDI"])
    }

    @Test func aMisspeltFieldOrClassIsRefused() {
        #expect(throws: FieldResolutionError.noField(className: "VM", field: "power_stat")) {
            try TableFields<MisspeltVMField>(.xapi)
        }
        #expect(throws: FieldResolutionError.noClass("vm")) { try TableFields<NoSuchClassField>(.xapi) }
    }
}
