@testable import Xenstore

/// Drives `XenstoreState` directly (no locks, no I/O), collecting the watch events each
/// connection would receive.
struct Harness {
    var state: XenstoreState
    var events: [ConnectionID: [WatchEvent]] = [:]
    var closed: [ConnectionID] = []

    init(quotas: XenstoreQuotas = XenstoreQuotas()) {
        state = XenstoreState(quotas: quotas)
    }

    mutating func connect(_ domid: UInt32) -> ConnectionID { state.connect(domid: domid) }

    @discardableResult
    mutating func run(_ connection: ConnectionID, _ request: XenstoreRequest, tx: UInt32 = 0) -> Result<XenstoreReply, XenstoreError> {
        let outcome = state.perform(request, transaction: tx, on: connection)
        for delivery in outcome.deliveries { events[delivery.connection, default: []].append(delivery.event) }
        closed += outcome.closed
        return outcome.result
    }

    /// The error of a failing request, nil on success.
    mutating func error(_ connection: ConnectionID, _ request: XenstoreRequest, tx: UInt32 = 0) -> XenstoreError? {
        if case .failure(let error) = run(connection, request, tx: tx) { return error }
        return nil
    }

    mutating func read(_ connection: ConnectionID, _ path: String, tx: UInt32 = 0) -> Result<String, XenstoreError> {
        run(connection, .read(path), tx: tx).map { reply in
            if case .value(let bytes) = reply { return String(decoding: bytes, as: UTF8.self) }
            return "<\(reply)>"
        }
    }

    mutating func write(_ connection: ConnectionID, _ path: String, _ value: String, tx: UInt32 = 0) -> Result<XenstoreReply, XenstoreError> {
        run(connection, .write(path, Array(value.utf8)), tx: tx)
    }

    mutating func start(_ connection: ConnectionID) -> UInt32 {
        guard case .success(.transaction(let id)) = run(connection, .transactionStart) else { return 0 }
        return id
    }

    /// Takes (and clears) the events delivered to `connection`.
    mutating func takeEvents(_ connection: ConnectionID) -> [WatchEvent] {
        defer { events[connection] = nil }
        return events[connection] ?? []
    }

    static func perms(_ text: String...) -> [XenstorePermission] { text.map { XenstorePermission($0)! } }
}

func event(_ path: String, _ token: String) -> WatchEvent { WatchEvent(path: path, token: token) }
