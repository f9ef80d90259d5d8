import Testing
import XapiDB
@testable import Codec

@Suite struct JSONParserTests {
    private func parse(_ text: String) throws(WireError) -> Value { try JSONText.parse(Array(text.utf8)) }

    @Test func scalars() throws {
        #expect(try parse("\"x\"") == .string("x"))
        #expect(try parse("0") == .int(0))
        #expect(try parse("-0") == .int(0))
        #expect(try parse("1073741824") == .int(1_073_741_824))
        #expect(try parse("9223372036854775807") == .int(.max))
        #expect(try parse("-9223372036854775808") == .int(.min))
        #expect(try parse("9223372036854775808") == .double(9_223_372_036_854_775_808))
        #expect(try parse("-9223372036854775809") == .double(-9_223_372_036_854_775_808.0))
        #expect(try parse("123456789012345678901234567890") == .double(1.2345678901234568e29))
        #expect(try parse("1.0") == .double(1))
        #expect(try parse("1e2") == .double(100))
        #expect(try parse("-1.5E-3") == .double(-0.0015))
        #expect(try parse("0.30000000000000004") == .double(0.1 + 0.2))
        #expect(try parse("true") == .bool(true))
        #expect(try parse("false") == .bool(false))
        #expect(try parse("null") == .null)
        #expect(try parse(" \t\r\n[ ] ") == .array([]))
        #expect(try parse("{}") == .structure(Structure()))
    }

    /// yojson's extensions for non-finite doubles, which `writeJSON` emits.
    @Test func nonFiniteTokens() throws {
        #expect(try parse("NaN").doubleValue?.isNaN == true)
        #expect(try parse("Infinity") == .double(.infinity))
        #expect(try parse("-Infinity") == .double(-.infinity))
        #expect(try parse("[1e999]") == .array([.double(.infinity)]))
    }

    @Test func strings() throws {
        #expect(try parse(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{8}\u{C}\n\r\t"))
        #expect(try parse(#""\u0041\u00e9\u2713\ud83d\ude00\u0000""#) == .string("Aé✓😀\u{0}"))
        #expect(try parse("\"héllo ✓ 😀\"") == .string("héllo ✓ 😀"))
        #expect(try parse(#""a\u00E9b""#) == .string("aéb"))
    }

    @Test func objectsKeepOrderAndDuplicates() throws {
        let value = try parse(#"{"b":1,"a":[true,null,"x"],"b":2}"#)
        guard case .structure(let s) = value else {
            Issue.record("not an object")
            return
        }
        #expect(s.keys == ["b", "a", "b"])
        #expect(s["b"] == .int(1))  // first wins, like ocaml-rpc's List.assoc
        #expect(s["a"] == .array([.bool(true), .null, .string("x")]))
    }

    @Test(arguments: [
        "", " ", "nul", "tru", "True", "[", "]", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{a:1}",
        "{'a':1}", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\ud800\"", "\"\\ud800\\u0041\"",
        "\"\\udc00\"", "\"\\ud800x\"", "\"a\u{1}b\"", "\"tab\there\"", "01", "-", "+1", "1.", ".5", "1e", "1e+",
        "0x10", "[1 2]", "{\"a\":1 \"b\":2}", "1 2", "[] []", "nan", "inf", "-NaN", "Infinityx", "// c\n1",
        "/* c */ 1", "\u{FEFF}1",
    ])
    func rejectsMalformed(text: String) {
        #expect(throws: WireError.self) { try parse(text) }
    }

    @Test func invalidUTF8InStrings() {
        for bad: [UInt8] in [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xE2, 0x82], [0xF4, 0x90, 0x80, 0x80]] {
            let bytes = Array("[\"a".utf8) + bad + Array("b\"]".utf8)
            #expect(throws: WireError.invalidUTF8(offset: 3)) { try JSONText.parse(bytes) }
        }
        #expect(throws: WireError.self) { try JSONText.parse([0xFF]) }
    }

    @Test func depthIsBounded() throws {
        let ok = String(repeating: "[", count: JSONText.maxDepth) + String(repeating: "]", count: JSONText.maxDepth)
        _ = try parse(ok)
        let deep = String(repeating: "[", count: JSONText.maxDepth + 1) + String(repeating: "]", count: JSONText.maxDepth + 1)
        #expect(throws: WireError.tooDeep(offset: JSONText.maxDepth, limit: JSONText.maxDepth)) { try parse(deep) }
        let hostile = String(repeating: "{\"a\":", count: 1_000_000)
        #expect(throws: WireError.self) { try parse(hostile) }
    }

    @Test func truncatedAtEveryLength() throws {
        let body = #"{"jsonrpc":"2.0","method":"VM.get_record","params":["OpaqueRef:a\u00e9",{"k":[1,2.5,true,null]}],"id":7}"#
        let bytes = Array(body.utf8)
        for length in 0..<bytes.count {
            #expect(throws: WireError.self, "prefix of \(length) bytes") { try JSONText.parse(Array(bytes[0..<length])) }
        }
        _ = try JSONText.parse(bytes)
    }

    @Test func roundTripsThroughTheWriter() throws {
        var generator = ValueGenerator(seed: 7)
        generator.allowControlCharacters = true
        for _ in 0..<300 {
            let value = generator.value()
            var out: [UInt8] = []
            value.writeJSON(into: &out)
            #expect(try JSONText.parse(out) == Self.jsonNormalized(value))
        }
        #expect(try JSONText.parse(Array(Value.double(.nan).jsonString.utf8)).doubleValue?.isNaN == true)
    }

    /// What survives a JSON round trip: dates become strings, int32 becomes int.
    static func jsonNormalized(_ value: Value) -> Value {
        switch value {
        case .int32(let i): return .int(Int64(i))
        case .dateTime(let t): return .string(t.description)
        case .array(let a): return .array(a.map(jsonNormalized))
        case .structure(let s):
            return .structure(Structure(s.members.map { .init(key: $0.key, value: jsonNormalized($0.value)) }))
        default: return value
        }
    }
}
