public import Synchronization
public import Timing

/// The shared object database: `DatabaseState` behind one mutex. A write runs its whole body under
/// the lock — readers never see half of it — and the continuations it wakes (parked `event.from`
/// and `event.next` calls, durability waiters) are resumed only after the lock is released.
public final class Database: Sendable {
    public let model: Datamodel
    @usableFromInline let state: Mutex<DatabaseState>
    private let nextWaiterID = Atomic<UInt64>(1)
    let durability = Durability()
    /// Timeouts of parked `event.from`/`event.next` calls, on the server's clock.
    public let deadlines: Deadlines
    public var clock: any ServerClock { deadlines.clock }

    public init(model: Datamodel = .xapi, clock: any ServerClock = SystemClock()) {
        self.model = model
        state = Mutex(DatabaseState(model: model))
        deadlines = Deadlines(clock: clock)
    }

    /// Index of a table by its exact datamodel name; a missing name is a programming error.
    public func table(_ name: String) -> Int {
        guard let schema = model.class(named: name), schema.isTable else {
            preconditionFailure("\(name) is not a table of the datamodel")
        }
        return schema.index
    }

    // Inlinable so that callers in other modules get a specialised lock-and-call instead of
    // generic dispatch with runtime metadata lookups on every database access.
    @inlinable
    public func read<R: Sendable, E: Error>(_ body: (inout DatabaseState) throws(E) -> R) throws(E) -> R {
        try state.withLock { (s: inout DatabaseState) throws(E) -> R in try body(&s) }
    }

    /// Runs `body` atomically. There is no rollback: bodies validate before they mutate, as
    /// xapi's do; whatever was written before a throw stays written and is announced.
    @inlinable
    public func write<R: Sendable, E: Error>(_ body: (inout DatabaseState) throws(E) -> R) throws(E) -> R {
        let (result, effects) = state.withLock { s -> (Result<R, E>, PendingEffects) in
            let result: Result<R, E>
            do throws(E) {
                result = .success(try body(&s))
            } catch {
                result = .failure(error)
            }
            return (result, s.finishTransaction())
        }
        apply(effects)
        return try result.get()
    }

    public var generation: Int64 { state.withLock { $0.generation } }

    @usableFromInline
    func apply(_ effects: PendingEffects) {
        for wakeup in effects.wakeups { wakeup.run() }
        if !effects.changed.isEmpty { durability.changed() }
        if effects.persistedGeneration > 0 { WriteScope.current?.note(effects.persistedGeneration) }
    }

    func makeWaiterID() -> UInt64 {
        nextWaiterID.add(1, ordering: .relaxed).oldValue
    }
}
