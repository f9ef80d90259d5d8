/// The one value type every XenAPI value travels in: from the wire codecs through the dispatcher
/// to the database and back. It mirrors ocaml-rpc's `Rpc.t`, which is what xapi itself uses, so
/// that each wire quirk (untyped ints in XML-RPC, `<i4>` only for `valid_ref_counts`) is a
/// property of the case, not of the caller.
public enum Value: Sendable, Hashable {
    case string(String)
    /// A 64-bit XenAPI `int`: untyped text in XML-RPC (as xapi writes it), a number in JSON.
    case int(Int64)
    /// Written as `<i4>` in XML-RPC; xapi uses it only for `event.from`'s `valid_ref_counts`.
    case int32(Int32)
    case double(Double)
    case bool(Bool)
    case dateTime(DateTime)
    case array([Value])
    /// An XML-RPC struct / JSON object with its members in order.
    case structure(Structure)
    /// `<nil/>` / JSON `null`.
    case null

    public static let emptyString = Value.string("")
    public static let emptyArray = Value.array([])
    public static let emptyStructure = Value.structure(Structure())
}

/// Ordered members of a struct. Small maps dominate (other_config, records of ~20–90 fields),
/// so an array of pairs beats a dictionary for both memory and the in-order wire encoding.
public struct Structure: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    public struct Member: Sendable, Hashable {
        public var key: String
        public var value: Value
        public init(key: String, value: Value) {
            self.key = key
            self.value = value
        }
    }

    public var members: [Member]

    public init() { members = [] }
    public init(_ members: [Member]) { self.members = members }
    public init(dictionaryLiteral elements: (String, Value)...) {
        members = elements.map { Member(key: $0.0, value: $0.1) }
    }

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }
    public var keys: [String] { members.map(\.key) }

    /// First member with `key`; setting `nil` removes every member with that key.
    public subscript(key: String) -> Value? {
        get { members.first { $0.key == key }?.value }
        set {
            if let newValue {
                if let index = members.firstIndex(where: { $0.key == key }) {
                    members[index].value = newValue
                } else {
                    members.append(Member(key: key, value: newValue))
                }
            } else {
                members.removeAll { $0.key == key }
            }
        }
    }

    public mutating func append(_ key: String, _ value: Value) {
        members.append(Member(key: key, value: value))
    }

    public func makeIterator() -> IndexingIterator<[Member]> { members.makeIterator() }
}

extension Value {
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var arrayValue: [Value]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var structureValue: Structure? {
        if case .structure(let s) = self { return s }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .int32(let i): return Int64(i)
        default: return nil
        }
    }

    public var doubleValue: Double? {
        if case .double(let d) = self { return d }
        return nil
    }
}
