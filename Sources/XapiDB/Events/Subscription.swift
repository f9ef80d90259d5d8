/// What an `event.from` call or an `event.register` session listens to, parsed as xapi's
/// `Subscription.of_string`: `*`, a class name in any case, or `class/REF` for one object.
/// Unknown class names parse and simply never match; classes that do not generate events
/// (sessions, users…) never match either.
public struct Subscription: Sendable, Hashable {
    enum Item: Sendable, Hashable {
        case all
        case table(Int)
        case object(table: Int, ref: String)
        case nothing
    }

    let items: [Item]
    /// Tables that never produce events, even for `*`.
    private let silent: Set<Int>
    /// The original strings, so `unregister` can remove exactly what was registered.
    public let strings: [String]

    public init(_ strings: [String], model: Datamodel) {
        self.strings = strings
        items = strings.map { Subscription.parse($0, model: model) }
        silent = model.silentTables
    }

    private init(items: [Item], strings: [String], silent: Set<Int>) {
        self.items = items
        self.strings = strings
        self.silent = silent
    }

    private static func parse(_ text: String, model: Datamodel) -> Item {
        if text == "*" { return .all }
        let className: Substring
        let ref: Substring?
        if let slash = text.firstIndex(of: "/") {
            className = text[..<slash]
            ref = text[text.index(after: slash)...]
        } else {
            className = Substring(text)
            ref = nil
        }
        guard let schema = model.class(lowercased: String(className)), schema.generatesEvents else { return .nothing }
        if let ref { return .object(table: schema.index, ref: String(ref)) }
        return .table(schema.index)
    }

    /// Whether a change to `ref` in `table` is of interest.
    public func matches(table: Int, ref: String) -> Bool {
        !silent.contains(table) && items.contains { item in
            switch item {
            case .all: true
            case .table(let t): t == table
            case .object(let t, let r): t == table && r == ref
            case .nothing: false
            }
        }
    }

    /// Whether any object of `table` can match (a cheap pre-filter before building snapshots).
    public func mayMatch(table: Int) -> Bool {
        !silent.contains(table) && items.contains { item in
            switch item {
            case .all: true
            case .table(let t), .object(let t, _): t == table
            case .nothing: false
            }
        }
    }

    /// Tables the subscription names, or `nil` for `*`.
    var tables: Set<Int>? {
        var result = Set<Int>()
        for item in items {
            switch item {
            case .all: return nil
            case .table(let t), .object(let t, _): result.insert(t)
            case .nothing: break
            }
        }
        return result
    }

    /// xapi skips the batching delay when every subscription is `task` or `task/…`.
    public func isOnly(table: Int) -> Bool {
        !items.isEmpty && items.allSatisfy { item in
            switch item {
            case .table(let t), .object(let t, _): t == table
            case .all, .nothing: false
            }
        }
    }

    /// This subscription with `strings` removed (each equal string removes its entry).
    func removing(_ removed: [String]) -> Subscription {
        let drop = Set(removed)
        var keptItems: [Item] = []
        var keptStrings: [String] = []
        for (item, string) in zip(items, strings) where !drop.contains(string) {
            keptItems.append(item)
            keptStrings.append(string)
        }
        return Subscription(items: keptItems, strings: keptStrings, silent: silent)
    }

    /// New registrations are prepended, duplicates kept (xapi's `register`).
    func prepending(_ other: Subscription) -> Subscription {
        Subscription(items: other.items + items, strings: other.strings + strings, silent: silent)
    }
}
