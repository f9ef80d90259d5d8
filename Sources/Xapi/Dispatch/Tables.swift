public import XapiDB

/// Table indices of the classes the XenAPI logic works with, resolved once.
public struct Tables: Sendable {
    public let pool: TableFields<PoolField>
    public let host: TableFields<HostField>
    public let vm: TableFields<VMField>
    public let vmMetrics: TableFields<VMMetricsField>
    public let vmGuestMetrics: TableFields<VMGuestMetricsField>
    public let vbd: TableFields<VBDField>
    public let vif: TableFields<VIFField>
    public let vdi: TableFields<VDIField>
    public let sr: TableFields<SRField>
    public let network: TableFields<NetworkField>
    public let task: TableFields<TaskField>
    public let session: TableFields<SessionField>
    public let console: TableFields<ConsoleField>
    public let vgpu: TableFields<VGPUField>
    public let gpuGroup: TableFields<GPUGroupField>
    public let pbd: TableFields<PBDField>
    public let message: TableFields<MessageField>
    public let vmss: TableFields<VMSSField>
    public let pvsCacheStorage: TableFields<PVSCacheStorageField>
    public let pvsProxy: TableFields<PVSProxyField>
    public let hostMetrics: TableFields<HostMetricsField>
    public let pif: TableFields<PIFField>
    public let sm: TableFields<SMField>
    public let bond: TableFields<BondField>
    public let vlan: TableFields<VLANField>
    /// Classes whose fields logic does not name.
    public let hostCPU, pifMetrics, pci, pgpu: Int

    /// Stops the server at start if a field logic names is not in the datamodel.
    init(_ db: Database) {
        do {
            try self.init(model: db.model)
        } catch {
            preconditionFailure("the named fields do not match the datamodel: \(error)")
        }
    }

    init(model: Datamodel) throws(FieldResolutionError) {
        pool = try TableFields(model); host = try TableFields(model); vm = try TableFields(model)
        vmMetrics = try TableFields(model); vmGuestMetrics = try TableFields(model); vbd = try TableFields(model)
        vif = try TableFields(model); vdi = try TableFields(model); sr = try TableFields(model)
        network = try TableFields(model); task = try TableFields(model); session = try TableFields(model)
        console = try TableFields(model); vgpu = try TableFields(model); gpuGroup = try TableFields(model)
        pbd = try TableFields(model); message = try TableFields(model); vmss = try TableFields(model)
        pvsCacheStorage = try TableFields(model); pvsProxy = try TableFields(model); hostMetrics = try TableFields(model)
        pif = try TableFields(model); sm = try TableFields(model); bond = try TableFields(model)
        vlan = try TableFields(model)
        let table = { (name: String) throws(FieldResolutionError) -> Int in
            guard let schema = model.class(named: name) else { throw .noClass(name) }
            return schema.index
        }
        hostCPU = try table("host_cpu")
        pifMetrics = try table("PIF_metrics"); pci = try table("PCI"); pgpu = try table("PGPU")
    }
}

/// Named-field access, and the table operations, on a class's `TableFields`.
extension DatabaseState {
    public func get<Name>(_ table: TableFields<Name>, _ ref: String, _ field: Name) throws(XapiError) -> Value {
        try value(table.table, ref, table[field])
    }

    public mutating func set<Name>(_ table: TableFields<Name>, _ ref: String, _ field: Name, _ value: Value) throws(XapiError) {
        try set(table.table, ref, field: table[field], to: value)
    }

    /// Writes only if the value differs, so unchanged fields produce no event.
    public mutating func update<Name>(_ table: TableFields<Name>, _ ref: String, _ field: Name, _ value: Value) throws(XapiError) {
        let column = table[field]
        if try self.value(table.table, ref, column) != value {
            try set(table.table, ref, field: column, to: value)
        }
    }

    public func contains<Name>(_ table: TableFields<Name>, _ ref: String) -> Bool { contains(table.table, ref) }
    public func row<Name>(_ table: TableFields<Name>, _ ref: String) throws(XapiError) -> Row { try row(table.table, ref) }
    public func refs<Name>(_ table: TableFields<Name>) -> [String] { refs(table.table) }
    public func rows<Name>(_ table: TableFields<Name>) -> [String: Row] { rows(table.table) }
    public func count<Name>(_ table: TableFields<Name>) -> Int { count(table.table) }
    public func ref<Name>(uuid: String, in table: TableFields<Name>) throws(XapiError) -> String { try ref(uuid: uuid, in: table.table) }
    public func schema<Name>(_ table: TableFields<Name>) -> ClassSchema { schema(table.table) }
    public func initialFields<Name>(_ table: TableFields<Name>) -> [Value] { initialFields(table.table) }
    public mutating func insert<Name>(_ table: TableFields<Name>, ref: String, fields: [Value]) throws(XapiError) {
        try insert(table.table, ref: ref, fields: fields)
    }
    public mutating func delete<Name>(_ table: TableFields<Name>, _ ref: String) throws(XapiError) { try delete(table.table, ref) }

    /// A new row with defaults, a fresh uuid and the given fields; returns its ref.
    @discardableResult
    public mutating func create<Name>(_ table: TableFields<Name>, _ values: [Name: Value],
                                      ref: String = Identifiers.ref()) throws(XapiError) -> String {
        try create(table.table, values.map { (table[$0.key], $0.value) }, ref: ref)
    }

    /// The column of a field named at run time (a record's keys); the datamodel must have it.
    public func fieldIndex(_ table: Int, _ field: String) -> Int {
        guard let index = model.classes[table].fieldIndex[field] else {
            preconditionFailure("\(model.classes[table].name) has no field \(field)")
        }
        return index
    }

    /// A new row from a record given as data (the demo pool's): the datamodel must have every key.
    @discardableResult
    public mutating func create(_ table: Int, _ values: [String: Value], ref: String = Identifiers.ref()) throws(XapiError) -> String {
        try create(table, values.map { (fieldIndex(table, $0.key), $0.value) }, ref: ref)
    }

    /// Defaults, a fresh uuid, then `columns`, inserted under `ref`: what both forms share.
    private mutating func create(_ table: Int, _ columns: [(Int, Value)], ref: String) throws(XapiError) -> String {
        var fields = initialFields(table)
        if let u = model.classes[table].uuidField { fields[u] = .string(Identifiers.uuid()) }
        for (column, value) in columns { fields[column] = value }
        try insert(table, ref: ref, fields: fields)
        return ref
    }
}
