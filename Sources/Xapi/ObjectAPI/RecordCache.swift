import Synchronization
import XapiDB

/// The last `get_record` answers, by ref (refs are unique across classes), each valid while its
/// row is unchanged: a row's `modified` generation moves on every write to it, reverse sets
/// included. A client that re-reads the same objects (a GUI refreshing a view, a script
/// polling) then costs neither building the record again nor encoding it, as `SharedAnswer`
/// keeps its wire bytes. Bounded, so memory does not grow with the pool: when full, it starts over.
final class RecordCache: Sendable {
    static let capacity = 1024

    private struct Entry {
        let modified: Int64
        let answer: SharedAnswer
    }

    private let entries = Mutex<[String: Entry]>([:])

    /// The cached answer for `ref` if its row is still at `modified`, else a new one from `build`.
    func answer(for ref: String, modified: Int64, build: () -> Value) -> SharedAnswer {
        if let entry = entries.withLock({ $0[ref] }), entry.modified == modified { return entry.answer }
        let answer = SharedAnswer(build())
        entries.withLock { entries in
            if entries.count >= Self.capacity && entries[ref] == nil { entries.removeAll(keepingCapacity: true) }
            entries[ref] = Entry(modified: modified, answer: answer)
        }
        return answer
    }
}
