import Foundation

/// Just enough XML-RPC for a load generator: requests as Python's client writes them, and the
/// few values the scenarios read back from responses.
enum RPC {
    static func call(_ method: String, _ params: [Param]) -> [UInt8] {
        var s = "<?xml version='1.0'?>\n<methodCall>\n<methodName>\(method)</methodName>\n<params>\n"
        for p in params { s += "<param>\n<value>\(p.xml)</value>\n</param>\n" }
        s += "</params>\n</methodCall>\n"
        return Array(s.utf8)
    }

    enum Param {
        case string(String), double(Double), bool(Bool), array([String])

        var xml: String {
            switch self {
            case .string(let s): "<string>\(s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;"))</string>"
            case .double(let d): "<double>\(d)</double>"
            case .bool(let b): "<boolean>\(b ? 1 : 0)</boolean>"
            case .array(let items): "<array><data>\n" + items.map { "<value><string>\($0)</string></value>\n" }.joined() + "</data></array>"
            }
        }
    }

    /// The text of the first `<member><name>NAME</name><value>…</value>` in a response.
    static func member(_ name: String, in body: [UInt8]) -> String? {
        let text = String(decoding: body, as: UTF8.self)
        guard let start = text.range(of: "<name>\(name)</name><value>") else { return nil }
        let rest = text[start.upperBound...]
        guard let end = rest.range(of: "</value>") else { return nil }
        return String(rest[..<end.lowerBound])
    }

    static func isSuccess(_ body: [UInt8]) -> Bool {
        member("Status", in: body) == "Success"
    }

    /// All `OpaqueRef:…` strings in a response, in order.
    static func refs(in body: [UInt8]) -> [String] {
        let text = String(decoding: body, as: UTF8.self)
        var refs: [String] = []
        var rest = text[...]
        while let r = rest.range(of: "OpaqueRef:") {
            let tail = rest[r.lowerBound...]
            let end = tail.firstIndex(of: "<") ?? tail.endIndex
            refs.append(String(tail[..<end]))
            rest = tail[end...]
        }
        return refs
    }
}
