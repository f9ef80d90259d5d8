import Synchronization
import Testing
@testable import Timing

/// The timer service on a manual clock: nothing here sleeps; time moves when the test says.
@Suite(.timeLimit(.minutes(1))) struct DeadlinesTests {
    final class Fired: Sendable {
        private let names = Mutex<[String]>([])
        func append(_ name: String) { names.withLock { $0.append(name) } }
        var all: [String] { names.withLock { $0 } }
    }

    @Test func timersFireInDeadlineOrderOnceTheirTimeComes() async {
        let clock = ManualClock()
        let deadlines = Deadlines(clock: clock)
        let fired = Fired()
        deadlines.schedule(after: .seconds(3), "c") { fired.append("c") }
        deadlines.schedule(after: .seconds(1), "a") { fired.append("a") }
        deadlines.schedule(after: .seconds(2), "b") { fired.append("b") }
        #expect(deadlines.pending().map(\.description) == ["a", "b", "c"])
        await clock.waitForSleepers()
        clock.advance(by: .milliseconds(1500))
        await clock.waitForSleepers(dueWithin: .seconds(1))
        #expect(fired.all == ["a"])
        clock.advance(by: .seconds(2))
        while deadlines.pendingCount > 0 { await Task.yield() }
        #expect(fired.all == ["a", "b", "c"])
    }

    @Test func aCancelledTimerNeverFires() async {
        let clock = ManualClock()
        let deadlines = Deadlines(clock: clock)
        let fired = Fired()
        let early = deadlines.schedule(after: .seconds(1), "early") { fired.append("early") }
        deadlines.schedule(after: .seconds(2), "late") { fired.append("late") }
        deadlines.cancel(early)
        #expect(deadlines.pendingCount == 1)
        await clock.waitForSleepers()
        clock.advance(by: .seconds(5))
        while deadlines.pendingCount > 0 { await Task.yield() }
        #expect(fired.all == ["late"])
    }

    /// An earlier deadline arriving while the sleeper waits for a later one replaces it.
    @Test func anEarlierDeadlineIsServedFirst() async {
        let clock = ManualClock()
        let deadlines = Deadlines(clock: clock)
        let fired = Fired()
        deadlines.schedule(after: .seconds(10), "late") { fired.append("late") }
        await clock.waitForSleepers(dueWithin: .seconds(10))
        deadlines.schedule(after: .seconds(1), "early") { fired.append("early") }
        await clock.waitForSleepers(dueWithin: .seconds(1))
        clock.advance(by: .seconds(1))
        while deadlines.pendingCount > 1 { await Task.yield() }
        #expect(fired.all == ["early"])
    }

    /// Waits that end before their deadline leave no memory behind however many there were.
    @Test func cancelledEntriesAreCompacted() async {
        let deadlines = Deadlines(clock: ManualClock())
        for _ in 0..<10_000 {
            let id = deadlines.schedule(after: .seconds(60)) {}
            deadlines.cancel(id)
        }
        #expect(deadlines.pendingCount == 0)
        #expect(deadlines.heapCount <= 257)
    }
}
