import Foundation
import Testing
@testable import XapiDB

@Suite struct DatabaseStateTests {
    let db = Database()
    var t: Tables { Tables(db) }

    @Test func everyWriteAdvancesTheGenerationAndStampsTheRow() throws {
        let t = self.t
        try db.write { s throws in
            let g0 = s.generation
            let vm = try s.make(t.vm, ["name_label": .string("a")])
            #expect(s.generation == g0 + 1)
            #expect(try s.row(t.vm, vm).created == g0 + 1)
            try s.set(t.vm, vm, "name_label", .string("b"))
            #expect(s.generation == g0 + 2)
            let row = try s.row(t.vm, vm)
            #expect(row.created == g0 + 1 && row.modified == g0 + 2)
            #expect(try s.get(t.vm, vm, "name_label") == .string("b"))
            #expect(try s.record(t.vm, vm).count == 90)
        }
    }

    @Test func reverseSetsFollowForwardRefs() throws {
        let t = self.t
        try db.write { s throws in
            let a = try s.make(t.vm)
            let b = try s.make(t.vm)
            let vbd = try s.make(t.vbd, ["VM": .string(a)])
            #expect(try s.get(t.vm, a, "VBDs") == .array([.string(vbd)]))
            let before = try s.row(t.vm, b).modified
            try s.set(t.vbd, vbd, "VM", .string(b))
            #expect(try s.get(t.vm, a, "VBDs") == .array([]))
            #expect(try s.get(t.vm, b, "VBDs") == .array([.string(vbd)]))
            #expect(try s.row(t.vm, b).modified > before)
            try s.delete(t.vbd, vbd)
            #expect(try s.get(t.vm, b, "VBDs") == .array([]))
            // Deleting a parent leaves its children's refs dangling, as in xapi.
            let vbd2 = try s.make(t.vbd, ["VM": .string(a)])
            try s.delete(t.vm, a)
            #expect(try s.get(t.vbd, vbd2, "VM") == .string(a))
        }
    }

    @Test func manyToManySetsStayInStep() throws {
        let host = db.table("host"), update = db.table("pool_update")
        try db.write { s throws in
            let h = try s.make(host)
            let u = try s.make(update)
            try s.set(host, h, "updates", .array([.string(u)]))
            #expect(try s.get(update, u, "hosts") == .array([.string(h)]))
            try s.set(host, h, "updates", .array([]))
            #expect(try s.get(update, u, "hosts") == .array([]))
        }
    }

    @Test func missingRowsAndUUIDsGiveXapiErrors() throws {
        let t = self.t
        try db.write { s throws in
            #expect(throws: XapiError.handleInvalid(class: "VM", ref: "OpaqueRef:nope")) { try s.row(t.vm, "OpaqueRef:nope") }
            #expect(throws: XapiError.uuidInvalid(class: "VM", uuid: "x")) { try s.ref(uuid: "x", in: t.vm) }
            let vm = try s.make(t.vm)
            let uuid = try s.get(t.vm, vm, "uuid").stringValue!
            #expect(try s.ref(uuid: uuid, in: t.vm) == vm)
            var fields = s.initialFields(t.vm)
            fields[s.schema(t.vm).uuidField!] = .string(uuid)
            #expect(throws: XapiError.uniquenessViolation(table: "VM", field: "uuid", value: uuid)) {
                try s.insert(t.vm, ref: Identifiers.ref(), fields: fields)
            }
        }
    }

    @Test func tombstonesAreTrimmedLikeXapi() throws {
        let t = self.t
        try db.write { s throws in
            for _ in 0..<(Table.tombstoneHighWater - 1) { try s.delete(t.vdi, try s.make(t.vdi)) }
            #expect(s.tables[t.vdi].tombstones.count == Table.tombstoneHighWater - 1)
            try s.delete(t.vdi, try s.make(t.vdi))
            #expect(s.tables[t.vdi].tombstones.count == Table.tombstoneLowWater)
        }
    }

    @Test func changeLogFindsOnlyWhatChangedAfterAGeneration() throws {
        let t = self.t
        try db.write { s throws in
            var vms: [String] = []
            for _ in 0..<1000 { vms.append(try s.make(t.vm)) }
            let mark = s.generation
            try s.set(t.vm, vms[10], "name_label", .string("x"))
            let live = s.changeLog.entries(after: mark).filter { s.isLive($0) }
            #expect(live.map(\.ref) == [vms[10]])
        }
    }

    @Test func whereExpressionsParseAndEvaluate() throws {
        let e = try WhereExpression(parsing: #"field "power_state" = "Halted" and not (field "name__label"="x") or false"#)
        let halted: [String: String] = ["power_state": "Halted", "name_label": "y"]
        #expect(try e.evaluate { halted[$0.replacingOccurrences(of: "__", with: "_")] })
        let named: [String: String] = ["power_state": "Halted", "name_label": "x"]
        #expect(try !e.evaluate { named[$0.replacingOccurrences(of: "__", with: "_")] })
        #expect(try WhereExpression(parsing: "true").evaluate { _ in nil })
        for bad in ["field", "field \"a\" =", "(true", "\"a\" \"b\"", "true and", "nonsense", "\"unterminated"] {
            #expect(throws: XapiError.self) { try WhereExpression(parsing: bad) }
        }
        #expect(Value.array([.string("a"), .string("b'c")]).databaseString == #"('a' 'b\'c')"#)
        #expect(Value.structure(["k": .string("v")]).databaseString == "(('k' 'v'))")
        #expect(Value.bool(true).databaseString == "true")
    }
}
