import Synchronization
import Timing
import XapiDB

/// Paces `event.from` the way xapi's batching means to, without its cost for quiet clients.
///
/// xapi sleeps 50 ms before every non-task `event.from` scan, so a client looping through a
/// storm of changes gets at most ~20 answers a second — but every answer, even to the first
/// change after an hour of quiet, comes 50 ms late. Here a call waits only if the same session
/// (with the same subscription) was answered less than `minimumInterval` ago: a storm is
/// batched just as much (bench/events `watch-storm`), an isolated change is reported at once.
final class EventPacer: Sendable {
    private let lastAnswers = Mutex<[String: Duration]>([:])
    private let clock: any ServerClock

    init(clock: any ServerClock) { self.clock = clock }

    /// How long this call should wait before its first scan.
    func delay(for key: String, minimumInterval: Duration) -> Duration {
        guard minimumInterval > .zero else { return .zero }
        let now = clock.now
        return lastAnswers.withLock { answers in
            guard let last = answers[key] else { return .zero }
            let elapsed = now - last
            return elapsed < minimumInterval ? minimumInterval - elapsed : .zero
        }
    }

    /// Notes that `key` was just answered with events; forgets long-idle keys as it goes.
    func answered(_ key: String, minimumInterval: Duration) {
        guard minimumInterval > .zero else { return }
        let now = clock.now
        lastAnswers.withLock { answers in
            answers[key] = now
            if answers.count > 4096 {
                answers = answers.filter { now - $0.value < minimumInterval }
            }
        }
    }
}
