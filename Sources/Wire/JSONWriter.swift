/// JSON text as yojson prints it, which is what xapi's JSON-RPC answers are made of
/// (ocaml-rpc's `rpc_to_json`): the one place where this server spells strings and numbers as
/// JSON, for the codec's `Value` writer and for the `JSON` tree alike.
public enum JSONWriter {
    /// yojson's float printing: `%.16g`, or `%.17g` when 16 digits do not read back as the same
    /// double, with `.0` appended to integral values (`1.0`, `-0.0`; `1e+20` stays). NaN and
    /// the infinities have no JSON spelling; like the yojson versions xapi has shipped with (and
    /// Python's `json` module) they are written as the bare tokens `NaN`, `Infinity` and
    /// `-Infinity`. Newer yojson raises instead, turning a whole reply into an error; a lenient
    /// token keeps every other field usable.
    public static func writeDouble<Sink: ByteSink>(_ d: Double, into out: inout Sink) {
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
    @inlinable
    public static func writeString<Sink: ByteSink>(_ string: String, into out: inout Sink) {
        out.write(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { bytes in
            // Skip clean 8-byte words first: most strings need no escaping.
            var clean = 0
            if let base = bytes.baseAddress {
                let raw = UnsafeRawPointer(base)
                while clean + 8 <= bytes.count, !wordNeedsEscape(raw.loadUnaligned(fromByteOffset: clean, as: UInt64.self)) {
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
    @inlinable @inline(__always)
    static func wordNeedsEscape(_ word: UInt64) -> Bool {
        WordScan.containsByte(below: 0x20, in: word) || WordScan.contains(0x22, in: word)
            || WordScan.contains(0x5C, in: word) || WordScan.contains(0x7F, in: word)
    }
}
