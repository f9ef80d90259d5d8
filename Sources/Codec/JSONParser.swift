public import XapiDB

/// JSON decoded by hand from bytes into `Value`, about 2.5× the speed of `JSONSerialization`
/// (BENCHMARKS.md) and without the detour through `Any`.
///
/// RFC 8259, with these decisions:
/// * Integers (no fraction, no exponent) become `.int`; one outside Int64 becomes `.double`.
///   Every other number is `.double`.
/// * The bare tokens `NaN`, `Infinity` and `-Infinity` are read as doubles: yojson (xapi's JSON
///   library) reads them, and `Value.writeJSON` writes them for non-finite doubles.
/// * Duplicate object keys are all kept, in order, as yojson keeps them; `Structure`'s
///   subscript then finds the first, which is what ocaml-rpc's `List.assoc` lookups see.
/// * Strings must be valid UTF-8; `\u` escapes must not leave a lone surrogate; raw control
///   characters are an error (they must be escaped).
/// * Arrays and objects nest at most `maxDepth` deep.
public enum JSONText {
    public static let maxDepth = 64

    public static func parse(_ bytes: [UInt8]) throws(WireError) -> Value {
        try bytes.withUnsafeBufferPointer { (buffer) throws(WireError) -> Value in
            var parser = JSONValueParser(buffer)
            return try parser.parseDocument()
        }
    }

    /// The same, straight from a network buffer's readable bytes.
    public static func parse(bytes: UnsafeRawBufferPointer) throws(WireError) -> Value {
        var parser = JSONValueParser(bytes.assumingMemoryBound(to: UInt8.self))
        return try parser.parseDocument()
    }
}

struct JSONValueParser {
    private let bytes: UnsafeBufferPointer<UInt8>
    private let end: Int
    private var pos = 0
    private var depth = 0
    private var scratch: [UInt8] = []

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        self.end = bytes.count
    }

    mutating func parseDocument() throws(WireError) -> Value {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        guard pos == end else { throw .syntax(offset: pos, reason: "content after the JSON value") }
        return value
    }

    private mutating func parseValue() throws(WireError) -> Value {
        guard pos < end else { throw .truncated(expected: "a JSON value") }
        switch bytes[pos] {
        case UInt8(ascii: "{"):
            return .structure(try parseObject())
        case UInt8(ascii: "["):
            return .array(try parseArray())
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "N"):
            try literal("NaN")
            return .double(.nan)
        case UInt8(ascii: "I"):
            try literal("Infinity")
            return .double(.infinity)
        case UInt8(ascii: "-") where pos + 1 < end && bytes[pos + 1] == UInt8(ascii: "I"):
            pos += 1
            try literal("Infinity")
            return .double(-.infinity)
        case UInt8(ascii: "-"), 0x30...0x39:
            return try parseNumber()
        default:
            throw .syntax(offset: pos, reason: "unexpected character where a JSON value should start")
        }
    }

    private mutating func enter() throws(WireError) {
        depth += 1
        if depth > JSONText.maxDepth { throw .tooDeep(offset: pos, limit: JSONText.maxDepth) }
    }

    private mutating func parseObject() throws(WireError) -> Structure {
        try enter()
        defer { depth -= 1 }
        pos += 1  // '{'
        var structure = Structure()
        skipWhitespace()
        guard pos < end else { throw .truncated(expected: "'}' or a member name") }
        if bytes[pos] == UInt8(ascii: "}") { pos += 1; return structure }
        while true {
            guard pos < end else { throw .truncated(expected: "a member name") }
            guard bytes[pos] == UInt8(ascii: "\"") else { throw .syntax(offset: pos, reason: "expected a member name") }
            let key = try parseString()
            skipWhitespace()
            guard pos < end else { throw .truncated(expected: "':'") }
            guard bytes[pos] == UInt8(ascii: ":") else { throw .syntax(offset: pos, reason: "expected ':'") }
            pos += 1
            skipWhitespace()
            structure.append(key, try parseValue())
            skipWhitespace()
            guard pos < end else { throw .truncated(expected: "',' or '}'") }
            switch bytes[pos] {
            case UInt8(ascii: ","):
                pos += 1
                skipWhitespace()
            case UInt8(ascii: "}"):
                pos += 1
                return structure
            default:
                throw .syntax(offset: pos, reason: "expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray() throws(WireError) -> [Value] {
        try enter()
        defer { depth -= 1 }
        pos += 1  // '['
        var elements: [Value] = []
        skipWhitespace()
        guard pos < end else { throw .truncated(expected: "']' or a value") }
        if bytes[pos] == UInt8(ascii: "]") { pos += 1; return elements }
        while true {
            elements.append(try parseValue())
            skipWhitespace()
            guard pos < end else { throw .truncated(expected: "',' or ']'") }
            switch bytes[pos] {
            case UInt8(ascii: ","):
                pos += 1
                skipWhitespace()
            case UInt8(ascii: "]"):
                pos += 1
                return elements
            default:
                throw .syntax(offset: pos, reason: "expected ',' or ']'")
            }
        }
    }

    /// A string starting at the opening quote. Unescaped strings are decoded straight from the
    /// input; escapes go through `scratch`.
    private mutating func parseString() throws(WireError) -> String {
        pos += 1  // '"'
        let start = pos
        var segment = pos
        var escaped = false
        while true {
            guard pos < end else { throw .truncated(expected: "'\"' closing a string") }
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                let text: String
                if escaped {
                    scratch.append(contentsOf: bytes[segment..<pos])
                    text = String(decoding: scratch, as: UTF8.self)
                } else {
                    text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
                }
                pos += 1
                return text
            }
            if b == UInt8(ascii: "\\") {
                if !escaped {
                    escaped = true
                    scratch.removeAll(keepingCapacity: true)
                }
                scratch.append(contentsOf: bytes[segment..<pos])
                try appendEscape()
                segment = pos
                continue
            }
            if b < 0x20 {
                throw .syntax(offset: pos, reason: "unescaped control character in a string")
            }
            if b < 0x80 {
                pos += 1
                continue
            }
            guard let length = UTF8Check.sequenceLength(bytes, at: pos, end: end) else {
                throw .invalidUTF8(offset: pos)
            }
            pos += length
        }
    }

    private mutating func appendEscape() throws(WireError) {
        let at = pos
        pos += 1  // '\'
        guard pos < end else { throw .truncated(expected: "an escape sequence") }
        let b = bytes[pos]
        pos += 1
        switch b {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(b)
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case UInt8(ascii: "u"):
            let unit = try hex4()
            var scalar = UInt32(unit)
            if (0xD800...0xDBFF).contains(unit) {
                // A high surrogate must be followed by an escaped low surrogate.
                guard pos + 1 < end, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                    if pos + 1 >= end { throw .truncated(expected: "a low surrogate escape") }
                    throw .syntax(offset: at, reason: "lone surrogate in a \\u escape")
                }
                pos += 2
                let low = try hex4()
                guard (0xDC00...0xDFFF).contains(low) else {
                    throw .syntax(offset: at, reason: "lone surrogate in a \\u escape")
                }
                scalar = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(unit) {
                throw .syntax(offset: at, reason: "lone surrogate in a \\u escape")
            }
            UTF8Check.append(scalar, to: &scratch)
        default:
            throw .syntax(offset: at, reason: "invalid escape sequence")
        }
    }

    private mutating func hex4() throws(WireError) -> UInt16 {
        guard pos + 4 <= end else { throw .truncated(expected: "four hex digits") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let b = bytes[pos]
            let digit: UInt8
            switch b {
            case 0x30...0x39: digit = b - 0x30
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default: throw .syntax(offset: pos, reason: "expected a hex digit")
            }
            value = value << 4 | UInt16(digit)
            pos += 1
        }
        return value
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    private mutating func parseNumber() throws(WireError) -> Value {
        let start = pos
        var negative = false
        if bytes[pos] == UInt8(ascii: "-") { negative = true; pos += 1 }
        guard pos < end else { throw .truncated(expected: "digits") }
        var magnitude: UInt64 = 0
        var overflow = false
        if bytes[pos] == 0x30 {
            pos += 1
        } else if bytes[pos] >= 0x31, bytes[pos] <= 0x39 {
            while pos < end, bytes[pos] >= 0x30, bytes[pos] <= 0x39 {
                let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(UInt64(bytes[pos] - 0x30))
                overflow = overflow || o1 || o2
                magnitude = sum
                pos += 1
            }
        } else {
            throw .syntax(offset: pos, reason: "expected a digit")
        }
        var integral = true
        if pos < end, bytes[pos] == UInt8(ascii: ".") {
            integral = false
            pos += 1
            try digits()
        }
        if pos < end, bytes[pos] | 0x20 == UInt8(ascii: "e") {
            integral = false
            pos += 1
            if pos < end, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            try digits()
        }
        if integral, !overflow {
            if !negative, magnitude <= UInt64(Int64.max) { return .int(Int64(magnitude)) }
            if negative, magnitude <= UInt64(Int64.max) { return .int(-Int64(magnitude)) }
            if negative, magnitude == UInt64(Int64.max) + 1 { return .int(.min) }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
        guard let value = Double(text) else {
            throw .syntax(offset: start, reason: "unreadable number")
        }
        return .double(value)
    }

    private mutating func digits() throws(WireError) {
        guard pos < end else { throw .truncated(expected: "digits") }
        guard bytes[pos] >= 0x30, bytes[pos] <= 0x39 else { throw .syntax(offset: pos, reason: "expected a digit") }
        while pos < end, bytes[pos] >= 0x30, bytes[pos] <= 0x39 { pos += 1 }
    }

    private mutating func literal(_ word: StaticString) throws(WireError) {
        let count = word.utf8CodeUnitCount
        for i in 0..<count {
            guard pos + i < end else { throw .truncated(expected: "\(word)") }
            guard bytes[pos + i] == word.utf8Start[i] else {
                throw .syntax(offset: pos, reason: "unexpected characters where a JSON value should start")
            }
        }
        pos += count
    }

    @inline(__always)
    private mutating func skipWhitespace() {
        while pos < end {
            let b = bytes[pos]
            guard b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 else { return }
            pos += 1
        }
    }
}
