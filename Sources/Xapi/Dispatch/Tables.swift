public import XapiDB

/// Table indices of the classes the XenAPI logic works with, resolved once.
public struct Tables: Sendable {
    public let pool, host, hostMetrics, hostCPU, vm, vmMetrics, vmGuestMetrics, vbd, vif, vdi, sr, pbd,
               network, pif, pifMetrics, task, session, message, console, pci, vgpu: Int

    init(_ db: Database) {
        pool = db.table("pool"); host = db.table("host"); hostMetrics = db.table("host_metrics")
        hostCPU = db.table("host_cpu"); vm = db.table("VM"); vmMetrics = db.table("VM_metrics")
        vmGuestMetrics = db.table("VM_guest_metrics"); vbd = db.table("VBD"); vif = db.table("VIF")
        vdi = db.table("VDI"); sr = db.table("SR"); pbd = db.table("PBD"); network = db.table("network")
        pif = db.table("PIF"); pifMetrics = db.table("PIF_metrics"); task = db.table("task")
        session = db.table("session"); message = db.table("message"); console = db.table("console")
        pci = db.table("PCI"); vgpu = db.table("VGPU")
    }
}

extension DatabaseState {
    /// Field access by name for the handful of fields logic code names explicitly.
    public func get(_ table: Int, _ ref: String, _ field: String) throws(XapiError) -> Value {
        try value(table, ref, fieldIndex(table, field))
    }

    public mutating func set(_ table: Int, _ ref: String, _ field: String, _ value: Value) throws(XapiError) {
        try set(table, ref, field: fieldIndex(table, field), to: value)
    }

    /// Writes only if the value differs, so unchanged fields produce no event.
    public mutating func update(_ table: Int, _ ref: String, _ field: String, _ value: Value) throws(XapiError) {
        let index = fieldIndex(table, field)
        if try self.value(table, ref, index) != value {
            try set(table, ref, field: index, to: value)
        }
    }

    public func fieldIndex(_ table: Int, _ field: String) -> Int {
        guard let index = model.classes[table].fieldIndex[field] else {
            preconditionFailure("\(model.classes[table].name) has no field \(field)")
        }
        return index
    }

    /// A new row with defaults, a fresh uuid and the given fields; returns its ref.
    @discardableResult
    public mutating func create(_ table: Int, _ values: [String: Value], ref: String = Identifiers.ref()) throws(XapiError) -> String {
        var fields = initialFields(table)
        let schema = model.classes[table]
        if let u = schema.uuidField { fields[u] = .string(Identifiers.uuid()) }
        for (name, value) in values { fields[fieldIndex(table, name)] = value }
        try insert(table, ref: ref, fields: fields)
        return ref
    }
}
