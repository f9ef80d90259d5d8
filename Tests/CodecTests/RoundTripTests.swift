import Foundation
import Testing
import XapiDB
@testable import Codec

/// Our writers feeding our parsers: what xapi writes must read back as the value, up to what
/// XML-RPC itself cannot carry.
@Suite struct RoundTripTests {
    private static func wrap(_ value: Value) -> [UInt8] {
        var out = Array("<?xml version=\"1.0\"?><methodCall><methodName>m</methodName><params><param>".utf8)
        value.writeXMLRPC(into: &out)
        out += Array("</param></params></methodCall>".utf8)
        return out
    }

    /// XML-RPC loses: control characters (dropped by the writer), raw CR (XML reads it as LF),
    /// the type of int64s (untyped, so strings), the `<i4>` tag, and double digits beyond `%.16g`.
    static func xmlNormalized(_ value: Value) -> Value {
        func text(_ s: String) -> String {
            var scalars = String.UnicodeScalarView()
            var previousCR = false
            for u in s.unicodeScalars {
                defer { previousCR = u == "\r" }
                if u.value < 0x20, u != "\t", u != "\n", u != "\r" { continue }
                if u == "\r" { scalars.append("\n"); continue }
                if u == "\n", previousCR { continue }
                scalars.append(u)
            }
            return String(scalars)
        }
        switch value {
        case .string(let s): return .string(text(s))
        case .int(let i): return .string(String(i))  // untyped on the wire: a string to every reader
        case .int32(let i): return .int(Int64(i))
        case .double(let d): return .double(Double(String(format: "%.16g", d))!)
        case .array(let a): return .array(a.map(xmlNormalized))
        case .structure(let s):
            return .structure(Structure(s.members.map { .init(key: text($0.key), value: xmlNormalized($0.value)) }))
        default: return value
        }
    }

    @Test func xmlrpcWriterThenParser() throws {
        var generator = ValueGenerator(seed: 42)
        generator.allowControlCharacters = true
        for _ in 0..<500 {
            let value = generator.value()
            let call = try XMLRPC.parseCall(Self.wrap(value))
            #expect(call.params == [Self.xmlNormalized(value)])
        }
    }

    @Test func int32ReadsBackAsInt() throws {
        #expect(try XMLRPC.parseCall(Self.wrap(.int32(12))).params == [.int(12)])
    }

    @Test func nonFiniteDoublesReadBack() throws {
        for d in [Double.infinity, -Double.infinity] {
            #expect(try XMLRPC.parseCall(Self.wrap(.double(d))).params == [.double(d)])
        }
        #expect(try XMLRPC.parseCall(Self.wrap(.double(.nan))).params.first?.doubleValue?.isNaN == true)
    }

    /// A response body is XML too: reading `success(v)` with the call parser's value grammar
    /// (after renaming the envelope) gives the Status struct back.
    @Test func responseEnvelopeReadsBack() throws {
        let body = String(decoding: XMLRPC.success(.array([.int(1), .string("x")])), as: UTF8.self)
            .replacingOccurrences(of: "<methodResponse><params>", with: "<methodCall><methodName>r</methodName><params>")
            .replacingOccurrences(of: "</methodResponse>", with: "</methodCall>")
        let call = try XMLRPC.parseCall(Array(body.utf8))
        #expect(call.params == [.structure(["Status": .string("Success"), "Value": .array([.string("1"), .string("x")])])])
    }
}
