import Foundation
import DequeModule

/// The legacy `event.register`/`event.next` API (xen-api ocaml/xapi/xapi_event.ml `Next`): one
/// global queue of events, each field write its own `mod` with a full snapshot, kept only while
/// some session subscribes to its class, and bounded by the serialised size of what it holds.
/// When the bound forces old events out, readers whose range reaches them get EVENTS_LOST once.
struct NextQueue: Sendable {
    struct Entry: Sendable {
        var id: Int64
        var table: Int
        var ref: String
        /// The event record in `Value`'s binary form: parked events cost their bytes, not a tree
        /// of Swift objects, so memory tracks the byte bound however slow the reader is. Its
        /// length is what counts against `maxBytes`.
        var encoded: [UInt8]
    }

    struct Registration: Sendable {
        var lastID: Int64
        var subscription: Subscription
    }

    enum Grab: Sendable {
        case notRegistered
        case eventsLost
        case events([Value])
        /// Nothing for this session yet; wait for the id to move past `current`.
        case empty(current: Int64)
    }

    /// xen-api `max_queue_size`: 10,000,000 bytes of serialised events.
    var maxBytes = 10_000_000
    private(set) var entries: Deque<Entry> = []
    private(set) var bytes = 0
    /// The id the next event gets; `event.get_current_id` returns it.
    private(set) var currentID: Int64 = 0
    private var highestForgotten: Int64 = -1
    private var registrations: [String: Registration] = [:]
    private var subscribersByTable: [Int: Int] = [:]
    private var subscribersForAll = 0

    // MARK: Subscriptions

    /// Adds classes to the session's subscription, creating it (from now on) if needed.
    mutating func register(session: String, _ subscription: Subscription) {
        let existing = registrations[session]
        if let existing { count(existing.subscription, by: -1) }
        let merged = existing.map { $0.subscription.prepending(subscription) } ?? subscription
        registrations[session] = Registration(lastID: existing?.lastID ?? currentID, subscription: merged)
        count(merged, by: 1)
    }

    /// Removes classes; like xapi it creates an (empty) registration if there was none.
    mutating func unregister(session: String, _ strings: [String], model: Datamodel) {
        let existing = registrations[session] ?? Registration(lastID: currentID, subscription: Subscription([], model: model))
        count(existing.subscription, by: -1)
        let remaining = existing.subscription.removing(strings)
        registrations[session] = Registration(lastID: existing.lastID, subscription: remaining)
        count(remaining, by: 1)
    }

    mutating func unsubscribeAll(session: String) {
        guard let existing = registrations.removeValue(forKey: session) else { return }
        count(existing.subscription, by: -1)
    }

    private mutating func count(_ subscription: Subscription, by delta: Int) {
        if let tables = subscription.tables {
            for table in tables { subscribersByTable[table, default: 0] += delta }
        } else {
            subscribersForAll += delta
        }
    }

    func anySubscriber(for table: Int) -> Bool {
        subscribersForAll > 0 || (subscribersByTable[table] ?? 0) > 0
    }

    func isSubscribed(session: String, table: Int, ref: String) -> Bool {
        registrations[session]?.subscription.matches(table: table, ref: ref) ?? false
    }

    func isRegistered(session: String) -> Bool { registrations[session] != nil }

    // MARK: Events

    /// Queues an event if some registration matches it, dropping the oldest past the bound.
    mutating func enqueue(_ kind: ChangeKind, table: Int, ref: String, className: String, snapshot: Structure) {
        guard registrations.values.contains(where: { $0.subscription.matches(table: table, ref: ref) }) else { return }
        let record: Value = .structure([
            "id": .string(String(currentID)),
            "timestamp": .string(NextQueue.timestamp()),
            "class": .string(className),
            "operation": .string(kind.rawValue),
            "ref": .string(ref),
            "snapshot": .structure(snapshot),
        ])
        let encoded = record.binaryEncoded
        entries.append(Entry(id: currentID, table: table, ref: ref, encoded: encoded))
        bytes += encoded.count
        currentID += 1
        while bytes > maxBytes, let oldest = entries.first {
            entries.removeFirst()
            bytes -= oldest.encoded.count
            highestForgotten = oldest.id
        }
    }

    /// Takes everything after the session's mark (advancing it, so EVENTS_LOST is reported once)
    /// and returns the events its subscription matches, oldest first.
    mutating func grab(session: String) -> Grab {
        guard var registration = registrations[session] else { return .notRegistered }
        let start = registration.lastID
        guard start < currentID else { return .empty(current: currentID) }
        registration.lastID = currentID
        registrations[session] = registration
        if highestForgotten >= start { return .eventsLost }
        var events: [Value] = []
        for entry in entries where entry.id >= start
            && registration.subscription.matches(table: entry.table, ref: entry.ref) {
            if let event = Value(binary: entry.encoded) { events.append(event) }
        }
        return events.isEmpty ? .empty(current: currentID) : .events(events)
    }

    /// xapi writes `string_of_float (Unix.time ())`: OCaml's `%.12g` with a trailing `.` when integral.
    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let seconds = Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        let text = String(format: "%.12g", seconds)
        return text.contains(".") || text.contains("e") ? text : text + "."
    }
}
