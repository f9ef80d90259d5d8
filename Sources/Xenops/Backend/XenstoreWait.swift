import Synchronization
import Timing
import Xenstore

/// Event-driven waits on xenstore: a watch on a path, the condition re-checked on every event
/// (the first event comes at registration), a deadline on the engine's clock. Cancelling the
/// calling task (which is what `TASK.cancel` does to a running operation) ends the wait.
struct XenstoreWaiter: Sendable {
    let xs: XenstoreConnection
    let clock: any ServerClock
    private let tokens = Counter()

    init(xs: XenstoreConnection, clock: any ServerClock) {
        self.xs = xs
        self.clock = clock
    }

    /// True when `condition` held, false at the deadline. Throws `Cancelled` when the task is
    /// cancelled first.
    func wait(on path: String, timeout: Duration?, task: TaskHandle?,
              until condition: @escaping @Sendable () -> Bool) async throws(XenopsError) -> Bool {
        if condition() { return true }
        let watch: XenstoreWatch
        do throws(XenstoreError) {
            watch = try xs.watch(path, token: "xenopsd-wait-\(tokens.next())")
        } catch {
            throw .internalError("cannot watch \(path): \(error)")
        }
        let clock = self.clock
        let race: @Sendable () async -> Bool = {
            await withTaskGroup(of: Bool?.self) { group -> Bool in
                group.addTask {
                    for await _ in watch where condition() { return true }
                    return nil
                }
                if let timeout {
                    group.addTask {
                        do { try await clock.sleep(for: timeout) } catch { return nil }
                        return false
                    }
                }
                var result = false
                for await outcome in group {
                    if let outcome {
                        result = outcome
                        break
                    }
                    if Task.isCancelled { break }
                }
                group.cancelAll()
                return result
            }
        }
        let outcome: Bool? = if let task { await task.interruptible(race) } else { await race() }
        guard let satisfied = outcome else { throw cancelledError(task) }
        if !satisfied && Task.isCancelled { throw cancelledError(task) }
        return satisfied
    }
}

/// A process-wide counter for unique watch tokens.
final class Counter: Sendable {
    private let value = Synchronization.Atomic<UInt64>(0)
    func next() -> UInt64 { value.add(1, ordering: .relaxed).newValue }
}
