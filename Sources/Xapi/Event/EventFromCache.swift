import Synchronization
import XapiDB

/// The most recent `event.from` answers: a change that wakes a thousand identical calls (same
/// subscription, same token) is scanned and turned into records once, not a thousand times.
final class EventFromCache: Sendable {
    struct Key: Hashable {
        var subscription: [String]
        var token: EventToken
        var generation: Int64
        var messageGeneration: Int64
    }

    private let entries = Mutex<[Key: SharedAnswer]>([:])
    private static let capacity = 64

    func answer(for key: Key) -> SharedAnswer? {
        entries.withLock { $0[key] }
    }

    func store(_ value: SharedAnswer, for key: Key) {
        entries.withLock { entries in
            // Entries for older generations can never be asked for again once a newer one exists.
            if entries.count >= EventFromCache.capacity {
                entries = entries.filter { $0.key.generation >= key.generation }
                if entries.count >= EventFromCache.capacity { entries.removeAll() }
            }
            entries[key] = value
        }
    }
}
