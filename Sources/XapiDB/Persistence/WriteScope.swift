import Synchronization

/// The persisted generations one call wrote, so that its answer waits for its own writes to
/// reach the disk and for nobody else's: a read-only call waits for nothing, whatever group
/// commit of Xenops-driven writes is in progress.
///
/// It travels as a task-local, so writes made by child tasks of the call count too; writes made
/// on the call's behalf by other tasks (xapi's events loop applying what a barrier waited for)
/// are covered with `coverEverythingSoFar(in:)` at the point the call has seen them.
public final class WriteScope: Sendable {
    @TaskLocal public static var current: WriteScope?

    private let latest = Atomic<Int64>(0)

    public init() {}

    /// The highest persisted generation written within the scope (0: none).
    public var generation: Int64 { latest.load(ordering: .acquiring) }

    func note(_ generation: Int64) {
        latest.max(generation, ordering: .acquiringAndReleasing)
    }

    /// Makes the current scope, if any, wait for every persisted change made so far by anyone:
    /// what a call has observed through a barrier is as durable as what it wrote itself.
    public static func coverEverythingSoFar(in database: Database) {
        guard let scope = current else { return }
        scope.note(database.lastPersistedChange)
    }
}
