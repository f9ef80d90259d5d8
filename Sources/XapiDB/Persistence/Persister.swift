public import Logging
import Synchronization
import Timing

/// Keeps a `PersistentStore` in step with the database: loads it at start, then flushes each
/// batch of changes as soon as the previous flush is done (group commit) and releases the RPCs
/// waiting for durability. A failed flush is retried; nothing is acknowledged until it succeeds.
public final class Persister: Sendable {
    private let database: Database
    private let store: any PersistentStore
    private let logger: Logger
    private let stopping = Atomic<Bool>(false)

    public init(database: Database, store: some PersistentStore, logger: Logger) {
        self.database = database
        self.store = store
        self.logger = logger
    }

    /// Restores stored objects into the (empty) database; returns how many were restored.
    public func load() async throws -> Int {
        let (objects, generation) = try await store.load()
        let count = database.restore(objects, generation: generation)
        database.durability.enable(durableGeneration: database.generation)
        logger.info("restored objects from disk", metadata: ["objects": "\(count)", "generation": "\(generation)"])
        return count
    }

    /// Flushes until `stop()`; the last flush happens after it, so nothing acknowledged is lost.
    public func run() async {
        var failures = 0
        while true {
            let stop = stopping.load(ordering: .acquiring)
            let batch = database.takeDirtyBatch()
            if !batch.isEmpty {
                do {
                    // In a task of its own, so that the service group cancelling this one (a
                    // listener that failed to bind) does not fail every save and spin this loop:
                    // the batch is written whatever happens around it.
                    let store = store
                    try await Task { try await store.save(batch) }.value
                    failures = 0
                } catch {
                    failures += 1
                    logger.error("persisting a batch failed; retrying", metadata: ["error": "\(error)", "attempt": "\(failures)"])
                    database.requeue(batch)
                    do {
                        try await database.clock.sleep(for: .milliseconds(min(1000, 10 << min(failures, 6))))
                    } catch {
                        // Cancelled: retrying at once would spin; what is unsaved stays unacknowledged.
                        break
                    }
                    continue
                }
            }
            database.durability.markDurable(batch.generation)
            if stop { break }
            await database.durability.waitForChanges()
        }
        database.durability.releaseAll()
    }

    public func stop() {
        stopping.store(true, ordering: .releasing)
        database.durability.poke()
    }
}
