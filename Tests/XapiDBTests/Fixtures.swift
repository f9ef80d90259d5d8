@testable import XapiDB

/// Small helpers to build rows without the Xapi layer.
extension DatabaseState {
    mutating func make(_ table: Int, _ values: [String: Value] = [:]) throws -> String {
        let ref = Identifiers.ref()
        var fields = initialFields(table)
        let schema = model.classes[table]
        if let u = schema.uuidField { fields[u] = .string(Identifiers.uuid()) }
        for (name, value) in values { fields[schema.fieldIndex[name]!] = value }
        try insert(table, ref: ref, fields: fields)
        return ref
    }

    mutating func set(_ table: Int, _ ref: String, _ field: String, _ value: Value) throws {
        try set(table, ref, field: model.classes[table].fieldIndex[field]!, to: value)
    }

    func get(_ table: Int, _ ref: String, _ field: String) throws -> Value {
        try value(table, ref, model.classes[table].fieldIndex[field]!)
    }
}

struct Tables {
    let vm: Int, vbd: Int, vdi: Int, sr: Int, session: Int, message: Int, pool: Int, task: Int

    init(_ db: Database) {
        vm = db.table("VM"); vbd = db.table("VBD"); vdi = db.table("VDI"); sr = db.table("SR")
        session = db.table("session"); message = db.table("message"); pool = db.table("pool"); task = db.table("task")
    }
}
