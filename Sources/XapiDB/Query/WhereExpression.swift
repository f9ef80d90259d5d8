import Foundation

/// The filter language of `get_all_records_where` (xen-api ocaml/database/db_filter_lex.mll,
/// db_filter_parse.mly): `field "power_state" = "Halted" and not (field "is_a_template" = "true")`.
/// Comparisons are string equality on each field's database encoding; `and`/`or` share one
/// precedence level and associate left; `not` binds tighter.
public indirect enum WhereExpression: Sendable, Equatable {
    public enum Operand: Sendable, Equatable {
        case field(String)
        case literal(String)
    }

    case constant(Bool)
    case equal(Operand, Operand)
    case not(WhereExpression)
    case and(WhereExpression, WhereExpression)
    case or(WhereExpression, WhereExpression)

    /// Parse errors become INVALID_VALUE [expr, message], as xapi reports them.
    public init(parsing text: String) throws(XapiError) {
        var parser = Parser(tokens: try Lexer.tokens(text, original: text), text: text)
        let expression = try parser.expression()
        guard parser.atEnd else { throw .invalidValue(field: text, value: "unexpected token after expression") }
        self = expression
    }

    /// Evaluates against one row; `lookup` yields a field's database encoding, or nil if the
    /// class has no such field.
    public func evaluate(_ lookup: (String) -> String?) throws(XapiError) -> Bool {
        switch self {
        case .constant(let b): return b
        case .not(let e): return try !e.evaluate(lookup)
        case .and(let a, let b):
            guard try a.evaluate(lookup) else { return false }
            return try b.evaluate(lookup)
        case .or(let a, let b):
            if try a.evaluate(lookup) { return true }
            return try b.evaluate(lookup)
        case .equal(let a, let b): return try WhereExpression.resolve(a, lookup) == WhereExpression.resolve(b, lookup)
        }
    }

    private static func resolve(_ operand: Operand, _ lookup: (String) -> String?) throws(XapiError) -> String {
        switch operand {
        case .literal(let s): return s
        case .field(let name):
            guard let value = lookup(name) else { throw .invalidValue(field: "field", value: name) }
            return value
        }
    }

    private enum Token: Equatable {
        case field, literal(String), equals, and, or, not, `true`, `false`, open, close
    }

    private enum Lexer {
        static func tokens(_ text: String, original: String) throws(XapiError) -> [Token] {
            var tokens: [Token] = []
            var chars = Array(text.unicodeScalars)[...]
            while let c = chars.first {
                if c == " " || c == "\t" || c == "\n" || c == "\r" { chars = chars.dropFirst(); continue }
                switch c {
                case "=": tokens.append(.equals); chars = chars.dropFirst()
                case "(": tokens.append(.open); chars = chars.dropFirst()
                case ")": tokens.append(.close); chars = chars.dropFirst()
                case "\"":
                    chars = chars.dropFirst()
                    guard let end = chars.firstIndex(of: "\"") else {
                        throw .invalidValue(field: original, value: "unterminated string literal")
                    }
                    var literal = String.UnicodeScalarView()
                    literal.append(contentsOf: chars[..<end])
                    tokens.append(.literal(String(literal)))
                    chars = chars[chars.index(after: end)...]
                default:
                    var word = String.UnicodeScalarView()
                    while let w = chars.first, w.properties.isAlphabetic || w == "_" {
                        word.append(w)
                        chars = chars.dropFirst()
                    }
                    switch String(word) {
                    case "field": tokens.append(.field)
                    case "and": tokens.append(.and)
                    case "or": tokens.append(.or)
                    case "not": tokens.append(.not)
                    case "true": tokens.append(.true)
                    case "false": tokens.append(.false)
                    default: throw .invalidValue(field: original, value: "unexpected character '\(c)'")
                    }
                }
            }
            return tokens
        }
    }

    private struct Parser {
        var tokens: [Token]
        var position = 0
        let text: String

        var atEnd: Bool { position == tokens.count }

        mutating func take() -> Token? {
            guard position < tokens.count else { return nil }
            defer { position += 1 }
            return tokens[position]
        }

        func peek() -> Token? { position < tokens.count ? tokens[position] : nil }

        mutating func expression() throws(XapiError) -> WhereExpression {
            var left = try term()
            while let op = peek(), op == .and || op == .or {
                position += 1
                let right = try term()
                left = op == .and ? .and(left, right) : .or(left, right)
            }
            return left
        }

        mutating func term() throws(XapiError) -> WhereExpression {
            switch take() {
            case .not: return .not(try term())
            case .true: return .constant(true)
            case .false: return .constant(false)
            case .open:
                let inner = try expression()
                guard take() == .close else { throw .invalidValue(field: text, value: "expected ')'") }
                return inner
            case .field?, .literal?:
                position -= 1
                let a = try operand()
                guard take() == .equals else { throw .invalidValue(field: text, value: "expected '='") }
                return .equal(a, try operand())
            default:
                throw .invalidValue(field: text, value: "expected an expression")
            }
        }

        mutating func operand() throws(XapiError) -> Operand {
            switch take() {
            case .literal(let s): return .literal(s)
            case .field:
                guard case .literal(let name)? = take() else {
                    throw .invalidValue(field: text, value: "expected a quoted field name after 'field'")
                }
                return .field(name)
            default:
                throw .invalidValue(field: text, value: "expected a literal or a field")
            }
        }
    }
}

extension Value {
    /// The string xapi's database stores for a value (gen_db_actions.ml `dm_to_string`): what
    /// where-expressions compare. Sets and maps are S-expressions: `('a' 'b')`, `(('k' 'v'))`.
    public var databaseString: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .int32(let i): return String(i)
        case .double(let d): return String(format: "%0.18g", d)
        case .bool(let b): return b ? "true" : "false"
        case .dateTime(let d): return d.description
        case .null: return ""
        case .array(let items):
            return "(" + items.map { Value.sexpString($0.databaseString) }.joined(separator: " ") + ")"
        case .structure(let s):
            return "(" + s.members.map { "(" + Value.sexpString($0.key) + " " + Value.sexpString($0.value.databaseString) + ")" }
                .joined(separator: " ") + ")"
        }
    }

    private static func sexpString(_ s: String) -> String {
        var out = "'"
        for c in s {
            if c == "'" || c == "\\" { out.append("\\") }
            out.append(c)
        }
        return out + "'"
    }
}

extension ClassSchema {
    /// Finds a field by its database column name. xapi's columns join namespaces with `__`
    /// (`name__label`) where records use `_`; both spellings are accepted.
    public func field(column: String) -> FieldSchema? {
        field(column) ?? field(column.replacingOccurrences(of: "__", with: "_"))
    }
}
