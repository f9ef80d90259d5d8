import Foundation

extension FieldType {
    /// Parses a default as the datamodel prints it (`""`, `"()"`, `{}`, `{0}`,
    /// `{"address" -> "localhost"}`, `OpaqueRef:NULL`, `Null`, `1.`, `19700101T00:00:00Z`, an enum
    /// constructor). `nil` when the text does not fit the type.
    public func parseDefault(_ text: String) -> Value? {
        let s = text.trimmingSpaces()
        switch self {
        case .string:
            return FieldType.unquote(s).map(Value.string)
        case .int:
            return Int64(s).map(Value.int)
        case .float:
            let normalized = s.hasSuffix(".") ? s + "0" : s
            return Double(normalized).map(Value.double)
        case .bool:
            switch s {
            case "true": return .bool(true)
            case "false": return .bool(false)
            default: return nil
            }
        case .dateTime:
            return DateTime(parsing: s).map(Value.dateTime)
        case .ref:
            return .string(s == "Null" || s.isEmpty ? nullRef : (FieldType.unquote(s) ?? s))
        case .enumeration:
            return .string(FieldType.unquote(s) ?? s)
        case .set(let element):
            guard s.hasPrefix("{"), s.hasSuffix("}") else { return nil }
            var items: [Value] = []
            for part in FieldType.splitTopLevel(String(s.dropFirst().dropLast())) {
                guard let v = element.parseDefault(part) else { return nil }
                items.append(v)
            }
            return .array(items)
        case .map(let keyType, let valueType):
            guard s.hasPrefix("{"), s.hasSuffix("}") else { return nil }
            var members = Structure()
            for part in FieldType.splitTopLevel(String(s.dropFirst().dropLast())) {
                guard let arrow = part.range(of: " -> "),
                      let k = keyType.parseDefault(String(part[..<arrow.lowerBound])),
                      let v = valueType.parseDefault(String(part[arrow.upperBound...]))
                else { return nil }
                members.append(k.mapKey, v)
            }
            return .structure(members)
        case .option, .record, .eventBatch, .void:
            return nil
        }
    }

    private static func unquote(_ s: String) -> String? {
        guard s.count >= 2, s.hasPrefix("\""), s.hasSuffix("\"") else { return nil }
        return String(s.dropFirst().dropLast())
    }

    /// Splits `a, "b, c", d` at commas outside quotes.
    private static func splitTopLevel(_ s: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var quoted = false
        for c in s {
            if c == "\"" { quoted.toggle() }
            if c == ",", !quoted {
                parts.append(current.trimmingSpaces())
                current = ""
            } else {
                current.append(c)
            }
        }
        let last = current.trimmingSpaces()
        if !last.isEmpty || !parts.isEmpty { parts.append(last) }
        return parts
    }
}

extension Value {
    /// Map keys travel as struct member names: strings and refs as-is, ints in decimal
    /// (xapi's `int64_to_*_map` overrides), enums by name.
    public var mapKey: String {
        switch self {
        case .string(let s): s
        case .int(let i): String(i)
        case .int32(let i): String(i)
        case .bool(let b): b ? "true" : "false"
        case .double(let d): String(d)
        case .dateTime(let d): d.description
        default: ""
        }
    }
}
