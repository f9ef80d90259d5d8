import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XapiDB
@testable import Codec

/// A second, independent XML-RPC decoder built on Foundation's `XMLParser` (libxml2): the
/// XML layer (entities, CDATA, line ends, comments, well-formedness) comes from libxml2, and
/// the XML-RPC rules are re-implemented here over its events. Used only to cross-check the
/// hand-written parser.
enum FoundationXMLRPC {
    enum Event: Equatable {
        case start(String)
        case end(String)
        case text(String)
    }

    struct Rejected: Error { var reason: String }

    /// nil when the oracle cannot judge the document. swift-corelibs-foundation's `XMLParser`
    /// takes the whole test process down on two kinds of input, which are therefore never
    /// handed to it: a processing instruction without data (`<?x?>`, a NULL dereference) and
    /// invalid UTF-8 in an element name (a force-unwrap). Callers check invalid UTF-8 themselves.
    static func parseCall(_ body: [UInt8]) -> Result<MethodCall, Rejected>? {
        if containsEmptyProcessingInstruction(body) || String(validating: body, as: UTF8.self) == nil { return nil }
        let events: [Event]
        switch self.events(body) {
        case .success(let e): events = e
        case .failure(let error): return .failure(error)
        }
        var interpreter = Interpreter(events: events)
        do {
            return .success(try interpreter.call())
        } catch let error as Rejected {
            return .failure(error)
        } catch {
            return .failure(Rejected(reason: "\(error)"))
        }
    }

    static func declaredVersion(_ body: [UInt8]) -> String? {
        let text = String(decoding: body.prefix(200), as: UTF8.self)
        guard let range = text.range(of: "version=") else { return nil }
        let rest = text[range.upperBound...]
        guard let quote = rest.first, quote == "'" || quote == "\"" else { return nil }
        return rest.dropFirst().prefix { $0 != quote }.description
    }

    static func containsEmptyProcessingInstruction(_ body: [UInt8]) -> Bool {
        var i = 0
        while i + 1 < body.count {
            if body[i] == UInt8(ascii: "<"), body[i + 1] == UInt8(ascii: "?") {
                var j = i + 2
                while j < body.count, !" \t\r\n?".utf8.contains(body[j]) { j += 1 }
                if j + 1 < body.count, body[j] == UInt8(ascii: "?"), body[j + 1] == UInt8(ascii: ">") { return true }
            }
            i += 1
        }
        return false
    }

    /// The document as start/end/text events, adjacent text merged across comments and
    /// processing instructions as Xmlm does.
    static func events(_ body: [UInt8]) -> Result<[Event], Rejected> {
        let parser = XMLParser(data: Data(body))
        parser.shouldProcessNamespaces = false
        parser.shouldReportNamespacePrefixes = false
        parser.shouldResolveExternalEntities = false
        let collector = Collector()
        parser.delegate = collector
        let ok = parser.parse()
        // XMLParser.parse() returns true for some broken documents; the errors reported to the
        // delegate tell the truth. libxml2 *warnings* arrive the same way and are not
        // well-formedness errors: 97 (XML version other than 1.0; Xmlm, hence xapi, takes 1.1
        // too) and 99/100 (a namespace name that is not a valid/absolute URI; Xmlm does not
        // check). Those alone do not make the oracle refuse.
        var warnings: Set<Int> = [99, 100]
        // XML 1.0 5th edition: any "1.<digits>" version is read as 1.0; libxml2 warns about
        // every version but 1.0, including malformed ones, so the oracle checks the grammar.
        if let version = declaredVersion(body), version.hasPrefix("1."), version.count > 2,
           version.dropFirst(2).allSatisfy({ ("0"..."9").contains($0) }) {
            warnings.insert(97)
        }
        if !ok || collector.failed || !collector.errorCodes.isSubset(of: warnings)
            || (parser.parserError.map { !warnings.contains(($0 as NSError).code) } ?? false) {
            return .failure(Rejected(reason: "XMLParser: \(String(describing: parser.parserError)) \(collector.errorCodes)"))
        }
        collector.flush()
        return .success(collector.events)
    }

    private final class Collector: NSObject, XMLParserDelegate {
        var events: [Event] = []
        var text = ""
        var failed = false

        func flush() {
            if !text.isEmpty { events.append(.text(text)); text = "" }
        }

        func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                    qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
            flush()
            events.append(.start(elementName))
        }

        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?,
                    qualifiedName qName: String?) {
            flush()
            events.append(.end(elementName))
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }
        func parser(_ parser: XMLParser, foundIgnorableWhitespace whitespaceString: String) { text += whitespaceString }
        func parser(_ parser: XMLParser, foundCDATA CDATABlock: Data) {
            // Not String(data:encoding:), which drops a leading U+FEFF.
            guard let s = String(validating: Array(CDATABlock), as: UTF8.self) else { failed = true; return }
            // libxml2 hands CDATA over without XML 1.0 §2.11 line-end normalisation; Xmlm (and
            // the spec) normalise everywhere, so the oracle does it here.
            text += s.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        }
        var errorCodes = Set<Int>()
        func parser(_ parser: XMLParser, parseErrorOccurred parseError: any Error) { errorCodes.insert((parseError as NSError).code) }
        func parser(_ parser: XMLParser, validationErrorOccurred validationError: any Error) { failed = true }
        // Internal entities would be silently dropped by XMLParser; treat any DTD as a refusal so
        // that the oracle never "accepts" a document whose text it lost.
        func parser(_ parser: XMLParser, foundInternalEntityDeclarationWithName name: String, value: String?) { failed = true }
        func parser(_ parser: XMLParser, foundExternalEntityDeclarationWithName name: String, publicID: String?, systemID: String?) { failed = true }
        func parser(_ parser: XMLParser, resolveExternalEntityName name: String, systemID: String?) -> Data? { failed = true; return nil }
    }

    /// ocaml-rpc's `Xmlrpc.Parser` over the event list, with the decisions documented on
    /// `XMLRPC` (strict booleans, decimal integers).
    struct Interpreter {
        let events: [Event]
        var index = 0
        var depth = 0

        static func blank(_ s: String) -> Bool { s.unicodeScalars.allSatisfy { $0 == " " || $0 == "\n" || $0 == "\t" } }

        mutating func next() throws -> Event {
            guard index < events.count else { throw Rejected(reason: "end of events") }
            defer { index += 1 }
            return events[index]
        }

        mutating func peek() -> Event? { index < events.count ? events[index] : nil }

        /// Next start/end event, skipping blank text.
        mutating func tag() throws -> Event {
            let e = try next()
            if case .text(let t) = e {
                guard Self.blank(t) else { throw Rejected(reason: "text \(t.debugDescription) between elements") }
                return try next()
            }
            return e
        }

        mutating func expectStart(_ name: String) throws {
            guard try tag() == .start(name) else { throw Rejected(reason: "expected <\(name)>") }
        }

        mutating func expectEnd(_ name: String) throws {
            guard try tag() == .end(name) else { throw Rejected(reason: "expected </\(name)>") }
        }

        /// Text content then the end tag.
        mutating func textThenEnd(_ name: String) throws -> String {
            var text = ""
            if case .text(let t)? = peek() { text = t; index += 1 }
            guard try next() == .end(name) else { throw Rejected(reason: "expected </\(name)>") }
            return text
        }

        mutating func call() throws -> MethodCall {
            try expectStart("methodCall")
            try expectStart("methodName")
            let name = try textThenEnd("methodName")
            guard !name.isEmpty else { throw Rejected(reason: "empty method name") }
            try expectStart("params")
            var params: [Value] = []
            while true {
                let e = try tag()
                if e == .end("params") { break }
                guard e == .start("param") else { throw Rejected(reason: "expected <param>") }
                params.append(try value())
                try expectEnd("param")
            }
            try expectEnd("methodCall")
            guard index == events.count else { throw Rejected(reason: "events after the root") }
            return MethodCall(name: name, params: params)
        }

        mutating func value() throws -> Value {
            try expectStart("value")
            var leading = ""
            if case .text(let t)? = peek() { leading = t; index += 1 }
            let e = try next()
            if e == .end("value") { return .string(leading) }
            guard case .start(let type) = e, Self.blank(leading) else { throw Rejected(reason: "bad <value> content") }
            let result = try typed(type)
            try expectEnd("value")
            return result
        }

        mutating func scalar(_ type: String) throws -> String {
            let text = try textThenEnd(type)
            guard !text.isEmpty else { throw Rejected(reason: "empty <\(type)>") }
            return text
        }

        mutating func typed(_ type: String) throws -> Value {
            switch type {
            case "string":
                return .string(try textThenEnd("string"))
            case "int", "i4", "i8":
                let text = try scalar(type)
                guard text.unicodeScalars.allSatisfy({ "0123456789+-".unicodeScalars.contains($0) }),
                      let i = Int64(text) else { throw Rejected(reason: "bad int") }
                return .int(i)
            case "boolean":
                switch try scalar(type) {
                case "1": return .bool(true)
                case "0": return .bool(false)
                default: throw Rejected(reason: "bad boolean")
                }
            case "double":
                let text = try scalar(type)
                let lower = text.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "+-"))
                let special = ["inf", "infinity", "nan"].contains(lower)
                guard special || (text.unicodeScalars.allSatisfy({ "0123456789+-.eE".unicodeScalars.contains($0) })
                                  && text.contains(where: \.isNumber)),
                      let d = Double(text) else { throw Rejected(reason: "bad double") }
                return .double(d)
            case "dateTime.iso8601":
                guard let t = DateTime(parsing: try scalar(type)) else { throw Rejected(reason: "bad date") }
                return .dateTime(t)
            case "base64":
                let text = try textThenEnd("base64").filter { !" \t\n\r".contains($0) }
                guard let data = Data(base64Encoded: text) else { throw Rejected(reason: "bad base64") }
                return .string(String(decoding: Array(data), as: UTF8.self))
            case "nil":
                try expectEnd("nil")
                return .null
            case "array":
                depth += 1
                defer { depth -= 1 }
                guard depth <= XMLRPC.maxDepth else { throw Rejected(reason: "too deep") }
                let e = try tag()
                if e == .end("array") { return .array([]) }
                guard e == .start("data") else { throw Rejected(reason: "expected <data>") }
                var elements: [Value] = []
                while true {
                    let save = index
                    let e = try tag()
                    if e == .end("data") { break }
                    index = save
                    // value() skips leading blank text itself.
                    elements.append(try value())
                }
                try expectEnd("array")
                return .array(elements)
            case "struct":
                depth += 1
                defer { depth -= 1 }
                guard depth <= XMLRPC.maxDepth else { throw Rejected(reason: "too deep") }
                var structure = Structure()
                while true {
                    let e = try tag()
                    if e == .end("struct") { break }
                    guard e == .start("member") else { throw Rejected(reason: "expected <member>") }
                    try expectStart("name")
                    let key = try textThenEnd("name")
                    structure.append(key, try value())
                    try expectEnd("member")
                }
                return .structure(structure)
            default:
                throw Rejected(reason: "unknown type <\(type)>")
            }
        }
    }
}

/// `JSONSerialization` turned into a `Value`, for cross-checking `JSONText.parse`. Objects come
/// back unordered, so comparisons go through `canonical`.
enum FoundationJSON {
    static func parse(_ body: [UInt8]) -> Value? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) else {
            return nil
        }
        return convert(object)
    }

    static func convert(_ object: Any) -> Value? {
        switch object {
        case is NSNull:
            return .null
        case let s as String:
            return .string(s)
        case let n as NSNumber:
            if String(describing: type(of: n)).contains("Boolean") { return .bool(n.boolValue) }
            switch String(cString: n.objCType) {
            case "d", "f": return .double(n.doubleValue)
            case "Q":
                return n.uint64Value <= UInt64(Int64.max) ? .int(n.int64Value) : .double(Double(n.uint64Value))
            default: return .int(n.int64Value)
            }
        case let a as [Any]:
            var out: [Value] = []
            for element in a {
                guard let v = convert(element) else { return nil }
                out.append(v)
            }
            return .array(out)
        case let d as [String: Any]:
            var s = Structure()
            for (k, v) in d {
                guard let value = convert(v) else { return nil }
                s.append(k, value)
            }
            return canonical(.structure(s))
        default:
            return nil
        }
    }

    /// Whether our parse matches JSONSerialization's, allowing for two weaknesses of the latter
    /// on Linux: large negative integers come back as doubles, and its decimal-to-double
    /// conversion is not correctly rounded (errors of a few ulps, e.g. "-68108.07271879865"
    /// reads as -68108.07271879868). Our results are checked exactly against the generator's
    /// values in the same tests, so the tolerance only covers the oracle's error.
    static func equivalent(_ ours: Value, _ oracle: Value) -> Bool {
        func close(_ a: Double, _ b: Double) -> Bool {
            a == b || (a.isNaN && b.isNaN) || abs(a - b) <= 1e-14 * max(abs(a), abs(b))
        }
        switch (ours, oracle) {
        case (.int(let i), .double(let d)): return close(Double(i), d)
        case (.double(let a), .double(let b)): return close(a, b)
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { equivalent($0, $1) }
        case (.structure(let a), .structure(let b)):
            return a.count == b.count && zip(a.members, b.members).allSatisfy { $0.key == $1.key && equivalent($0.value, $1.value) }
        default:
            return ours == oracle
        }
    }

    /// Members sorted by key, recursively.
    static func canonical(_ value: Value) -> Value {
        switch value {
        case .array(let a): return .array(a.map(canonical))
        case .structure(let s):
            return .structure(Structure(s.members.map { .init(key: $0.key, value: canonical($0.value)) }
                .sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }))
        default: return value
        }
    }
}
