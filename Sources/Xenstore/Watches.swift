/// A watch event: the path that changed (relative when the watch was registered relative) and
/// the watch's token. Like xenstore itself it says *what* changed, never the new value.
public struct WatchEvent: Sendable, Hashable, CustomStringConvertible {
    public let path: String
    public let token: String

    public init(path: String, token: String) {
        self.path = path
        self.token = token
    }

    public var description: String { "\(path) [\(token)]" }
}

/// Identifies a registration: (connection, canonical path, token) is unique, as in C.
struct WatchKey: Hashable, Sendable {
    let connection: ConnectionID
    let path: String
    let token: String
}

struct WatchRegistration: Sendable {
    let key: WatchKey
    /// Length of the home prefix (`/local/domain/<id>`) to strip from reported paths when the
    /// watch was relative; nil for absolute watches.
    let relativePrefixLength: Int?

    /// Path as this watch reports it (C's `get_watch_path`).
    func reportedPath(for changed: String) -> String {
        guard let length = relativePrefixLength else { return changed }
        var rest = changed.utf8.dropFirst(length)
        if rest.first == UInt8(ascii: "/") { rest = rest.dropFirst() }
        return String(Substring(rest))
    }
}

/// Watches indexed by watched path, so a change at P costs one lookup per ancestor of P (plus
/// one for P) rather than a scan of every watch — C 4.17 walks all connections' lists instead.
struct WatchRegistry: Sendable {
    private var byPath: [String: [WatchRegistration]] = [:]
    /// A set, so dropping one of a connection's thousands of watches is not a linear scan.
    private var byConnection: [ConnectionID: Set<WatchKey>] = [:]

    func contains(_ key: WatchKey) -> Bool {
        byPath[key.path]?.contains { $0.key == key } ?? false
    }

    func count(of connection: ConnectionID) -> Int { byConnection[connection]?.count ?? 0 }

    mutating func add(_ registration: WatchRegistration) {
        byPath[registration.key.path, default: []].append(registration)
        byConnection[registration.key.connection, default: []].insert(registration.key)
    }

    @discardableResult
    mutating func remove(_ key: WatchKey) -> Bool {
        // Mutate in place: copying a connection's entry out of the dictionary would copy it whole.
        guard let index = byPath[key.path]?.firstIndex(where: { $0.key == key }) else { return false }
        byPath[key.path]!.remove(at: index)
        if byPath[key.path]!.isEmpty { byPath[key.path] = nil }
        byConnection[key.connection]?.remove(key)
        if byConnection[key.connection]?.isEmpty == true { byConnection[key.connection] = nil }
        return true
    }

    /// Removes every watch of `connection`; returns how many there were.
    @discardableResult
    mutating func removeAll(of connection: ConnectionID) -> Int {
        guard let keys = byConnection.removeValue(forKey: connection) else { return 0 }
        for key in keys {
            guard var list = byPath[key.path] else { continue }
            list.removeAll { $0.key == key }
            byPath[key.path] = list.isEmpty ? nil : list
        }
        return keys.count
    }

    /// Calls `body` for each watch a change at `path` fires: watches on `path` itself and, unless
    /// `exact`, on each ancestor (whole components only: `/a/b` never matches `/a/bc`).
    func forEachMatch(of path: String, exact: Bool, _ body: (WatchRegistration) -> Void) {
        if byPath.isEmpty { return }
        if exact || path.utf8.first == UInt8(ascii: "@") {
            byPath[path]?.forEach(body)
            return
        }
        XenstorePath.forEachSelfAndAncestor(path) { candidate in
            byPath[candidate]?.forEach(body)
        }
    }
}
