import Foundation
import Testing
import XapiDB
@testable import Codec

/// Differential tests: the hand-written parsers against Foundation's (libxml2's `XMLParser`,
/// `JSONSerialization`) on generated documents in many styles.
@Suite(.serialized) struct OracleTests {
    static let documents = 600

    @Test func xmlrpcAgreesWithXMLParser() throws {
        var values = ValueGenerator(seed: 2024)
        var renderer = XMLRPCRenderer(seed: 99)
        for index in 0..<Self.documents {
            renderer.noise = [0.0, 0.2, 0.5, 0.9][index % 4]
            let params = (0..<Int.random(in: 0...3, using: &values.rng)).map { _ in values.value() }
            let name = index % 5 == 0 ? values.string(maxLength: 12) : "VM.get_record"
            let expected = MethodCall(name: name.isEmpty ? "x" : name, params: params)
            let document = Array(renderer.call(expected.name, expected.params).utf8)

            let ours = Result { () throws(WireError) in try XMLRPC.parseCall(document) }
            guard let oracle = FoundationXMLRPC.parseCall(document) else {
                Issue.record("the renderer produced a document the oracle cannot read")
                continue
            }
            let context = Comment(rawValue: "document \(index): \(String(decoding: document, as: UTF8.self))")
            switch (ours, oracle) {
            case (.success(let a), .success(let b)):
                #expect(a == b, context)
                #expect(a == expected, context)
            case (.failure(let error), _):
                Issue.record("we rejected (\(error)); \(context.rawValue)")
            case (_, .failure(let error)):
                Issue.record("XMLParser rejected (\(error.reason)); \(context.rawValue)")
            }
        }
    }

    /// Documents each parser must refuse for the same reason class: both say no.
    @Test(arguments: [
        "<methodCall><methodName>m</methodName><params><param><value><int>1</value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value>&bogus;</value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value>a]]>b</value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value>&#1;</value></param></params></methodCall>",
        "<methodCall a='1' a='1'><methodName>m</methodName><params/></methodCall>",
        "<methodCall><methodName>m</methodName><params/></methodCall><x/>",
        "<methodCall><methodName>m</methodName><params><param><value><boolean>yes</boolean></value></param></params></methodCall>",
    ])
    func bothRefuse(document: String) {
        let bytes = Array(document.utf8)
        #expect(throws: WireError.self) { try XMLRPC.parseCall(bytes) }
        if case .success? = FoundationXMLRPC.parseCall(bytes) { Issue.record("oracle accepted") }
    }

    @Test func jsonAgreesWithJSONSerialization() throws {
        var values = ValueGenerator(seed: 77)
        var renderer = JSONRenderer(seed: 5)
        for index in 0..<Self.documents {
            let value = values.value()
            let document = Array(renderer.render(value).utf8)
            let context = Comment(rawValue: "document \(index): \(String(decoding: document, as: UTF8.self))")
            let ours: Value
            do { ours = try JSONText.parse(document) } catch {
                Issue.record("we rejected (\(error)); \(context.rawValue)")
                continue
            }
            guard let oracle = FoundationJSON.parse(document) else {
                Issue.record("JSONSerialization rejected; \(context.rawValue)")
                continue
            }
            #expect(FoundationJSON.equivalent(FoundationJSON.canonical(ours), oracle), context)
            #expect(ours == JSONParserTests.jsonNormalized(value), context)
        }
    }
}

/// JSON text for a value in varied styles: whitespace, escapes (`\uXXXX` including surrogate
/// pairs, `\/`), number spellings. Independent of `Value.writeJSON`.
struct JSONRenderer {
    var rng: SeededRandom
    init(seed: UInt64) { rng = SeededRandom(seed: seed) }

    mutating func ws() -> String { rng.chance(0.3) ? rng.pick([" ", "\n", "\t", "\r\n", "  "]) : "" }

    mutating func render(_ value: Value) -> String {
        ws() + inner(value) + ws()
    }

    private mutating func inner(_ value: Value) -> String {
        switch value {
        case .string(let s): return string(s)
        case .int(let i): return String(i)
        case .int32(let i): return String(i)
        case .double(let d):
            // A spelling JSON allows that reads back as exactly d.
            var text = d == d.rounded() && abs(d) < 1e15 ? String(format: "%.1f", d) : "\(d)"
            if rng.chance(0.3), let e = text.firstIndex(of: "e") { text.replaceSubrange(e...e, with: "E") }
            return text
        case .bool(let b): return b ? "true" : "false"
        case .dateTime(let t): return string(t.description)
        case .null: return "null"
        case .array(let a):
            return "[" + ws() + a.map { render($0) }.joined(separator: ",") + ws() + "]"
        case .structure(let s):
            return "{" + ws() + s.members.map { ws() + string($0.key) + ws() + ":" + render($0.value) }.joined(separator: ",") + "}"
        }
    }

    private mutating func string(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += rng.chance(0.5) ? "\\n" : "\\u000a"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "/" where rng.chance(0.5): out += "\\/"
            default:
                if u.value < 0x20 || rng.chance(0.1) {
                    if u.value >= 0x10000 {
                        let v = u.value - 0x10000
                        out += String(format: "\\u%04x\\u%04X", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF))
                    } else {
                        out += String(format: rng.chance(0.5) ? "\\u%04x" : "\\u%04X", u.value)
                    }
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}

extension OracleTests {
    /// XML 1.0 §2.11 normalises line ends before parsing, so CDATA content is normalised too
    /// (libxml2 skips this; the oracle compensates, see `FoundationXMLRPC`).
    @Test func lineEndsInCDATAAreNormalised() throws {
        let body = "<methodCall><methodName>m</methodName><params><param><value><![CDATA[a\r\nb\rc]]></value></param></params></methodCall>"
        #expect(try XMLRPC.parseCall(Array(body.utf8)).params == [.string("a\nb\nc")])
        #expect(try FoundationXMLRPC.parseCall(Array(body.utf8))?.get().params == [.string("a\nb\nc")])
    }
}
