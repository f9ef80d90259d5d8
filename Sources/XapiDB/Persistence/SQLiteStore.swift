import Foundation
import GRDB

/// The state directory's SQLite database (GRDB on the system SQLite). WAL with
/// `synchronous=NORMAL`: a commit is in the OS before `save` returns, so it survives `kill -9`
/// of the server (only power loss can drop the last commits), at ~60k commits/s here against
/// ~8k with `FULL` (measured on the 2-core build machine). Rows are one blob each: the record in `Value`'s binary form.
public final class SQLiteStore: PersistentStore {
    private let pool: DatabasePool

    public init(path: String) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try pool.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS objects(
                    ref TEXT PRIMARY KEY NOT NULL,
                    class TEXT NOT NULL,
                    created INTEGER NOT NULL,
                    modified INTEGER NOT NULL,
                    data BLOB NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL);
                """)
        }
    }

    public func load() async throws -> (objects: [PersistenceBatch.Object], generation: Int64) {
        try await pool.read { db in
            var objects: [PersistenceBatch.Object] = []
            let rows = try GRDB.Row.fetchCursor(db, sql: "SELECT ref, class, created, modified, data FROM objects")
            while let row = try rows.next() {
                let data: Data = row[4]
                guard case .structure(let record)? = Value(binary: [UInt8](data)) else {
                    throw SQLiteStoreError.corruptRow(ref: row[0])
                }
                objects.append(.init(className: row[1], ref: row[0], created: row[2], modified: row[3], record: record))
            }
            let generation = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'generation'") ?? 0
            return (objects, generation)
        }
    }

    public func save(_ batch: PersistenceBatch) async throws {
        try await pool.write { db in
            let upsert = try db.cachedStatement(sql: """
                INSERT INTO objects(ref, class, created, modified, data) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(ref) DO UPDATE SET class = excluded.class, created = excluded.created,
                    modified = excluded.modified, data = excluded.data
                """)
            for object in batch.upserts {
                try upsert.execute(arguments: [object.ref, object.className, object.created, object.modified,
                                               Data(Value.structure(object.record).binaryEncoded)])
            }
            let delete = try db.cachedStatement(sql: "DELETE FROM objects WHERE ref = ?")
            for ref in batch.deletions {
                try delete.execute(arguments: [ref])
            }
            try db.execute(sql: "INSERT INTO meta(key, value) VALUES ('generation', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                           arguments: [batch.generation])
        }
    }
}

public enum SQLiteStoreError: Error, Sendable {
    case corruptRow(ref: String)
}
