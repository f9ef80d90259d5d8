@testable import Codec
import Testing
import Wire
@testable import XapiDB

@Suite struct ValueJSONTests {
    private func json(_ value: Value) -> String { value.jsonString }

    @Test func scalars() {
        #expect(json(.string("OpaqueRef:1")) == "\"OpaqueRef:1\"")
        #expect(json(.int(1_073_741_824)) == "1073741824")
        #expect(json(.int(.min)) == "-9223372036854775808")
        #expect(json(.int32(-7)) == "-7")
        #expect(json(.bool(true)) == "true")
        #expect(json(.bool(false)) == "false")
        #expect(json(.null) == "null")
        #expect(json(.dateTime(DateTime(secondsSinceEpoch: 1_742_357_784))) == "\"20250319T04:16:24Z\"")
    }

    /// yojson: `%.16g`, `%.17g` if that does not read back, `.0` when it looks like an int.
    @Test(arguments: [
        (1.0, "1.0"), (0.25, "0.25"), (1e20, "1e+20"), (0.1 + 0.2, "0.30000000000000004"), (-0.0, "-0.0"),
        (1e15, "1000000000000000.0"), (1.0 / 3, "0.3333333333333333"), (100.0, "100.0"), (1e-5, "1e-05"),
        (Double.leastNonzeroMagnitude, "4.940656458412465e-324"), (Double.greatestFiniteMagnitude, "1.7976931348623157e+308"),
        (Double.nan, "NaN"), (Double.infinity, "Infinity"), (-Double.infinity, "-Infinity"),
    ])
    func doubles(value: Double, printed: String) {
        #expect(json(.double(value)) == printed)
    }

    @Test func stringEscapes() {
        #expect(json(.string("q\"b\\s/")) == #""q\"b\\s/""#)
        #expect(json(.string("\u{8}\u{C}\n\r\t")) == #""\b\f\n\r\t""#)
        #expect(json(.string("\u{0}\u{1}\u{1F}\u{7F}")) == #""\u0000\u0001\u001f\u007f""#)
        #expect(json(.string("héllo ✓ 😀")) == "\"héllo ✓ 😀\"")
    }

    @Test func containersKeepMemberOrder() {
        #expect(json(.array([])) == "[]")
        #expect(json(.structure(Structure())) == "{}")
        let value: Value = .structure(["z": .int(1), "a": .array([.string("x"), .null]), "m": .structure(["k": .bool(true)])])
        #expect(json(value) == #"{"z":1,"a":["x",null],"m":{"k":true}}"#)
    }

    @Test func byteCountMatchesTheWrittenBytes() {
        let values: [Value] = [
            .string("a\u{1}\"é"), .int(-12), .double(0.1 + 0.2), .double(.nan), .double(1e300), .bool(true), .null,
            .dateTime(.epoch),
            .structure(["events": .array([.structure(["id": .string("12"), "snapshot": .structure(["x": .double(1)])])]),
                        "valid_ref_counts": .structure(["vm": .int32(3)]), "token": .string("1,2")]),
        ]
        for value in values {
            var out: [UInt8] = []
            value.writeJSON(into: &out)
            #expect(value.jsonByteCount == out.count)
        }
    }

    /// The `JSON` tree (diagnostics, operation descriptions) goes through the same writer: the
    /// same document as a tree and as a `Value` gives the same bytes.
    @Test func theTreeIsSpelledByTheSameWriter() {
        let strings = ["q\"b\\s/", "\u{8}\u{C}\n\r\t", "\u{0}\u{1F}\u{7F}", "héllo ✓ 😀", "clean ascii, longer than a word"]
        let doubles = [1.0, 0.25, 1e20, 0.1 + 0.2, -0.0, 1e15, 1.0 / 3, 1e-5, .nan, .infinity]
        let tree = JSON.object([
            "strings": .array(strings.map(JSON.string)), "doubles": .array(doubles.map(JSON.double)),
            "ints": .array([.int(0), .int(-12), .int(.max)]), "flags": .array([.bool(true), .bool(false), .null]),
            "nested": .object([JSON.Member("z", .array([])), JSON.Member("a", .object([]))]),
        ])
        var value = Structure()
        value.append("strings", .array(strings.map(Value.string)))
        value.append("doubles", .array(doubles.map(Value.double)))
        value.append("ints", .array([.int(0), .int(-12), .int(.max)]))
        value.append("flags", .array([.bool(true), .bool(false), .null]))
        value.append("nested", .structure(["z": .array([]), "a": .structure(Structure())]))
        #expect(tree.text == json(.structure(value)))
        #expect(tree.text.contains(#""\b\f\n\r\t""#))
    }
}
