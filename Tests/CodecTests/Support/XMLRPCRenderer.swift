import XapiDB

/// Renders a method call as some XML-RPC client might: each choice (declaration, whitespace,
/// comments, typed or untyped strings, entities, CDATA, attributes, base64, self-closing tags)
/// is drawn from the generator, so the hundreds of documents it makes cover the syntax a parser
/// has to handle. Deliberately independent of `Value.writeXMLRPC`.
struct XMLRPCRenderer {
    var rng: SeededRandom
    /// Probability of each optional decoration.
    var noise = 0.3

    init(seed: UInt64) { rng = SeededRandom(seed: seed) }

    mutating func call(_ name: String, _ params: [Value]) -> String {
        var out = ""
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: out += "<?xml version='1.0'?>\n"
        case 1: out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        case 2: out += "\u{FEFF}<?xml version=\"1.0\" encoding='utf-8' standalone=\"yes\" ?>\r\n"
        default: break
        }
        out += misc()
        out += open("methodCall") + gap() + open("methodName") + text(name, allowCDATA: true) + "</methodName>" + gap()
        if params.isEmpty, rng.chance(0.5) {
            out += "<params/>"
        } else {
            out += open("params") + gap()
            for param in params {
                out += open("param") + gap() + value(param) + gap() + "</param>" + gap()
            }
            out += "</params>"
        }
        out += gap() + "</methodCall>" + misc()
        return out
    }

    /// Insignificant whitespace and, sometimes, a comment or processing instruction.
    private mutating func gap() -> String {
        var out = ""
        if rng.chance(noise) { out += rng.pick([" ", "\n", "\t", "\r\n", "  \n  ", "&#32;", "&#x0A;", "<![CDATA[ ]]>"]) }
        if rng.chance(noise / 3) { out += rng.pick(["<!-- comment -->", "<!---->", "<?pi data?>", "<?x ?>"]) }
        if rng.chance(noise / 3) { out += rng.pick([" ", "\n"]) }
        return out
    }

    private mutating func misc() -> String {
        rng.chance(noise) ? rng.pick(["\n", "<!-- c -->\n", " <?target x?> "]) : ""
    }

    private mutating func open(_ tag: String) -> String {
        guard rng.chance(noise / 3) else { return "<\(tag)>" }
        return rng.pick(["<\(tag) >", "<\(tag) a=\"1\">", "<\(tag)\tb='x &amp; y' c=\"&#65;\"\n>", "<\(tag) xmlns:p=\"u\" p:q=\"\">"])
    }

    private mutating func value(_ v: Value) -> String {
        "<value>" + typed(v) + "</value>"
    }

    private mutating func typed(_ v: Value) -> String {
        switch v {
        case .string(let s):
            if s.isEmpty, rng.chance(0.5) {
                return rng.pick(["", "<string/>", "<string></string>", gap() + "<string/>" + gap()])
            }
            if rng.chance(0.1), let encoded = base64(s) {
                return gap() + "<base64>" + encoded + "</base64>" + gap()
            }
            // An untyped string that is blank would be taken as padding around a typed one, so
            // such strings are always typed when decorated.
            if rng.chance(0.5) { return text(s, allowCDATA: true) }
            return gap() + open("string") + text(s, allowCDATA: true) + "</string>" + gap()
        case .int(let i):
            let tag = Int32(exactly: i) != nil ? rng.pick(["int", "i4", "i8"]) : rng.pick(["int", "i8"])
            return gap() + open(tag) + (i >= 0 && rng.chance(0.1) ? "+" : "") + String(i) + "</\(tag)>" + gap()
        case .int32(let i):
            return gap() + "<i4>" + String(i) + "</i4>" + gap()
        case .double(let d):
            return gap() + "<double>" + "\(d)" + "</double>" + gap()
        case .bool(let b):
            return gap() + "<boolean>" + (b ? "1" : "0") + "</boolean>" + gap()
        case .dateTime(let t):
            let compact = t.description
            let text: String
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: text = compact
            case 1: text = String(compact.dropLast())  // Python's form: no zone, read as UTC
            default:
                let u = Array(compact)
                text = String(u[0..<4]) + "-" + String(u[4..<6]) + "-" + String(u[6..<8]) + String(u[8...])
            }
            return gap() + "<dateTime.iso8601>" + text + "</dateTime.iso8601>" + gap()
        case .array(let elements):
            if elements.isEmpty {
                return gap() + rng.pick(["<array/>", "<array></array>", "<array><data/></array>", "<array><data></data></array>"]) + gap()
            }
            var out = gap() + open("array") + gap() + open("data") + gap()
            for element in elements { out += value(element) + gap() }
            return out + "</data>" + gap() + "</array>" + gap()
        case .structure(let structure):
            if structure.isEmpty, rng.chance(0.5) {
                return gap() + rng.pick(["<struct/>", "<struct></struct>"]) + gap()
            }
            var out = gap() + open("struct") + gap()
            for member in structure.members {
                let name = member.key.isEmpty && rng.chance(0.5) ? "<name/>" : "<name>" + text(member.key, allowCDATA: true) + "</name>"
                out += open("member") + gap() + name + gap() + value(member.value) + gap() + "</member>" + gap()
            }
            return out + "</struct>" + gap()
        case .null:
            return gap() + rng.pick(["<nil/>", "<nil></nil>", "<nil />"]) + gap()
        }
    }

    /// Character data for `s`, each character written raw, as an entity or character
    /// reference, or inside CDATA; text may be interrupted by comments.
    private mutating func text(_ s: String, allowCDATA: Bool) -> String {
        var out = ""
        var inCDATA = false
        for scalar in s.unicodeScalars {
            let mustEscape = scalar == "<" || scalar == "&" || scalar == "\r"
            if inCDATA, (mustEscape && scalar != "<" && scalar != "&") || scalar == ">" || rng.chance(0.2) {
                out += "]]>"
                inCDATA = false
            }
            if !inCDATA, allowCDATA, scalar != "\r", scalar != ">", rng.chance(noise / 4) {
                out += "<![CDATA["
                inCDATA = true
            }
            if inCDATA {
                out.unicodeScalars.append(scalar)
                continue
            }
            if rng.chance(noise / 10) { out += "<!-- split -->" }
            switch scalar {
            case "<": out += rng.chance(0.8) ? "&lt;" : "&#60;"
            case "&": out += rng.chance(0.8) ? "&amp;" : "&#x26;"
            case "\r": out += rng.chance(0.5) ? "&#13;" : "&#xD;"
            case ">" where rng.chance(0.5): out += "&gt;"
            case "\"" where rng.chance(0.5): out += "&quot;"
            case "'" where rng.chance(0.5): out += "&apos;"
            case "]":
                // "]]>" may not appear raw in text.
                out += rng.chance(0.5) ? "&#93;" : "]"
                if out.hasSuffix("]]") { out.removeLast(); out += "&#93;" }
            default:
                if rng.chance(noise / 5) {
                    out += rng.chance(0.5) ? "&#\(scalar.value);" : "&#x\(String(scalar.value, radix: 16));"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        if inCDATA { out += "]]>" }
        return out
    }

    private mutating func base64(_ s: String) -> String? {
        let bytes = Array(s.utf8)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var out = ""
        var i = 0
        while i < bytes.count {
            let chunk = bytes[i..<min(i + 3, bytes.count)]
            var n = 0
            for (k, b) in chunk.enumerated() { n |= Int(b) << (16 - 8 * k) }
            for k in 0..<4 {
                out.append(k <= chunk.count ? alphabet[(n >> (18 - 6 * k)) & 63] : "=")
            }
            i += 3
            if i % 57 == 0 { out += "\n" }  // Python's line length
        }
        return out
    }
}
