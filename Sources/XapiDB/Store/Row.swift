/// One object: its field values in datamodel order plus the generations `event.from` indexes.
public struct Row: Sendable {
    public internal(set) var fields: [Value]
    /// Generation at which the row was created.
    public internal(set) var created: Int64
    /// Generation of the row's latest change (creation included).
    public internal(set) var modified: Int64

    public init(fields: [Value], created: Int64, modified: Int64) {
        self.fields = fields
        self.created = created
        self.modified = modified
    }

    public subscript(field: Int) -> Value { fields[field] }
}
