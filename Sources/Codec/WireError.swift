/// Why a request body could not be decoded. None of these is an API error: xapi answers them
/// with HTTP 500 (no `ErrorDescription`), and the connection goes on serving requests.
public enum WireError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Bytes that are not UTF-8, at this byte offset.
    case invalidUTF8(offset: Int)
    /// Not well-formed XML or JSON.
    case syntax(offset: Int, reason: String)
    /// The body ended in the middle of the document.
    case truncated(expected: String)
    /// Markup refused for safety: DOCTYPE, entity declarations, entity references other than
    /// the five predefined ones. This is what makes billion-laughs and external-entity (XXE)
    /// documents impossible rather than merely bounded.
    case forbidden(offset: Int, reason: String)
    /// Arrays/structs nested deeper than the documented limit.
    case tooDeep(offset: Int, limit: Int)
    /// Well-formed, but not the XML-RPC shape (wrong or unknown element).
    case unexpected(offset: Int, found: String, expected: String)
    /// A typed scalar whose text does not parse (`<int>x</int>`, an unparseable date, ...).
    case badValue(offset: Int, type: String, text: String)
    /// An XML declaration naming an encoding other than UTF-8 or US-ASCII.
    case unsupportedEncoding(String)
    /// Valid JSON that is not a JSON-RPC request xapi would accept.
    case malformedRequest(String)

    public var message: String {
        switch self {
        case .invalidUTF8(let offset):
            return "invalid UTF-8 at byte \(offset)"
        case .syntax(let offset, let reason):
            return "malformed document at byte \(offset): \(reason)"
        case .truncated(let expected):
            return "document ends early: expected \(expected)"
        case .forbidden(let offset, let reason):
            return "refused at byte \(offset): \(reason)"
        case .tooDeep(let offset, let limit):
            return "nesting deeper than \(limit) levels at byte \(offset)"
        case .unexpected(let offset, let found, let expected):
            return "unexpected \(found) at byte \(offset), expected \(expected)"
        case .badValue(let offset, let type, let text):
            return "invalid \(type) value \"\(text)\" at byte \(offset)"
        case .unsupportedEncoding(let name):
            return "unsupported document encoding \"\(name)\" (only UTF-8 is accepted)"
        case .malformedRequest(let reason):
            return "malformed JSON-RPC request: \(reason)"
        }
    }

    public var description: String { message }

    /// Keeps messages short when the offending text is huge or hostile.
    static func excerpt(_ text: String) -> String {
        text.count <= 64 ? text : String(text.prefix(64)) + "…"
    }
}
