public import XapiDB
import Wire

/// Compact JSON exactly as xapi writes it for JSON-RPC: ocaml-rpc's `rpc_to_json` printed by
/// yojson. Members keep their order; nothing is pretty-printed.
extension Value {
    /// Appends the compact JSON text; strings and doubles are spelled by `JSONWriter` (NaN and
    /// the infinities as bare tokens, which `JSONText.parse` reads back).
    public func writeJSON(into out: inout [UInt8]) {
        var writer = ByteWriter()
        serializeJSON(into: &writer)
        writer.append(to: &out)
    }

    /// The exact length of `writeJSON`'s output, computed without building it.
    public var jsonByteCount: Int {
        var counter = ByteCounter()
        serializeJSON(into: &counter)
        return counter.count
    }

    /// The compact JSON text as a string.
    public var jsonString: String {
        var out: [UInt8] = []
        writeJSON(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    func serializeJSON<Sink: ByteSink>(into out: inout Sink) {
        switch self {
        case .string(let s):
            JSONWriter.writeString(s, into: &out)
        case .int(let i):
            out.writeDecimal(i)
        case .int32(let i):
            out.writeDecimal(Int64(i))
        case .double(let d):
            JSONWriter.writeDouble(d, into: &out)
        case .bool(let b):
            out.write(b ? "true" : "false")
        case .dateTime(let t):
            out.write(UInt8(ascii: "\""))
            var text = t.description
            text.withUTF8 { out.write($0) }
            out.write(UInt8(ascii: "\""))
        case .array(let elements):
            out.write(UInt8(ascii: "["))
            var first = true
            for element in elements {
                if !first { out.write(UInt8(ascii: ",")) }
                first = false
                element.serializeJSON(into: &out)
            }
            out.write(UInt8(ascii: "]"))
        case .structure(let structure):
            out.write(UInt8(ascii: "{"))
            var first = true
            for member in structure.members {
                if !first { out.write(UInt8(ascii: ",")) }
                first = false
                JSONWriter.writeString(member.key, into: &out)
                out.write(UInt8(ascii: ":"))
                member.value.serializeJSON(into: &out)
            }
            out.write(UInt8(ascii: "}"))
        case .null:
            out.write("null")
        }
    }
}
