public import XapiDB

/// Compact JSON exactly as xapi writes it for JSON-RPC: ocaml-rpc's `rpc_to_json` printed by
/// yojson. Members keep their order; nothing is pretty-printed.
extension Value {
    /// Appends the compact JSON text.
    ///
    /// Doubles are printed as yojson does: `%.16g`, or `%.17g` when 16 digits do not read back
    /// as the same double, with `.0` appended to integral values (`1.0`, `-0.0`, `1e+20` stays).
    /// NaN and the infinities have no JSON spelling; like the yojson versions xapi has shipped
    /// with (and Python's `json` module) they are written as the bare tokens `NaN`, `Infinity`
    /// and `-Infinity`, which `JSONText.parse` reads back. Newer yojson raises instead, turning the
    /// whole call into an error; a lenient token keeps every other field of the reply usable.
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
            Self.writeJSONString(s, into: &out)
        case .int(let i):
            out.writeDecimal(i)
        case .int32(let i):
            out.writeDecimal(Int64(i))
        case .double(let d):
            Self.writeJSONDouble(d, into: &out)
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
                Self.writeJSONString(member.key, into: &out)
                out.write(UInt8(ascii: ":"))
                member.value.serializeJSON(into: &out)
            }
            out.write(UInt8(ascii: "}"))
        case .null:
            out.write("null")
        }
    }

    static func writeJSONDouble<Sink: ByteSink>(_ d: Double, into out: inout Sink) {
        if d.isNaN { out.write("NaN"); return }
        if d.isInfinite { out.write(d > 0 ? "Infinity" : "-Infinity"); return }
        if let integral = CFloatFormat.integralValue(d) {
            // What the general path below prints for it, without formatting it twice.
            out.writeDecimal(integral)
            out.write(".0")
            return
        }
        let precision: Int32 = CFloatFormat.withFormatted(d, precision: 16) { printed in
            Double(String(decoding: printed, as: UTF8.self)) == d ? 16 : 17
        }
        CFloatFormat.withFormatted(d, precision: precision) { printed in
            out.write(printed)
            // yojson's float_needs_period: only digits and '-' means it would read back as an int.
            if !printed.contains(where: { $0 != UInt8(ascii: "-") && !(0x30...0x39).contains($0) }) {
                out.write(".0")
            }
        }
    }

    /// yojson's `write_string`: `"` and `\` escaped, the usual short escapes for BS, FF, LF, CR and
    /// TAB, `\u00xx` (lower-case hex) for other control bytes and DEL; everything else, including
    /// non-ASCII, passes through as UTF-8.
    static func writeJSONString<Sink: ByteSink>(_ string: String, into out: inout Sink) {
        out.write(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { bytes in
            // Skip clean 8-byte words first: most strings need no escaping.
            var clean = 0
            if let base = bytes.baseAddress {
                let raw = UnsafeRawPointer(base)
                while clean + 8 <= bytes.count, !wordNeedsJSONEscape(raw.loadUnaligned(fromByteOffset: clean, as: UInt64.self)) {
                    clean += 8
                }
            }
            var runStart = 0
            for i in clean..<bytes.count {
                let b = bytes[i]
                if b >= 0x20 && b != 0x22 && b != 0x5C && b != 0x7F { continue }
                if runStart < i { out.write(UnsafeBufferPointer(rebasing: bytes[runStart..<i])) }
                runStart = i + 1
                switch b {
                case 0x22: out.write("\\\"")
                case 0x5C: out.write("\\\\")
                case 0x08: out.write("\\b")
                case 0x0C: out.write("\\f")
                case 0x0A: out.write("\\n")
                case 0x0D: out.write("\\r")
                case 0x09: out.write("\\t")
                default:
                    let hex: StaticString = "0123456789abcdef"
                    out.write("\\u00")
                    out.write(hex.utf8Start[Int(b >> 4)])
                    out.write(hex.utf8Start[Int(b & 0xF)])
                }
            }
            if runStart < bytes.count { out.write(UnsafeBufferPointer(rebasing: bytes[runStart...])) }
        }
        out.write(UInt8(ascii: "\""))
    }

    /// Whether any of 8 bytes is below 0x20, `"`, `\\` or DEL (exact for "some byte matches").
    @inline(__always)
    static func wordNeedsJSONEscape(_ word: UInt64) -> Bool {
        WordScan.containsByte(below: 0x20, in: word) || WordScan.contains(0x22, in: word)
            || WordScan.contains(0x5C, in: word) || WordScan.contains(0x7F, in: word)
    }
}
