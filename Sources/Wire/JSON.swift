/// A JSON tree for the rarely-built documents (diagnostics, operation descriptions), with
/// members kept in insertion order so dumps read like xenopsd's.
public indirect enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([Member])

    public struct Member: Sendable, Equatable {
        public let key: String
        public let value: JSON
        public init(_ key: String, _ value: JSON) {
            self.key = key
            self.value = value
        }
    }

    public static func object(_ pairs: KeyValuePairs<String, JSON>) -> JSON {
        .object(pairs.map { Member($0.key, $0.value) })
    }

    /// Compact serialisation, spelled by `JSONWriter` as the JSON-RPC answers are.
    public var bytes: [UInt8] {
        var writer = ByteWriter(capacity: 1024)
        write(to: &writer)
        var out: [UInt8] = []
        writer.append(to: &out)
        return out
    }

    public var text: String { String(decoding: bytes, as: UTF8.self) }

    private func write<Sink: ByteSink>(to out: inout Sink) {
        switch self {
        case .null: out.write("null")
        case .bool(let value): out.write(value ? "true" : "false")
        case .int(let value): out.writeDecimal(Int64(value))
        case .double(let value): JSONWriter.writeDouble(value, into: &out)
        case .string(let value): JSONWriter.writeString(value, into: &out)
        case .array(let items):
            out.write(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.write(UInt8(ascii: ",")) }
                item.write(to: &out)
            }
            out.write(UInt8(ascii: "]"))
        case .object(let members):
            out.write(UInt8(ascii: "{"))
            for (index, member) in members.enumerated() {
                if index > 0 { out.write(UInt8(ascii: ",")) }
                JSONWriter.writeString(member.key, into: &out)
                out.write(UInt8(ascii: ":"))
                member.value.write(to: &out)
            }
            out.write(UInt8(ascii: "}"))
        }
    }
}
