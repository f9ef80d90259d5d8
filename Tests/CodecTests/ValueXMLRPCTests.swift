@testable import Codec
import Testing
@testable import XapiDB

@Suite struct ValueXMLRPCTests {
    private func xml(_ value: Value) -> String { value.xmlrpcFragment }

    @Test func scalarsAreWrittenAsXapiWritesThem() {
        #expect(xml(.string("OpaqueRef:6f8b2c3e")) == "<value>OpaqueRef:6f8b2c3e</value>")
        #expect(xml(.string("")) == "<value></value>")
        #expect(xml(.int(1_073_741_824)) == "<value>1073741824</value>")
        #expect(xml(.int(-42)) == "<value>-42</value>")
        #expect(xml(.int(0)) == "<value>0</value>")
        #expect(xml(.int(.max)) == "<value>9223372036854775807</value>")
        #expect(xml(.int(.min)) == "<value>-9223372036854775808</value>")
        #expect(xml(.int32(12)) == "<value><i4>12</i4></value>")
        #expect(xml(.int32(.min)) == "<value><i4>-2147483648</i4></value>")
        #expect(xml(.bool(true)) == "<value><boolean>1</boolean></value>")
        #expect(xml(.bool(false)) == "<value><boolean>0</boolean></value>")
        #expect(xml(.null) == "<value><nil/></value>")
        #expect(xml(.dateTime(DateTime(secondsSinceEpoch: 1_742_357_784)))
            == "<value><dateTime.iso8601>20250319T04:16:24Z</dateTime.iso8601></value>")
        #expect(xml(.dateTime(.epoch)) == "<value><dateTime.iso8601>19700101T00:00:00Z</dateTime.iso8601></value>")
    }

    /// OCaml's `Printf "%.16g"` is C's: shortest of %e/%f with 16 significant digits, trailing
    /// zeros removed, two-digit exponents, and glibc's spellings of the non-finite values.
    @Test(arguments: [
        (1.0, "1"), (0.25, "0.25"), (1e20, "1e+20"), (0.1, "0.1"), (1.0 / 3, "0.3333333333333333"),
        (0.1 + 0.2, "0.3"), (123_456_789.0, "123456789"), (1e-5, "1e-05"), (1e16, "1e+16"),
        (1e15, "1000000000000000"), (1_234_567_890_123_456_789.0, "1.234567890123457e+18"),
        (-0.0, "-0"), (-2.5, "-2.5"), (0.0001, "0.0001"), (Double.infinity, "inf"), (-Double.infinity, "-inf"),
        (Double.nan, "nan"), (-Double.nan, "-nan"), (Double.leastNonzeroMagnitude, "4.940656458412465e-324"),
    ])
    func doublesUsePercent16g(value: Double, printed: String) {
        #expect(xml(.double(value)) == "<value><double>\(printed)</double></value>")
    }

    @Test func stringsEscapeLikeOcamlRpc() {
        #expect(xml(.string("a&b<c>d\"e'f")) == "<value>a&amp;b&lt;c&gt;d&quot;e'f</value>")
        // Control bytes other than TAB/LF/CR are dropped; DEL and non-ASCII pass through.
        #expect(xml(.string("a\u{0}b\u{1}c\u{8}d\u{B}e\u{C}f\u{1F}g")) == "<value>abcdefg</value>")
        #expect(xml(.string("t\tl\nc\r\u{7F}")) == "<value>t\tl\nc\r\u{7F}</value>")
        #expect(xml(.string("héllo ✓ 😀")) == "<value>héllo ✓ 😀</value>")
        #expect(xml(.string("]]>")) == "<value>]]&gt;</value>")
    }

    @Test func containers() {
        #expect(xml(.array([])) == "<value><array><data></data></array></value>")
        #expect(xml(.array([.string("a"), .int(1)]))
            == "<value><array><data><value>a</value><value>1</value></data></array></value>")
        #expect(xml(.structure(Structure())) == "<value><struct></struct></value>")
        let record: Value = .structure(["name_label": .string("vm"), "VCPUs_max": .int(2), "is_a_template": .bool(false)])
        #expect(xml(record) == "<value><struct>"
            + "<member><name>name_label</name><value>vm</value></member>"
            + "<member><name>VCPUs_max</name><value>2</value></member>"
            + "<member><name>is_a_template</name><value><boolean>0</boolean></value></member>"
            + "</struct></value>")
    }

    /// Unlike xapi, member names are escaped, so odd map keys still give parseable XML.
    @Test func memberNamesAreEscaped() {
        #expect(xml(.structure(["a<b&c": .string("")]))
            == "<value><struct><member><name>a&lt;b&amp;c</name><value></value></member></struct></value>")
    }

    @Test func appendsToExistingBytes() {
        var out = Array("prefix".utf8)
        Value.int(7).writeXMLRPC(into: &out)
        #expect(String(decoding: out, as: UTF8.self) == "prefix<value>7</value>")
    }

    /// The task `result` field: a string holding the fragment.
    @Test func taskResultFragments() {
        #expect(Value.string("OpaqueRef:1").xmlrpcFragment == "<value>OpaqueRef:1</value>")
        #expect(Value.emptyString.xmlrpcFragment == "<value></value>")
    }
}
