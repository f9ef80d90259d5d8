/// A datamodel type, parsed from the type strings of xapi's datamodel (`"VM ref"`,
/// `"(string -> enum vm_operations) map"`, `"enum vm_power_state"`, …). It drives parameter
/// decoding, default values, record encoding and the where-expression's database encoding.
public indirect enum FieldType: Sendable, Hashable, CustomStringConvertible {
    case string
    case int
    case float
    case bool
    case dateTime
    case ref(String)
    case enumeration(String)
    case set(FieldType)
    case map(FieldType, FieldType)
    case record(String)
    case option(FieldType)
    /// `event.from`'s result type, a struct the event API builds itself.
    case eventBatch
    case void

    /// Parses the datamodel's spelling; `nil` for anything outside its grammar.
    public init?(parsing text: String) {
        let s = text.trimmingSpaces()
        switch s {
        case "string": self = .string
        case "int": self = .int
        case "float": self = .float
        case "bool": self = .bool
        case "datetime": self = .dateTime
        case "void": self = .void
        case "an event batch": self = .eventBatch
        default:
            if s.hasSuffix(" map"), s.hasPrefix("(") {
                // "(K -> V) map": split at the top-level arrow.
                let inner = String(s.dropFirst().dropLast(" map".count))
                guard inner.hasSuffix(")") else { return nil }
                let body = String(inner.dropLast())
                guard let arrow = FieldType.topLevelArrow(in: body),
                      let key = FieldType(parsing: String(body[..<arrow.lowerBound])),
                      let value = FieldType(parsing: String(body[arrow.upperBound...]))
                else { return nil }
                self = .map(key, value)
            } else if s.hasSuffix(" set") {
                guard let element = FieldType(parsing: String(s.dropLast(" set".count))) else { return nil }
                self = .set(element)
            } else if s.hasSuffix(" option") {
                guard let element = FieldType(parsing: String(s.dropLast(" option".count))) else { return nil }
                self = .option(element)
            } else if s.hasSuffix(" ref") {
                self = .ref(String(s.dropLast(" ref".count)))
            } else if s.hasSuffix(" record") {
                self = .record(String(s.dropLast(" record".count)))
            } else if s.hasPrefix("enum ") {
                self = .enumeration(String(s.dropFirst("enum ".count)))
            } else {
                return nil
            }
        }
    }

    private static func topLevelArrow(in s: String) -> Range<String.Index>? {
        var depth = 0
        var index = s.startIndex
        while index < s.endIndex {
            let c = s[index]
            if c == "(" { depth += 1 } else if c == ")" { depth -= 1 }
            if depth == 0, s[index...].hasPrefix(" -> ") {
                return index..<s.index(index, offsetBy: 4)
            }
            index = s.index(after: index)
        }
        return nil
    }

    public var description: String {
        switch self {
        case .string: "string"
        case .int: "int"
        case .float: "float"
        case .bool: "bool"
        case .dateTime: "datetime"
        case .ref(let c): "\(c) ref"
        case .enumeration(let e): "enum \(e)"
        case .set(let t): "\(t) set"
        case .map(let k, let v): "(\(k) -> \(v)) map"
        case .record(let c): "\(c) record"
        case .option(let t): "\(t) option"
        case .eventBatch: "an event batch"
        case .void: "void"
        }
    }

    /// The value a field holds when the datamodel gives no default: what xapi's generated code
    /// would read back from an empty column.
    public var zeroValue: Value {
        switch self {
        case .string, .void: .string("")
        case .int: .int(0)
        case .float: .double(0)
        case .bool: .bool(false)
        case .dateTime: .dateTime(.epoch)
        case .ref: .string(nullRef)
        case .enumeration: .string("")
        case .set: .array([])
        case .map, .record, .eventBatch: .structure(Structure())
        case .option: .null
        }
    }
}

/// xapi's null reference.
public let nullRef = "OpaqueRef:NULL"

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
