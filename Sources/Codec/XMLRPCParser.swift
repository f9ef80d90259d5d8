import XapiDB

/// XML-RPC as xapi reads it (ocaml-rpc's `Xmlrpc.call_of_string` over Xmlm), decoded by hand
/// from bytes: about twice as fast as Foundation's `XMLParser` (see BENCHMARKS.md), with no
/// libxml2 underneath and therefore no DTD machinery to misconfigure.
///
/// Accepted: an optional `<?xml …?>` declaration (UTF-8 or US-ASCII), comments and processing
/// instructions anywhere, CDATA sections, the five predefined entities and character
/// references, attributes (checked, then ignored, as Xmlm does). Refused: any DOCTYPE, any
/// other entity reference, invalid UTF-8 or characters XML 1.0 forbids, text outside the root,
/// and arrays/structs nested deeper than `maxDepth`.
///
/// Value decoding follows ocaml-rpc with these deliberate differences:
/// * `<boolean>` accepts exactly `1` or `0`. ocaml-rpc reads anything but `1` as false, so a
///   client sending `true` would silently get false; here it gets an error instead.
/// * Integers are decimal with an optional sign (OCaml's `Int64.of_string` also takes `0x…`
///   and `_` separators, which no XML-RPC client produces).
/// * Empty struct member names and `<base64/>` are accepted (Xmlm/ocaml-rpc trip over both).
/// * `<base64>` yields a `.string` of the decoded bytes. OCaml strings are bytes, so xapi takes
///   any (a pickled plugin argument, say); here bytes that are not UTF-8 become U+FFFD.
public enum XMLRPC {
    /// Deepest nesting of arrays and structs in one request. XenAPI values nest a few levels
    /// (a record holding a map is three); the bound keeps recursion in the parser, and in
    /// everything that later walks the value, far from the stack's end.
    public static let maxDepth = 64

    public static func parseCall(_ body: [UInt8]) throws(WireError) -> MethodCall {
        try body.withUnsafeBufferPointer { (buffer) throws(WireError) -> MethodCall in
            var parser = XMLRPCCallParser(buffer)
            return try parser.parseCall()
        }
    }

    /// The same, straight from a network buffer's readable bytes.
    public static func parseCall(bytes: UnsafeRawBufferPointer) throws(WireError) -> MethodCall {
        var parser = XMLRPCCallParser(bytes.assumingMemoryBound(to: UInt8.self))
        return try parser.parseCall()
    }
}

/// The elements XML-RPC uses; any other element name is an error wherever it appears.
enum XMLRPCTag: UInt8, Sendable {
    case methodCall, methodName, params, param, value
    case string, int, i4, i8, boolean, double, dateTime, base64, array, data, `struct`, member, name, `nil`

    var text: String {
        switch self {
        case .dateTime: return "dateTime.iso8601"
        case .struct: return "struct"
        case .nil: return "nil"
        default: return "\(self)"
        }
    }

    init?(_ name: UnsafeBufferPointer<UInt8>) {
        @inline(__always) func eq(_ literal: StaticString) -> Bool {
            guard literal.utf8CodeUnitCount == name.count else { return false }
            for i in 0..<name.count where literal.utf8Start[i] != name[i] { return false }
            return true
        }
        switch name.count {
        case 2: if eq("i4") { self = .i4 } else if eq("i8") { self = .i8 } else { return nil }
        case 3: if eq("int") { self = .int } else if eq("nil") { self = .nil } else { return nil }
        case 4: if eq("data") { self = .data } else if eq("name") { self = .name } else { return nil }
        case 5:
            if eq("value") { self = .value } else if eq("param") { self = .param }
            else if eq("array") { self = .array } else { return nil }
        case 6:
            if eq("string") { self = .string } else if eq("member") { self = .member }
            else if eq("struct") { self = .struct } else if eq("params") { self = .params }
            else if eq("double") { self = .double } else if eq("base64") { self = .base64 }
            else { return nil }
        case 7: if eq("boolean") { self = .boolean } else { return nil }
        case 10:
            if eq("methodName") { self = .methodName } else if eq("methodCall") { self = .methodCall }
            else { return nil }
        case 16: if eq("dateTime.iso8601") { self = .dateTime } else { return nil }
        default: return nil
        }
    }
}

/// One request's parse state. Works on a borrowed buffer: every read is preceded by an explicit
/// `pos < end` check.
struct XMLRPCCallParser {
    private let bytes: UnsafeBufferPointer<UInt8>
    private let end: Int
    private var pos = 0
    private var depth = 0
    /// Decoded text when it is not a plain slice of the input (entities, CDATA, CR, comments).
    private var scratch: [UInt8] = []

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        self.end = bytes.count
    }

    // MARK: Document

    mutating func parseCall() throws(WireError) -> MethodCall {
        if end >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { pos = 3 }  // UTF-8 BOM
        let asciiOnly = try parseDeclaration()
        try validateCharacters(asciiOnly: asciiOnly)
        try skipMisc(afterRoot: false)

        guard case .start(.methodCall, false, _) = try readMarkup(expected: "<methodCall>") else {
            throw unexpectedHere(expected: "<methodCall>")
        }
        let name: String
        switch try nextMarkup(expected: "<methodName>") {
        case .start(.methodName, false, _):
            let text = try readScalarText(.methodName)
            guard !text.isEmpty else { throw .badValue(offset: text.start, type: "methodName", text: "") }
            name = string(text)
        case .start(.methodName, true, let at):
            throw .badValue(offset: at, type: "methodName", text: "")
        case let other:
            throw unexpected(other, expected: "<methodName>")
        }
        var params: [Value] = []
        switch try nextMarkup(expected: "<params>") {
        case .start(.params, true, _):
            break
        case .start(.params, false, _):
            loop: while true {
                switch try nextMarkup(expected: "<param> or </params>") {
                case .start(.param, false, _):
                    params.append(try parseValue())
                    try expectEnd(.param)
                case .end(.params, _):
                    break loop
                case let other:
                    throw unexpected(other, expected: "<param> or </params>")
                }
            }
        case let other:
            throw unexpected(other, expected: "<params>")
        }
        try expectEnd(.methodCall)
        try skipMisc(afterRoot: true)
        return MethodCall(name: name, params: params)
    }

    /// Parses `<?xml version="1.x" encoding="…" standalone="…"?>` if the document starts with
    /// it. Returns whether the document declared itself US-ASCII.
    private mutating func parseDeclaration() throws(WireError) -> Bool {
        guard at("<?xml"), pos + 5 < end, isWhitespace(bytes[pos + 5]) else { return false }
        pos += 5
        var asciiOnly = false
        var seen = 0  // 0: nothing yet, 1: version, 2: encoding, 3: standalone
        while true {
            let hadSpace = skipWhitespace()
            if at("?>") { pos += 2; break }
            guard pos < end else { throw .truncated(expected: "'?>' closing the XML declaration") }
            guard hadSpace else { throw syntax("expected whitespace in the XML declaration") }
            let nameStart = pos
            while pos < end, isNameChar(bytes[pos]) { pos += 1 }
            let name = String(decoding: UnsafeBufferPointer(rebasing: bytes[nameStart..<pos]), as: UTF8.self)
            _ = skipWhitespace()
            guard pos < end else { throw .truncated(expected: "'=' in the XML declaration") }
            guard bytes[pos] == UInt8(ascii: "=") else { throw syntax("expected '=' in the XML declaration") }
            pos += 1
            _ = skipWhitespace()
            guard pos < end else { throw .truncated(expected: "a quoted value in the XML declaration") }
            let quote = bytes[pos]
            guard quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") else {
                throw syntax("expected a quoted value in the XML declaration")
            }
            pos += 1
            let valueStart = pos
            while pos < end, bytes[pos] != quote {
                guard bytes[pos] < 0x80 else { throw syntax("non-ASCII byte in the XML declaration") }
                pos += 1
            }
            guard pos < end else { throw .truncated(expected: "a closing quote in the XML declaration") }
            let value = String(decoding: UnsafeBufferPointer(rebasing: bytes[valueStart..<pos]), as: UTF8.self)
            pos += 1
            switch name {
            case "version" where seen == 0:
                // XML 1.0 (5th edition) reads any "1.<digits>" document as 1.0.
                let digits = value.utf8.dropFirst(2)
                guard value.hasPrefix("1."), !digits.isEmpty, digits.allSatisfy({ (0x30...0x39).contains($0) }) else {
                    throw syntax("unsupported XML version \"\(WireError.excerpt(value))\" in the XML declaration")
                }
                seen = 1
            case "encoding" where seen == 1:
                switch value.lowercased() {
                case "utf-8", "utf8": break
                case "us-ascii", "ascii": asciiOnly = true
                default: throw .unsupportedEncoding(WireError.excerpt(value))
                }
                seen = 2
            case "standalone" where seen == 1 || seen == 2:
                guard value == "yes" || value == "no" else { throw syntax("invalid standalone value in the XML declaration") }
                seen = 3
            default:
                throw syntax("unexpected \"\(WireError.excerpt(name))\" in the XML declaration")
            }
        }
        guard seen >= 1 else { throw syntax("XML declaration without a version") }
        return asciiOnly
    }

    /// One pass over the whole body: valid UTF-8, and only characters XML 1.0 allows (no C0
    /// controls other than TAB/LF/CR, no U+FFFE/U+FFFF). After this, every slice of the body is
    /// a valid string, so decoding text never has to check again.
    private func validateCharacters(asciiOnly: Bool) throws(WireError) {
        guard end > 0, let base = bytes.baseAddress else { return }
        let raw = UnsafeRawPointer(base)
        let high: UInt64 = 0x8080_8080_8080_8080
        var i = 0
        while i < end {
            if i + 8 <= end {
                // Eight ASCII bytes none of which is a control character: adding 0x60 sets the
                // high bit of every byte ≥ 0x20 and of no byte below it.
                let word = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                if word & high == 0, (word &+ 0x6060_6060_6060_6060) & high == high {
                    i += 8
                    continue
                }
            }
            let b = bytes[i]
            if b < 0x80 {
                guard b >= 0x20 || b == 0x09 || b == 0x0A || b == 0x0D else {
                    throw .syntax(offset: i, reason: "control character \(b) is not allowed in XML")
                }
                i += 1
                continue
            }
            guard !asciiOnly else { throw .invalidUTF8(offset: i) }
            guard let length = UTF8Check.sequenceLength(bytes, at: i, end: end) else {
                throw .invalidUTF8(offset: i)
            }
            if b == 0xEF, bytes[i + 1] == 0xBF, bytes[i + 2] >= 0xBE {
                throw .syntax(offset: i, reason: "U+FFFE/U+FFFF is not allowed in XML")
            }
            i += length
        }
    }

    /// Skips what may surround the root element: whitespace, comments, processing instructions.
    private mutating func skipMisc(afterRoot: Bool) throws(WireError) {
        while true {
            _ = skipWhitespace()
            guard pos < end else {
                if afterRoot { return }
                throw .truncated(expected: "<methodCall>")
            }
            if at("<!--") {
                try skipComment()
            } else if at("<?") {
                try skipProcessingInstruction()
            } else if at("<!") {
                throw forbiddenDeclaration()
            } else if bytes[pos] == UInt8(ascii: "<") {
                if afterRoot { throw syntax("content after the root element") }
                return
            } else {
                throw syntax("text outside the root element")
            }
        }
    }

    // MARK: XML-RPC values

    private mutating func parseValue() throws(WireError) -> Value {
        switch try nextMarkup(expected: "<value>") {
        case .start(.value, true, _):
            return .string("")
        case .start(.value, false, _):
            return try parseValueContent()
        case let other:
            throw unexpected(other, expected: "<value>")
        }
    }

    /// After `<value>`: untyped text (a string), or whitespace and one typed element.
    private mutating func parseValueContent() throws(WireError) -> Value {
        let text = try readText()
        let markup = try readMarkup(expected: "</value> or a typed value")
        switch markup {
        case .end(.value, _):
            return .string(string(text))
        case .start(let tag, let selfClosing, let at):
            guard text.blank else {
                throw .unexpected(offset: at, found: "<\(tag.text)>", expected: "</value> after text")
            }
            let value = try parseTyped(tag, selfClosing: selfClosing, at: at)
            try expectEnd(.value)
            return value
        default:
            throw unexpected(markup, expected: "</value>")
        }
    }

    private mutating func parseTyped(_ tag: XMLRPCTag, selfClosing: Bool, at: Int) throws(WireError) -> Value {
        switch tag {
        case .string:
            if selfClosing { return .string("") }
            // Read first, then decode: `string(…)` captures `self` (and `scratch`) before its
            // argument would run.
            let text = try readScalarText(.string)
            return .string(string(text))
        case .int, .i4, .i8:
            let text = try scalarText(tag, selfClosing: selfClosing, at: at)
            guard let number = Self.parseInt64(text) else { throw badValue(tag, text, at: at) }
            return .int(number)
        case .boolean:
            let text = try scalarText(tag, selfClosing: selfClosing, at: at)
            switch text {
            case "1": return .bool(true)
            case "0": return .bool(false)
            default: throw badValue(tag, text, at: at)
            }
        case .double:
            let text = try scalarText(tag, selfClosing: selfClosing, at: at)
            guard let number = Self.parseDouble(text) else { throw badValue(tag, text, at: at) }
            return .double(number)
        case .dateTime:
            let text = try scalarText(tag, selfClosing: selfClosing, at: at)
            guard let time = DateTime(parsing: text) else { throw badValue(tag, text, at: at) }
            return .dateTime(time)
        case .base64:
            if selfClosing { return .string("") }
            let text = try readScalarText(.base64)
            guard let decoded = decodeBase64(text) else {
                throw badValue(tag, string(text), at: at)
            }
            return .string(decoded)
        case .array:
            try enterContainer(at: at)
            defer { depth -= 1 }
            if selfClosing { return .array([]) }
            var elements: [Value] = []
            switch try nextMarkup(expected: "<data> or </array>") {
            case .end(.array, _):
                return .array([])
            case .start(.data, true, _):
                break
            case .start(.data, false, _):
                loop: while true {
                    switch try nextMarkup(expected: "<value> or </data>") {
                    case .start(.value, true, _):
                        elements.append(.string(""))
                    case .start(.value, false, _):
                        elements.append(try parseValueContent())
                    case .end(.data, _):
                        break loop
                    case let other:
                        throw unexpected(other, expected: "<value> or </data>")
                    }
                }
            case let other:
                throw unexpected(other, expected: "<data>")
            }
            try expectEnd(.array)
            return .array(elements)
        case .struct:
            try enterContainer(at: at)
            defer { depth -= 1 }
            var structure = Structure()
            if selfClosing { return .structure(structure) }
            loop: while true {
                switch try nextMarkup(expected: "<member> or </struct>") {
                case .start(.member, false, _):
                    let key: String
                    switch try nextMarkup(expected: "<name>") {
                    case .start(.name, true, _): key = ""
                    case .start(.name, false, _):
                        let text = try readScalarText(.name)
                        key = string(text)
                    case let other: throw unexpected(other, expected: "<name>")
                    }
                    structure.append(key, try parseValue())
                    try expectEnd(.member)
                case .end(.struct, _):
                    break loop
                case let other:
                    throw unexpected(other, expected: "<member> or </struct>")
                }
            }
            return .structure(structure)
        case .nil:
            if !selfClosing { try expectEnd(.nil) }
            return .null
        case .methodCall, .methodName, .params, .param, .value, .data, .member, .name:
            throw .unexpected(offset: at, found: "<\(tag.text)>", expected: "a value type")
        }
    }

    private mutating func enterContainer(at: Int) throws(WireError) {
        depth += 1
        if depth > XMLRPC.maxDepth { throw .tooDeep(offset: at, limit: XMLRPC.maxDepth) }
    }

    /// The text of a scalar element; an empty one is an error, as in ocaml-rpc.
    private mutating func scalarText(_ tag: XMLRPCTag, selfClosing: Bool, at: Int) throws(WireError) -> String {
        if selfClosing { throw .badValue(offset: at, type: tag.text, text: "") }
        let text = try readScalarText(tag)
        if text.isEmpty { throw .badValue(offset: at, type: tag.text, text: "") }
        return string(text)
    }

    private func badValue(_ tag: XMLRPCTag, _ text: String, at: Int) -> WireError {
        .badValue(offset: at, type: tag.text, text: WireError.excerpt(text))
    }

    /// Decimal, optional sign, within Int64.
    static func parseInt64(_ text: String) -> Int64? {
        var utf8 = text.utf8[...]
        var negative = false
        if let first = utf8.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            utf8 = utf8.dropFirst()
        }
        guard !utf8.isEmpty else { return nil }
        var magnitude: UInt64 = 0
        for b in utf8 {
            guard b >= 0x30, b <= 0x39 else { return nil }
            let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(b - 0x30))
            guard !o1, !o2 else { return nil }
            magnitude = sum
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    /// What OCaml's `float_of_string` takes from real clients: decimal notation with optional
    /// exponent, and `inf`/`infinity`/`nan` in any case (Python writes `inf` and `nan`).
    /// Hexadecimal floats and `_` separators are not accepted.
    static func parseDouble(_ text: String) -> Double? {
        var body = Substring(text)
        if let first = body.first, first == "+" || first == "-" { body = body.dropFirst() }
        switch body.lowercased() {
        case "inf", "infinity", "nan":
            return Double(text)
        default:
            var digits = 0
            for b in body.utf8 {
                switch b {
                case 0x30...0x39: digits += 1
                case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "+"), UInt8(ascii: "-"): break
                default: return nil
                }
            }
            guard digits > 0 else { return nil }
            return Double(text)
        }
    }

    /// Standard base64, whitespace ignored (Python wraps at 76 columns), padding required.
    private func decodeBase64(_ text: Text) -> String? {
        let source: [UInt8] = text.simple ? Array(bytes[text.start..<text.end]) : scratch
        var out: [UInt8] = []
        out.reserveCapacity(source.count / 4 * 3)
        var quad: UInt32 = 0
        var count = 0
        var padding = 0
        for b in source {
            let sextet: UInt32
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): sextet = UInt32(b - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): sextet = UInt32(b - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): sextet = UInt32(b - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): sextet = 62
            case UInt8(ascii: "/"): sextet = 63
            case UInt8(ascii: "="):
                guard count >= 2 else { return nil }
                padding += 1
                sextet = 0
            case 0x20, 0x09, 0x0A, 0x0D: continue
            default: return nil
            }
            if padding > 0, b != UInt8(ascii: "=") { return nil }  // data after padding
            quad = quad << 6 | sextet
            count += 1
            if count == 4 {
                out.append(UInt8(truncatingIfNeeded: quad >> 16))
                if padding < 2 { out.append(UInt8(truncatingIfNeeded: quad >> 8)) }
                if padding < 1 { out.append(UInt8(truncatingIfNeeded: quad)) }
                quad = 0
                count = 0
                if padding > 0 { padding = 3 }  // only whitespace may follow
            }
        }
        guard count == 0 else { return nil }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: Markup

    enum Markup {
        case start(XMLRPCTag, selfClosing: Bool, at: Int)
        case end(XMLRPCTag, at: Int)
        case eof
    }

    /// Character data between two tags: a plain slice of the input when nothing needed
    /// decoding, otherwise the decoded bytes in `scratch`.
    struct Text {
        var start: Int
        var end: Int
        var simple: Bool
        var blank: Bool
        var isEmpty: Bool
    }

    private func string(_ text: Text) -> String {
        if text.simple {
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[text.start..<text.end]), as: UTF8.self)
        }
        return String(decoding: scratch, as: UTF8.self)
    }

    /// Skips blank text (XML-RPC's insignificant whitespace) and reads the next tag.
    private mutating func nextMarkup(expected: @autoclosure () -> String) throws(WireError) -> Markup {
        let text = try readText()
        guard text.blank else {
            throw .unexpected(offset: text.start, found: "text", expected: expected())
        }
        return try readMarkup(expected: expected())
    }

    private mutating func expectEnd(_ tag: XMLRPCTag) throws(WireError) {
        let markup = try nextMarkup(expected: "</\(tag.text)>")
        guard case .end(tag, _) = markup else { throw unexpected(markup, expected: "</\(tag.text)>") }
    }

    /// Text content of an element that may hold only text, up to its end tag.
    private mutating func readScalarText(_ tag: XMLRPCTag) throws(WireError) -> Text {
        let text = try readText()
        let markup = try readMarkup(expected: "</\(tag.text)>")
        guard case .end(tag, _) = markup else { throw unexpected(markup, expected: "</\(tag.text)>") }
        return text
    }

    private func unexpected(_ markup: Markup, expected: String) -> WireError {
        switch markup {
        case .start(let tag, _, let at):
            return .unexpected(offset: at, found: "<\(tag.text)>", expected: expected)
        case .end(let tag, let at):
            return .syntax(offset: at, reason: "unexpected </\(tag.text)>, expected \(expected)")
        case .eof:
            return .truncated(expected: expected)
        }
    }

    private func unexpectedHere(expected: String) -> WireError {
        pos < end ? .unexpected(offset: pos, found: "content", expected: expected) : .truncated(expected: expected)
    }

    /// Reads the tag at `pos` (which `readText` left at a `<`, or at the end of input). An
    /// element name outside XML-RPC's vocabulary is an error right here; an end tag names the
    /// element it closes, and the caller checks it is the right one.
    private mutating func readMarkup(expected: @autoclosure () -> String) throws(WireError) -> Markup {
        guard pos < end else { return .eof }
        let at = pos
        pos += 1
        guard pos < end else { throw .truncated(expected: expected()) }
        if bytes[pos] == UInt8(ascii: "/") {
            pos += 1
            let name = try readName()
            _ = skipWhitespace()
            guard pos < end else { throw .truncated(expected: "'>'") }
            guard bytes[pos] == UInt8(ascii: ">") else { throw syntax("expected '>' closing an end tag") }
            pos += 1
            guard let tag = XMLRPCTag(name) else {
                throw .syntax(offset: at, reason: "unexpected end tag </\(nameText(name))>, expected \(expected())")
            }
            return .end(tag, at: at)
        }
        let name = try readName()
        guard let tag = XMLRPCTag(name) else {
            throw .unexpected(offset: at, found: "<\(nameText(name))>", expected: expected())
        }
        let selfClosing = try skipAttributes()
        return .start(tag, selfClosing: selfClosing, at: at)
    }

    private func nameText(_ name: UnsafeBufferPointer<UInt8>) -> String {
        WireError.excerpt(String(decoding: name, as: UTF8.self))
    }

    private mutating func readName() throws(WireError) -> UnsafeBufferPointer<UInt8> {
        let start = pos
        guard pos < end else { throw .truncated(expected: "a name") }
        let (first, length) = scalar(at: pos)
        guard Self.isNameStart(first) else { throw syntax("expected a name") }
        pos += length
        while pos < end {
            let (next, length) = scalar(at: pos)
            guard Self.isNameChar(next) else { break }
            pos += length
        }
        // A name is always followed by something ('>', '=', '?>'…); at the end it was cut off.
        guard pos < end else { throw .truncated(expected: "the rest of a tag") }
        return UnsafeBufferPointer(rebasing: bytes[start..<pos])
    }

    /// Checks the attributes of a start tag for well-formedness and drops them. Returns whether
    /// the tag is self-closing.
    private mutating func skipAttributes() throws(WireError) -> Bool {
        var names: [Range<Int>] = []
        while true {
            let hadSpace = skipWhitespace()
            guard pos < end else { throw .truncated(expected: "'>'") }
            switch bytes[pos] {
            case UInt8(ascii: ">"):
                try checkPrefixes(names)
                pos += 1
                return false
            case UInt8(ascii: "/"):
                pos += 1
                guard pos < end else { throw .truncated(expected: "'>'") }
                guard bytes[pos] == UInt8(ascii: ">") else { throw syntax("expected '/>'") }
                try checkPrefixes(names)
                pos += 1
                return true
            default:
                guard hadSpace else { throw syntax("expected whitespace before an attribute") }
            }
            let nameStart = pos
            _ = try readName()
            let name = nameStart..<pos
            for other in names where bytes[other].elementsEqual(bytes[name]) {
                throw .syntax(offset: nameStart, reason: "attribute given twice")
            }
            names.append(name)
            _ = skipWhitespace()
            guard pos < end else { throw .truncated(expected: "'='") }
            guard bytes[pos] == UInt8(ascii: "=") else { throw syntax("expected '=' after an attribute name") }
            pos += 1
            _ = skipWhitespace()
            guard pos < end else { throw .truncated(expected: "an attribute value") }
            let quote = bytes[pos]
            guard quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") else {
                throw syntax("expected a quoted attribute value")
            }
            pos += 1
            let valueStart = pos
            while true {
                guard pos < end else { throw .truncated(expected: "the end of an attribute value") }
                let b = bytes[pos]
                if b == quote { pos += 1; break }
                if b == UInt8(ascii: "<") { throw syntax("'<' in an attribute value") }
                if b == UInt8(ascii: "&") { _ = try readReference() } else { pos += 1 }
            }
            // Namespaces 1.0: a prefix cannot be bound to the empty name.
            if pos - 1 == valueStart, bytes[name].starts(with: "xmlns:".utf8) {
                throw .syntax(offset: nameStart, reason: "empty namespace name for a prefix")
            }
        }
    }

    /// Namespace well-formedness of attribute names, as Xmlm and libxml2 enforce it: a prefixed
    /// name needs its prefix declared. Only declarations on the same element are seen (XML-RPC
    /// documents have none at all), which errs on the side of refusing.
    private func checkPrefixes(_ names: [Range<Int>]) throws(WireError) {
        for name in names {
            guard let colon = bytes[name].firstIndex(of: UInt8(ascii: ":")) else { continue }
            let prefix = bytes[name.lowerBound..<colon]
            let local = bytes[(colon + 1)..<name.upperBound]
            guard !prefix.isEmpty, !local.isEmpty, Self.isNameStart(scalar(at: colon + 1).0),
                  !local.contains(UInt8(ascii: ":")) else {
                throw .syntax(offset: name.lowerBound, reason: "malformed qualified attribute name")
            }
            if prefix.elementsEqual("xmlns".utf8) || prefix.elementsEqual("xml".utf8) { continue }
            let declared = names.contains { other in
                let otherName = bytes[other]
                return otherName.count == 6 + prefix.count && otherName.starts(with: "xmlns:".utf8)
                    && otherName.dropFirst(6).elementsEqual(prefix)
            }
            guard declared else {
                throw .syntax(offset: name.lowerBound, reason: "undeclared namespace prefix in an attribute name")
            }
        }
    }

    // MARK: Character data

    /// Reads character data up to the next start or end tag (or the end of input), decoding
    /// references, CDATA and line ends, skipping comments and processing instructions. As in
    /// Xmlm, text interrupted by a comment is one text.
    private mutating func readText() throws(WireError) -> Text {
        let start = pos
        var segment = pos
        var simple = true
        var blank = true

        @inline(__always) func flush(_ parser: inout XMLRPCCallParser) {
            if simple {
                simple = false
                parser.scratch.removeAll(keepingCapacity: true)
            }
            parser.scratch.append(contentsOf: parser.bytes[segment..<parser.pos])
        }

        scan: while pos < end {
            let b = bytes[pos]
            switch b {
            case UInt8(ascii: "<"):
                guard pos + 1 < end else { throw .truncated(expected: "markup after '<'") }
                let next = bytes[pos + 1]
                guard next == UInt8(ascii: "!") || next == UInt8(ascii: "?") else { break scan }
                flush(&self)
                if next == UInt8(ascii: "?") {
                    try skipProcessingInstruction()
                } else if at("<!--") {
                    try skipComment()
                } else if at("<![CDATA[") {
                    if !(try appendCDATA()) { blank = false }
                } else {
                    throw forbiddenDeclaration()
                }
                segment = pos
            case UInt8(ascii: "&"):
                flush(&self)
                let scalar = try readReference()
                if scalar != 0x20, scalar != 0x09, scalar != 0x0A { blank = false }
                UTF8Check.append(scalar, to: &scratch)
                segment = pos
            case 0x0D:
                // XML end-of-line handling: CR LF and lone CR both become LF.
                flush(&self)
                scratch.append(0x0A)
                pos += 1
                if pos < end, bytes[pos] == 0x0A { pos += 1 }
                segment = pos
            case UInt8(ascii: "]"):
                if pos + 2 < end, bytes[pos + 1] == UInt8(ascii: "]"), bytes[pos + 2] == UInt8(ascii: ">") {
                    throw syntax("']]>' is not allowed in text")
                }
                blank = false
                pos += 1
            case 0x20, 0x09, 0x0A:
                pos += 1
            default:
                blank = false
                pos += 1
            }
        }
        if simple {
            return Text(start: start, end: pos, simple: true, blank: blank, isEmpty: start == pos)
        }
        scratch.append(contentsOf: bytes[segment..<pos])
        return Text(start: start, end: pos, simple: false, blank: blank, isEmpty: scratch.isEmpty)
    }

    /// Appends a CDATA section's content to `scratch`; returns whether it was blank.
    private mutating func appendCDATA() throws(WireError) -> Bool {
        pos += 9  // "<![CDATA["
        var blank = true
        while true {
            guard pos < end else { throw .truncated(expected: "']]>' closing a CDATA section") }
            let b = bytes[pos]
            if b == UInt8(ascii: "]"), pos + 2 < end, bytes[pos + 1] == UInt8(ascii: "]"),
               bytes[pos + 2] == UInt8(ascii: ">") {
                pos += 3
                return blank
            }
            if b == 0x0D {
                scratch.append(0x0A)
                pos += 1
                if pos < end, bytes[pos] == 0x0A { pos += 1 }
                continue
            }
            if b != 0x20, b != 0x09, b != 0x0A { blank = false }
            scratch.append(b)
            pos += 1
        }
    }

    /// `&lt;` `&gt;` `&amp;` `&quot;` `&apos;` `&#N;` `&#xN;` — nothing else. Any other name
    /// would need a DTD to mean something, and DTDs are refused.
    private mutating func readReference() throws(WireError) -> UInt32 {
        let at = pos
        pos += 1  // '&'
        guard pos < end else { throw .truncated(expected: "a reference") }
        if bytes[pos] == UInt8(ascii: "#") {
            pos += 1
            var hex = false
            if pos < end, bytes[pos] == UInt8(ascii: "x") { hex = true; pos += 1 }
            var value: UInt32 = 0
            var digits = 0
            while pos < end, bytes[pos] != UInt8(ascii: ";") {
                let b = bytes[pos]
                let digit: UInt32
                switch b {
                case 0x30...0x39: digit = UInt32(b - 0x30)
                case UInt8(ascii: "a")...UInt8(ascii: "f") where hex: digit = UInt32(b - UInt8(ascii: "a")) + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F") where hex: digit = UInt32(b - UInt8(ascii: "A")) + 10
                default: throw .syntax(offset: at, reason: "malformed character reference")
                }
                value = min(value * (hex ? 16 : 10) + digit, 0x110000)  // saturate: no overflow
                digits += 1
                pos += 1
            }
            guard pos < end else { throw .truncated(expected: "';' ending a character reference") }
            pos += 1
            guard digits > 0 else { throw .syntax(offset: at, reason: "malformed character reference") }
            switch value {
            case 0x09, 0x0A, 0x0D, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF:
                return value
            default:
                throw .syntax(offset: at, reason: "character reference to a character XML does not allow")
            }
        }
        let nameStart = pos
        while pos < end, pos - nameStart <= 32, isNameChar(bytes[pos]) { pos += 1 }
        guard pos < end else { throw .truncated(expected: "';' ending an entity reference") }
        guard bytes[pos] == UInt8(ascii: ";"), pos > nameStart else {
            throw .syntax(offset: at, reason: "'&' not starting a reference")
        }
        let name = UnsafeBufferPointer(rebasing: bytes[nameStart..<pos])
        pos += 1
        switch name.count {
        case 2 where name[1] == UInt8(ascii: "t"):
            if name[0] == UInt8(ascii: "l") { return 0x3C }
            if name[0] == UInt8(ascii: "g") { return 0x3E }
        case 3 where name.elementsEqual("amp".utf8): return 0x26
        case 4 where name.elementsEqual("quot".utf8): return 0x22
        case 4 where name.elementsEqual("apos".utf8): return 0x27
        default: break
        }
        throw .forbidden(offset: at, reason: "entity reference &\(nameText(name)); (only the predefined entities are accepted)")
    }

    private mutating func skipComment() throws(WireError) {
        let at = pos
        pos += 4  // "<!--"
        while true {
            guard pos + 1 < end else { throw .truncated(expected: "'-->' closing a comment") }
            if bytes[pos] == UInt8(ascii: "-"), bytes[pos + 1] == UInt8(ascii: "-") {
                guard pos + 2 < end else { throw .truncated(expected: "'-->' closing a comment") }
                guard bytes[pos + 2] == UInt8(ascii: ">") else {
                    throw .syntax(offset: at, reason: "'--' inside a comment")
                }
                pos += 3
                return
            }
            pos += 1
        }
    }

    private mutating func skipProcessingInstruction() throws(WireError) {
        let start = pos
        pos += 2  // "<?"
        let target = try readName()
        // Targets starting "xml" are reserved ("xml" itself is a misplaced declaration), and a
        // namespace-aware parser takes no colon in them; neither has any use in an RPC body.
        if target.count >= 3,
           target[0] | 0x20 == UInt8(ascii: "x"), target[1] | 0x20 == UInt8(ascii: "m"),
           target[2] | 0x20 == UInt8(ascii: "l") {
            throw .syntax(offset: start, reason: target.count == 3
                ? "XML declaration not at the start of the document"
                : "reserved processing instruction target")
        }
        if target.contains(UInt8(ascii: ":")) {
            throw .syntax(offset: start, reason: "':' in a processing instruction target")
        }
        guard pos < end else { throw .truncated(expected: "'?>'") }
        if !at("?>") {
            guard isWhitespace(bytes[pos]) else { throw .syntax(offset: start, reason: "malformed processing instruction") }
        }
        while true {
            guard pos + 1 < end else { throw .truncated(expected: "'?>' closing a processing instruction") }
            if bytes[pos] == UInt8(ascii: "?"), bytes[pos + 1] == UInt8(ascii: ">") {
                pos += 2
                return
            }
            pos += 1
        }
    }

    /// Anything starting `<!` that is not a comment or CDATA: DOCTYPE, ENTITY and friends.
    private func forbiddenDeclaration() -> WireError {
        if at("<!DOCTYPE") {
            return .forbidden(offset: pos, reason: "DOCTYPE declarations are not accepted")
        }
        if at("<!ENTITY") {
            return .forbidden(offset: pos, reason: "entity declarations are not accepted")
        }
        if pos + 2 >= end { return .truncated(expected: "a comment or CDATA section") }
        return .syntax(offset: pos, reason: "unexpected '<!'")
    }

    // MARK: Bytes

    @inline(__always)
    private func at(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard pos + count <= end else { return false }
        for i in 0..<count where bytes[pos + i] != literal.utf8Start[i] { return false }
        return true
    }

    /// Skips XML whitespace; returns whether there was any.
    @inline(__always)
    private mutating func skipWhitespace() -> Bool {
        let start = pos
        while pos < end, isWhitespace(bytes[pos]) { pos += 1 }
        return pos > start
    }

    @inline(__always)
    private func isWhitespace(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x0A || b == 0x09 || b == 0x0D
    }

    /// A byte for the ASCII-only names of the XML declaration and of entity references, which
    /// are compared with fixed spellings afterwards.
    @inline(__always)
    private func isNameChar(_ b: UInt8) -> Bool {
        b >= 0x80 || Self.isNameChar(UInt32(b))
    }

    /// The scalar at `index` and its UTF-8 length (the body is already validated).
    @inline(__always)
    private func scalar(at index: Int) -> (UInt32, Int) {
        let lead = bytes[index]
        if lead < 0x80 { return (UInt32(lead), 1) }
        let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2
        guard index + length <= end else { return (0, 1) }
        var value = UInt32(lead) & (0xFF >> (length + 1))
        for i in 1..<length { value = value << 6 | UInt32(bytes[index + i] & 0x3F) }
        return (value, length)
    }

    /// XML 1.0 (5th edition) NameStartChar.
    static func isNameStart(_ c: UInt32) -> Bool {
        switch c {
        case 0x41...0x5A, 0x61...0x7A, 0x5F, 0x3A: return true
        case 0xC0...0xD6, 0xD8...0xF6, 0xF8...0x2FF, 0x370...0x37D, 0x37F...0x1FFF, 0x200C...0x200D,
             0x2070...0x218F, 0x2C00...0x2FEF, 0x3001...0xD7FF, 0xF900...0xFDCF, 0xFDF0...0xFFFD,
             0x10000...0xEFFFF:
            return true
        default: return false
        }
    }

    /// XML 1.0 (5th edition) NameChar.
    static func isNameChar(_ c: UInt32) -> Bool {
        switch c {
        case 0x30...0x39, 0x2D, 0x2E, 0xB7, 0x300...0x36F, 0x203F...0x2040: return true
        default: return isNameStart(c)
        }
    }

    private func syntax(_ reason: String) -> WireError {
        pos < end ? .syntax(offset: pos, reason: reason) : .truncated(expected: reason)
    }
}
