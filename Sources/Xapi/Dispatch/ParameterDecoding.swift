public import XapiDB

/// Turns a wire value into the value a datamodel type expects, tolerating exactly what xapi
/// tolerates (ocaml-rpc src/lib/rpc.ml, `int64_of_rpc`, `float_of_rpc`…): ints as decimal strings, ints and numeric strings for floats,
/// enums in any case, datetimes as strings; never strings for bools. Anything else is
/// INTERNAL_ERROR with the offending value, as xapi's unmarshallers report it.
public struct ParameterDecoder: Sendable {
    public let model: Datamodel
    private let enums: [String: [String]]

    public init(model: Datamodel) {
        self.model = model
        var enums: [String: [String]] = [:]
        for schema in model.classes {
            enums.merge(schema.enums) { first, _ in first }
        }
        self.enums = enums
    }

    public func decode(_ value: Value, as type: FieldType) throws(XapiError) -> Value {
        switch type {
        case .string:
            guard case .string = value else { throw mismatch("string", value) }
            return value
        case .int:
            switch value {
            case .int: return value
            case .int32(let i): return .int(Int64(i))
            case .string(let s):
                guard let i = Int64(s.trimmingSpaces()) else { throw mismatch("int", value) }
                return .int(i)
            default: throw mismatch("int", value)
            }
        case .float:
            switch value {
            case .double: return value
            case .int(let i): return .double(Double(i))
            case .int32(let i): return .double(Double(i))
            case .string(let s):
                guard let d = Double(s.trimmingSpaces()) else { throw mismatch("float", value) }
                return .double(d)
            default: throw mismatch("float", value)
            }
        case .bool:
            guard case .bool = value else { throw mismatch("bool", value) }
            return value
        case .dateTime:
            switch value {
            case .dateTime: return value
            case .string(let s):
                guard let d = DateTime(parsing: s) else { throw mismatch("datetime", value) }
                return .dateTime(d)
            default: throw mismatch("datetime", value)
            }
        case .ref:
            guard case .string = value else { throw mismatch("ref", value) }
            return value
        case .enumeration(let name):
            guard case .string(let s) = value else { throw mismatch("enum \(name)", value) }
            guard let canonical = enumValue(name, matching: s) else {
                throw .internalError("Unknown value '\(s)' for enum \(name)")
            }
            return .string(canonical)
        case .set(let element):
            guard case .array(let items) = value else { throw mismatch("set", value) }
            var decoded: [Value] = []
            decoded.reserveCapacity(items.count)
            for item in items { decoded.append(try decode(item, as: element)) }
            return .array(decoded)
        case .map(let keyType, let valueType):
            guard case .structure(let members) = value else { throw mismatch("map", value) }
            var decoded = Structure()
            for member in members {
                let key = try decode(.string(member.key), as: keyType).mapKey
                decoded.append(key, try decode(member.value, as: valueType))
            }
            return .structure(decoded)
        case .record:
            guard case .structure = value else { throw mismatch("record", value) }
            return value
        case .option(let inner):
            if case .null = value { return value }
            return try decode(value, as: inner)
        case .eventBatch, .void:
            return value
        }
    }

    /// The datamodel spelling of an enum constructor, matched case-insensitively.
    public func enumValue(_ enumName: String, matching text: String) -> String? {
        guard let values = enums[enumName] else { return nil }
        let lowered = text.lowercased()
        return values.first { $0.lowercased() == lowered }
    }

    private func mismatch(_ expected: String, _ got: Value) -> XapiError {
        .internalError("Expected \(expected), got '\(got.debugDescription)'")
    }
}

extension Value {
    /// A short rendering for error messages, close to ocaml-rpc's `Rpc.to_string`.
    public var debugDescription: String {
        switch self {
        case .string(let s): "S(\(s))"
        case .int(let i): "I(\(i))"
        case .int32(let i): "I32(\(i))"
        case .double(let d): "F(\(d))"
        case .bool(let b): "B(\(b))"
        case .dateTime(let d): "D(\(d))"
        case .array(let items): "[" + items.map(\.debugDescription).joined(separator: "; ") + "]"
        case .structure(let s): "{" + s.members.map { "\($0.key): \($0.value.debugDescription)" }.joined(separator: "; ") + "}"
        case .null: "N"
        }
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s = s.dropFirst() }
        while s.last?.isWhitespace == true { s = s.dropLast() }
        return String(s)
    }
}
