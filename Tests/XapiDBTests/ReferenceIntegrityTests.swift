import Testing
@testable import XapiDB

@Suite struct ReferenceIntegrityTests {
    let db = Database()
    var t: Tables { Tables(db) }

    @Test func aConsistentDatabaseHasNoFaults() throws {
        let t = self.t
        try db.write { s throws in
            let vm = try s.make(t.vm)
            let vdi = try s.make(t.vdi)
            _ = try s.make(t.vbd, ["VM": .string(vm), "VDI": .string(vdi)])
            #expect(s.integrityFaults().isEmpty)
        }
    }

    @Test func danglingRefsAreFoundInRefsSetsAndMaps() throws {
        let t = self.t
        let host = db.table("host"), blob = db.table("blob"), update = db.table("pool_update")
        try db.write { s throws in
            let vm = try s.make(t.vm)
            let vbd = try s.make(t.vbd, ["VM": .string(vm)])
            try s.delete(t.vm, vm)
            #expect(s.integrityFaults() == [.dangling(FieldPath("VBD", "VM"), row: vbd, target: vm, targetClass: "VM")])

            // A set of refs, and the values of a (string -> blob ref) map.
            let h = try s.make(host)
            let u = try s.make(update)
            try s.set(host, h, "updates", .array([.string(u)]))
            let b = try s.make(blob)
            let owner = try s.make(t.vm, ["blobs": .structure(["notes": .string(b)])])
            try s.delete(update, u)
            try s.delete(blob, b)
            let faults = Set(s.integrityFaults())
            #expect(faults.contains(.dangling(FieldPath("host", "updates"), row: h, target: u, targetClass: "pool_update")) == false)
            #expect(faults.contains(.dangling(FieldPath("VM", "blobs"), row: owner, target: b, targetClass: "blob")))
            // OpaqueRef:NULL is nobody's fault; an allowed field is skipped.
            try s.set(t.vbd, vbd, "VM", .string(nullRef))
            let remaining = s.integrityFaults(allowingStale: [FieldPath("VM", "blobs")])
            #expect(remaining.isEmpty)
        }
    }

    /// The many-to-many partner set is kept in step by the database, so deleting one side
    /// leaves nothing behind; a set written around the relation is drift.
    @Test func derivedSetsThatDisagreeWithTheirSourceAreDrift() throws {
        let t = self.t
        try db.write { s throws in
            let vm = try s.make(t.vm)
            let vbd = try s.make(t.vbd, ["VM": .string(vm)])
            let column = s.model.classes[t.vm].fieldIndex["VBDs"]!
            s.tables[t.vm].rows[vm]!.fields[column] = .array([])
            #expect(s.integrityFaults() == [.drift(FieldPath("VM", "VBDs"), row: vm, missing: [vbd], extra: [])])
        }
    }
}
