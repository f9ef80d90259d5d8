import Testing
import XapiDB
@testable import Codec

@Suite struct XMLRPCParserTests {
    private func parse(_ text: String) throws(WireError) -> MethodCall {
        try XMLRPC.parseCall(Array(text.utf8))
    }

    /// The one value inside a call with a single parameter.
    private func param(_ valueXML: String) throws(WireError) -> Value {
        let call = try parse("<methodCall><methodName>m</methodName><params><param>\(valueXML)</param></params></methodCall>")
        return call.params[0]
    }

    @Test func pythonLoginRequest() throws {
        #expect(Fixtures.loginRequest.utf8.count == 343)  // CPython 3.11 xmlrpc.client.dumps, byte for byte
        let call = try parse(Fixtures.loginRequest)
        #expect(call == MethodCall(name: "session.login_with_password",
                                   params: [.string("root"), .string("secret"), .string("1.0"), .string("my-script")]))
    }

    @Test func pythonSetOtherConfigRequest() throws {
        #expect(Fixtures.setOtherConfigRequest.utf8.count == 1495)
        let call = try parse(Fixtures.setOtherConfigRequest)
        #expect(call.name == "VM.set_other_config")
        #expect(call.params.count == 3)
        guard case .structure(let config) = call.params[2] else {
            Issue.record("third parameter is not a struct")
            return
        }
        #expect(config.keys == Fixtures.otherConfig.map(\.0))
        #expect(config["folder"] == .string("/Production/Web & API"))
        #expect(config["notes"] == .string("migrated 2024-11-03 <batch 7>"))
        #expect(config["vgpu_pci"] == .string(""))
    }

    @Test func pythonEventFromRequest() throws {
        let call = try parse(Fixtures.eventFromRequest)
        #expect(call == MethodCall(name: "event.from", params: [
            .string(Fixtures.sessionRef), .array([.string("vm"), .string("task")]), .string(""), .double(30),
        ]))
    }

    @Test func parsesFromARawBuffer() throws {
        let bytes = Array(Fixtures.loginRequest.utf8)
        let call = try bytes.withUnsafeBytes { raw throws(WireError) in try XMLRPC.parseCall(bytes: raw) }
        #expect(call.params.count == 4)
    }

    @Test func scalarTypes() throws {
        #expect(try param("<value>1073741824</value>") == .string("1073741824"))  // untyped: a string
        #expect(try param("<value><string>x</string></value>") == .string("x"))
        #expect(try param("<value><int>42</int></value>") == .int(42))
        #expect(try param("<value><i4>-7</i4></value>") == .int(-7))
        #expect(try param("<value><i8>9223372036854775807</i8></value>") == .int(.max))
        #expect(try param("<value><i8>-9223372036854775808</i8></value>") == .int(.min))
        #expect(try param("<value><int>+5</int></value>") == .int(5))
        #expect(try param("<value><boolean>1</boolean></value>") == .bool(true))
        #expect(try param("<value><boolean>0</boolean></value>") == .bool(false))
        #expect(try param("<value><double>30.0</double></value>") == .double(30))
        #expect(try param("<value><double>-1.5e-3</double></value>") == .double(-0.0015))
        #expect(try param("<value><double>1</double></value>") == .double(1))
        #expect(try param("<value><double>inf</double></value>") == .double(.infinity))
        #expect(try param("<value><double>-Infinity</double></value>") == .double(-.infinity))
        #expect(try param("<value><double>nan</double></value>").doubleValue?.isNaN == true)
        #expect(try param("<value><nil/></value>") == .null)
        #expect(try param("<value><nil></nil></value>") == .null)
        #expect(try param("<value><base64>aMOpbGxv</base64></value>") == .string("héllo"))
        #expect(try param("<value><base64>\naMOp\nbGxv\n</base64></value>") == .string("héllo"))
        #expect(try param("<value><base64>YQ==</base64></value>") == .string("a"))
        #expect(try param("<value><base64></base64></value>") == .string(""))
        // Bytes that are not UTF-8 (0xFF, a pickle's 0x80 0x04) are taken, not refused.
        #expect(try param("<value><base64>/w==</base64></value>") == .string("\u{FFFD}"))
        #expect(try param("<value><base64>gARLAS4=</base64></value>") == .string("\u{FFFD}\u{04}K\u{01}."))
    }

    /// Python sends `xmlrpc.client.DateTime` without a zone; xapi reads that as UTC.
    @Test func dateTimes() throws {
        let t = Value.dateTime(DateTime(secondsSinceEpoch: 1_742_357_784))
        #expect(try param("<value><dateTime.iso8601>20250319T04:16:24Z</dateTime.iso8601></value>") == t)
        #expect(try param("<value><dateTime.iso8601>20250319T04:16:24</dateTime.iso8601></value>") == t)
        #expect(try param("<value><dateTime.iso8601>2025-03-19T04:16:24Z</dateTime.iso8601></value>") == t)
        #expect(throws: WireError.self) { try param("<value><dateTime.iso8601>yesterday</dateTime.iso8601></value>") }
        #expect(throws: WireError.self) { try param("<value><dateTime.iso8601/></value>") }
    }

    @Test func emptyValuesAndStrings() throws {
        #expect(try param("<value/>") == .string(""))
        #expect(try param("<value></value>") == .string(""))
        #expect(try param("<value><string/></value>") == .string(""))
        #expect(try param("<value><string></string></value>") == .string(""))
        #expect(try param("<value>  </value>") == .string("  "))  // untyped whitespace is the string
        #expect(try param("<value> <string> a </string> </value>") == .string(" a "))
    }

    @Test func containers() throws {
        #expect(try param("<value><array><data></data></array></value>") == .array([]))
        #expect(try param("<value><array><data/></array></value>") == .array([]))
        #expect(try param("<value><array></array></value>") == .array([]))
        #expect(try param("<value><array/></value>") == .array([]))
        #expect(try param("<value><struct></struct></value>") == .structure(Structure()))
        #expect(try param("<value><struct/></value>") == .structure(Structure()))
        let nested = try param("""
            <value><struct>
              <member><name>a</name><value><array><data><value>1</value><value/><value><int>2</int></value></data></array></value></member>
              <member><name></name><value><struct><member><name>k</name><value><boolean>1</boolean></value></member></struct></value></member>
              <member><name/><value>dup</value></member>
            </struct></value>
            """)
        var inner = Structure()
        inner.append("k", .bool(true))
        var expected = Structure()
        expected.append("a", .array([.string("1"), .string(""), .int(2)]))
        expected.append("", .structure(inner))
        expected.append("", .string("dup"))
        #expect(nested == .structure(expected))
    }

    @Test func xmlSyntaxThatMustBeAccepted() throws {
        // Entities, character references, CDATA, comments inside text, CR/LF handling, attributes.
        #expect(try param("<value>&lt;&gt;&amp;&quot;&apos;&#65;&#x42;&#x1F600;</value>") == .string("<>&\"'AB😀"))
        #expect(try param("<value><![CDATA[a<b & ]]c]]></value>") == .string("a<b & ]]c"))
        #expect(try param("<value>a<!-- c -->b<?pi x?>c</value>") == .string("abc"))
        #expect(try param("<value>a\r\nb\rc&#13;</value>") == .string("a\nb\nc\r"))
        #expect(try param("<value id=\"1\" other='&amp;'><string lang=\"en\" >x</string ></value >") == .string("x"))
        #expect(try param("<value été=\"1\" a\u{B7}\u{10000}b='' xmlns:p=\"urn:x\" p:q=\"2\">x</value>") == .string("x"))
        #expect(try param("<value>\n<!-- typed follows -->\n<int>3</int>\n</value>") == .int(3))
        #expect(try param("<value>&#32;<int>3</int></value>") == .int(3))
        #expect(try param("<value>é ✓ 😀 \u{7F}</value>") == .string("é ✓ 😀 \u{7F}"))
        let decorated = "\u{FEFF}<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n<!-- before -->"
            + "<methodCall><methodName>x</methodName><params/></methodCall>\n<!-- after --><?done?>\n"
        #expect(try parse(decorated) == MethodCall(name: "x", params: []))
        #expect(try parse("<?xml version='1.0' encoding='us-ascii'?><methodCall><methodName>x</methodName><params></params></methodCall>").params.isEmpty)
    }

    /// Values that xapi would misread or that are not XML-RPC at all.
    @Test(arguments: [
        "<value><boolean>true</boolean></value>",  // ocaml-rpc would read false; refused instead
        "<value><boolean>2</boolean></value>",
        "<value><boolean></boolean></value>",
        "<value><int></int></value>",
        "<value><int/></value>",
        "<value><int> 1</int></value>",
        "<value><int>0x10</int></value>",
        "<value><int>1.0</int></value>",
        "<value><i8>9223372036854775808</i8></value>",
        "<value><i8>-9223372036854775809</i8></value>",
        "<value><i4>99999999999999999999999999</i4></value>",
        "<value><double></double></value>",
        "<value><double>abc</double></value>",
        "<value><double>0x1p3</double></value>",
        "<value><double>1e</double></value>",
        "<value><base64>!!!!</base64></value>",
        "<value><base64>YQ</base64></value>",
        "<value><nil>x</nil></value>",
        "<value><foo>1</foo></value>",
        "<value>text<int>1</int></value>",
        "<value><int>1</int>text</value>",
        "<value><int>1</int><int>2</int></value>",
        "<value><string><b/></string></value>",
        "<value><array><value>1</value></array></value>",
        "<value><array><data>1</data></array></value>",
        "<value><struct><member><value>1</value></member></struct></value>",
        "<value><struct><member><name>a</name></member></struct></value>",
        "<value><struct><name>a</name><value>1</value></struct></value>",
        "<value><value>1</value></value>",
        "<string>x</string>",
    ])
    func rejectsBadValues(valueXML: String) {
        #expect(throws: WireError.self) { try param(valueXML) }
    }

    @Test func errorsNameTheProblem() {
        #expect(throws: WireError.badValue(offset: 60, type: "boolean", text: "true")) {
            try param("<value><boolean>true</boolean></value>")
        }
        #expect(throws: WireError.badValue(offset: 60, type: "i8", text: "9223372036854775808")) {
            try param("<value><i8>9223372036854775808</i8></value>")
        }
    }

    @Test(arguments: [
        "",
        "   ",
        "<methodCall/>",
        "<methodCall></methodCall>",
        "<methodCall><methodName>m</methodName></methodCall>",  // <params> is required, as in xapi
        "<methodCall><methodName></methodName><params/></methodCall>",
        "<methodCall><methodName/><params/></methodCall>",
        "<methodCall><params/><methodName>m</methodName></methodCall>",
        "<methodResponse><params/></methodResponse>",
        "<methodCall><methodName>m</methodName><params><param></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value/><value/></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><value/></params></methodCall>",
        "<methodCall><methodName>m</methodName><params/>x</methodCall>",
        "<methodCall><methodName>m</methodName><params/></methodCall><methodCall/>",
        "<methodCall><methodName>m</methodName><params/></methodCall>junk",
        "junk<methodCall><methodName>m</methodName><params/></methodCall>",
        "<methodCall><methodName>m</methodName><params/></methodcall>",
        "<methodCall><methodName>m<params/></methodName></methodCall>",
        "<methodCall><methodName>m</methodName><params/></methodCall",
        "<methodCall <methodName>m</methodName><params/></methodCall>",
        "<methodCall a=1><methodName>m</methodName><params/></methodCall>",
        "<methodCall a='1' a='2'><methodName>m</methodName><params/></methodCall>",
        "<methodCall p:a='1'><methodName>m</methodName><params/></methodCall>",
        "<methodCall xmlns:p='u' p:-a='1'><methodName>m</methodName><params/></methodCall>",
        "<methodCall xmlns:p=''><methodName>m</methodName><params/></methodCall>",
        "<methodCall a\u{10FFFF}='1'><methodName>m</methodName><params/></methodCall>",
        "<methodCall \u{B7}a='1'><methodName>m</methodName><params/></methodCall>",
        "<?S\u{10FFFF} x?><methodCall><methodName>m</methodName><params/></methodCall>",
        "<methodCall a='<'><methodName>m</methodName><params/></methodCall>",
        "<methodCall><methodName>a&b</methodName><params/></methodCall>",
        "<methodCall><methodName>a&#0;</methodName><params/></methodCall>",
        "<methodCall><methodName>a&#xD800;</methodName><params/></methodCall>",
        "<methodCall><methodName>a&#x110000;</methodName><params/></methodCall>",
        "<methodCall><methodName>a&#;</methodName><params/></methodCall>",
        "<methodCall><methodName>a&#x;</methodName><params/></methodCall>",
        "<methodCall><methodName>a&#12a;</methodName><params/></methodCall>",
        "<methodCall><methodName>a]]>b</methodName><params/></methodCall>",
        "<methodCall><methodName>a<!-- x -- y -->b</methodName><params/></methodCall>",
        "<methodCall><methodName>a<!-- x --->b</methodName><params/></methodCall>",
        "<methodCall><methodName>a<![CDATA[b</methodName><params/></methodCall>",
        "<methodCall><methodName>a<?xml version='1.0'?></methodName><params/></methodCall>",
        " <?xml version='1.0'?><methodCall><methodName>m</methodName><params/></methodCall>",
        "<?xml version='2.0'?><methodCall><methodName>m</methodName><params/></methodCall>",
        "<?xml version='1.'?><methodCall><methodName>m</methodName><params/></methodCall>",
        "<?xml version='1.0'encoding='utf-8'?><methodCall><methodName>m</methodName><params/></methodCall>",
        "<?xml-stylesheet href='x'?><methodCall><methodName>m</methodName><params/></methodCall>",
        "<?xmlfoo?><methodCall><methodName>m</methodName><params/></methodCall>",
        "<?a:b x?><methodCall><methodName>m</methodName><params/></methodCall>",
        "<?xml encoding='utf-8'?><methodCall><methodName>m</methodName><params/></methodCall>",
        "<?xml version='1.0' encoding='ISO-8859-1'?><methodCall><methodName>m</methodName><params/></methodCall>",
        "<?xml version='1.0' encoding='UTF-16'?><methodCall><methodName>m</methodName><params/></methodCall>",
        "<?xml version='1.0' encoding='us-ascii'?><methodCall><methodName>é</methodName><params/></methodCall>",
        "<?xml version='1.0'><methodCall><methodName>m</methodName><params/></methodCall>",
        "<methodCall><methodName>\u{1}</methodName><params/></methodCall>",
        "<methodCall><methodName>\u{FFFE}</methodName><params/></methodCall>",
    ])
    func rejectsMalformedDocuments(document: String) {
        #expect(throws: WireError.self) { try parse(document) }
    }

    @Test func unsupportedEncodingIsNamed() {
        #expect(throws: WireError.unsupportedEncoding("ISO-8859-1")) {
            try parse("<?xml version='1.0' encoding='ISO-8859-1'?><methodCall><methodName>m</methodName><params/></methodCall>")
        }
    }

    @Test func methodNameIsKeptVerbatim() throws {
        #expect(try parse("<methodCall><methodName>Async.VM.start</methodName><params/></methodCall>").name == "Async.VM.start")
        #expect(try parse("<methodCall><methodName> x </methodName><params/></methodCall>").name == " x ")
        #expect(try parse("<methodCall><methodName>a&amp;b</methodName><params/></methodCall>").name == "a&b")
    }

    @Test func errorMessagesAreReadable() {
        let error = WireError.unexpected(offset: 10, found: "<foo>", expected: "<value>")
        #expect(error.message == "unexpected <foo> at byte 10, expected <value>")
        #expect("\(WireError.tooDeep(offset: 5, limit: 64))" == "nesting deeper than 64 levels at byte 5")
    }
}
