/// What one flush writes: the current state of every persisted object changed since the last
/// flush (or its deletion), and the generation the batch makes durable.
public struct PersistenceBatch: Sendable {
    public struct Object: Sendable {
        public var className: String
        public var ref: String
        public var created: Int64
        public var modified: Int64
        /// The record by field name, so a later datamodel can add or drop fields.
        public var record: Structure
    }

    public var generation: Int64
    public var upserts: [Object] = []
    public var deletions: [String] = []

    public var isEmpty: Bool { upserts.isEmpty && deletions.isEmpty }
}

/// Durable storage of the database. The in-memory database is authoritative; a store only
/// receives batches and gives everything back at start.
public protocol PersistentStore: Sendable {
    /// Every stored object and the generation of the last batch saved.
    func load() async throws -> (objects: [PersistenceBatch.Object], generation: Int64)
    func save(_ batch: PersistenceBatch) async throws
}
