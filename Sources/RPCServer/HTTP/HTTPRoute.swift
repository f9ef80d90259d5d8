import NIOHTTP1

/// Where a request goes, by xapi's rules: handlers are chosen by method, then by the
/// longest registered path prefix (`Http_svr.handle_one`, `Radix_tree.longest_prefix`).
enum HTTPRoute: Equatable {
    /// Any POST not under `/jsonrpc`: `/`, `/RPC2` (Python's default path), `/json` (which
    /// xapi still answers in XML-RPC), and everything else that falls through to `/`.
    case xmlrpc
    /// POST `/jsonrpc` and anything below it.
    case jsonrpc
    case diagnostics
    /// OPTIONS on any path (xapi registers it on `/`, so every path matches).
    case corsPreflight
    case notFound
    case methodNotImplemented

    init(method: HTTPMethod, path: String) {
        switch method {
        case .POST:
            self = path.utf8.starts(with: "/jsonrpc".utf8) ? .jsonrpc : .xmlrpc
        case .OPTIONS:
            self = .corsPreflight
        case .GET:
            self = path == "/diagnostics" ? .diagnostics : .notFound
        default:
            self = .methodNotImplemented
        }
    }
}
