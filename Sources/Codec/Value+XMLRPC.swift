import Wire
public import XapiDB

/// XML-RPC output exactly as xapi produces it: ocaml-rpc's `Xmlrpc.to_string` in its default
/// non-strict mode. Python scripts see the resulting Python types (an untyped `<value>` is a
/// `str`, so int64s arrive as decimal strings), so byte-compatibility here is behavioural
/// compatibility for every client.
extension Value {
    /// Appends the `<value>…</value>` fragment.
    ///
    /// Differences from ocaml-rpc, both deliberate: struct member names are escaped like string
    /// values (xapi writes them raw, so a map key containing `<` or `&` yields XML no client can
    /// parse), and a `.dateTime` is always printed in xapi's UTC form rather than copied from a
    /// string.
    public func writeXMLRPC(into out: inout [UInt8]) {
        var writer = ByteWriter()
        serializeXMLRPC(into: &writer)
        writer.append(to: &out)
    }

    func serializeXMLRPC<Sink: ByteSink>(into out: inout Sink) {
        switch self {
        case .string(let s):
            out.write("<value>")
            Self.writeXMLEscaped(s, into: &out)
            out.write("</value>")
        case .int(let i):
            // Untyped on purpose: xapi's non-strict mode omits `<i8>`, and Python relies on the
            // resulting `str`.
            out.write("<value>")
            out.writeDecimal(i)
            out.write("</value>")
        case .int32(let i):
            out.write("<value><i4>")
            out.writeDecimal(Int64(i))
            out.write("</i4></value>")
        case .double(let d):
            out.write("<value><double>")
            CFloatFormat.write(d, precision: 16, into: &out)
            out.write("</double></value>")
        case .bool(let b):
            out.write(b ? "<value><boolean>1</boolean></value>" : "<value><boolean>0</boolean></value>")
        case .dateTime(let t):
            out.write("<value><dateTime.iso8601>")
            var text = t.description
            text.withUTF8 { out.write($0) }
            out.write("</dateTime.iso8601></value>")
        case .array(let elements):
            out.write("<value><array><data>")
            for element in elements { element.serializeXMLRPC(into: &out) }
            out.write("</data></array></value>")
        case .structure(let structure):
            out.write("<value><struct>")
            for member in structure.members {
                out.write("<member><name>")
                Self.writeXMLEscaped(member.key, into: &out)
                out.write("</name>")
                member.value.serializeXMLRPC(into: &out)
                out.write("</member>")
            }
            out.write("</struct></value>")
        case .null:
            out.write("<value><nil/></value>")
        }
    }

    /// The fragment as a string: what a task's `result` field stores (`<value>OpaqueRef:…</value>`,
    /// or `<value></value>` for a void result), even when the task is read over JSON-RPC.
    public var xmlrpcFragment: String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        writeXMLRPC(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// ocaml-rpc's `encode_buf`: `& < > "` become entities (`'` stays as it is), and bytes below
    /// 0x20 other than TAB, LF and CR are dropped because XML 1.0 cannot carry them at all.
    /// Working on UTF-8 bytes is safe: bytes of multi-byte sequences are all ≥ 0x80.
    static func writeXMLEscaped<Sink: ByteSink>(_ string: String, into out: inout Sink) {
        var string = string
        string.withUTF8 { bytes in
            // Most strings (names, refs, uuids) need no escaping: skip clean 8-byte words.
            var clean = 0
            if let base = bytes.baseAddress {
                let raw = UnsafeRawPointer(base)
                while clean + 8 <= bytes.count, !wordNeedsXMLEscape(raw.loadUnaligned(fromByteOffset: clean, as: UInt64.self)) {
                    clean += 8
                }
            }
            if clean == bytes.count {
                out.write(bytes)
                return
            }
            var runStart = 0
            for i in clean..<bytes.count {
                let b = bytes[i]
                if b >= 0x3F || (b >= 0x20 && b != 0x22 && b != 0x26 && b != 0x3C && b != 0x3E)
                    || b == 0x09 || b == 0x0A || b == 0x0D {
                    continue
                }
                if runStart < i { out.write(UnsafeBufferPointer(rebasing: bytes[runStart..<i])) }
                runStart = i + 1
                switch b {
                case 0x22: out.write("&quot;")
                case 0x26: out.write("&amp;")
                case 0x3C: out.write("&lt;")
                case 0x3E: out.write("&gt;")
                default: break  // a dropped control byte
                }
            }
            if runStart < bytes.count { out.write(UnsafeBufferPointer(rebasing: bytes[runStart...])) }
        }
    }

    /// Whether any of 8 bytes is below 0x20 or one of `" & < >` (a superset of the bytes
    /// `writeXMLEscaped` changes: TAB, LF and CR also send the word to the byte loop).
    @inline(__always)
    static func wordNeedsXMLEscape(_ word: UInt64) -> Bool {
        WordScan.containsByte(below: 0x20, in: word) || WordScan.contains(0x22, in: word)
            || WordScan.contains(0x26, in: word) || WordScan.contains(0x3C, in: word)
            || WordScan.contains(0x3E, in: word)
    }
}
