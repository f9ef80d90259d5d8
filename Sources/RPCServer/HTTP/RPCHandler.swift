/// Which listener a request arrived on.
///
/// xapi treats callers on its local Unix socket as pre-authenticated root
/// (`Context.preauth`), so the dispatcher needs to know where a request came from.
public enum Listener: Sendable, Hashable {
    case tcp
    case unixSocket
}

/// What the dispatcher needs to know about the HTTP request that carried an RPC.
public struct RPCRequestContext: Sendable {
    /// Unix-socket callers are pre-authenticated as the local superuser.
    public var listener: Listener
    /// The request path without the query string (`/`, `/RPC2`, `/jsonrpc`, …).
    public var path: String
    /// The `originator` header, which XenAPI.py's `UDSTransport` sends.
    public var originator: String?
    public var userAgent: String?
    /// The TCP peer's IP address; `nil` on the Unix socket.
    public var remoteAddress: String?

    public init(
        listener: Listener,
        path: String,
        originator: String? = nil,
        userAgent: String? = nil,
        remoteAddress: String? = nil
    ) {
        self.listener = listener
        self.path = path
        self.originator = originator
        self.userAgent = userAgent
        self.remoteAddress = remoteAddress
    }
}

/// The outcome of one RPC as the HTTP layer must render it.
public enum RPCReply: Sendable, Equatable {
    /// `200 OK`; the content type follows the endpoint (`text/xml` or `application/json`).
    /// API failures (`Status: Failure`, JSON-RPC `error`) travel here too: they are RPC results.
    case ok(body: [UInt8])
    /// A request xapi could not even decode (bad XML, broken JSON-RPC envelope): xapi answers
    /// `500 Internal Error` with a small HTML page and closes the connection. `message` goes
    /// into the page, HTML-escaped.
    case transportFailure(message: String)
}

/// The dispatcher behind the HTTP layer.
///
/// Calls run in child tasks of the server's `run()`, so they see task cancellation and
/// swift-service-lifecycle graceful shutdown (`withGracefulShutdownHandler`,
/// `cancelWhenGracefulShutdown`). A handler may suspend for as long as it needs (an
/// `event.from` long-poll): it delays only the connection it arrived on.
public protocol RPCHandler: Sendable {
    /// Any POST path other than `/jsonrpc…` (`/`, `/RPC2`, `/json`, …): an XML-RPC `methodCall`.
    func xmlrpc(body: [UInt8], context: RPCRequestContext) async -> RPCReply
    /// `POST /jsonrpc`: a JSON-RPC 1.0 or 2.0 request.
    func jsonrpc(body: [UInt8], context: RPCRequestContext) async -> RPCReply
    /// The JSON document served at `GET /diagnostics`, with the results of the checks the
    /// query asked for (`?check=refs`).
    func diagnostics(checks: Set<DiagnosticsCheck>) async -> [UInt8]
}

/// A consistency check `GET /diagnostics?check=…` runs on the live state (comma-separated or
/// repeated: `check=refs`).
public enum DiagnosticsCheck: String, Sendable, CaseIterable {
    /// No row names a row that is gone, and derived sets agree with the refs they derive from.
    case refs

    /// The checks a query string asks for; an unknown name is refused with its spelling.
    static func parse(query: String) -> Result<Set<DiagnosticsCheck>, UnknownCheck> {
        var checks: Set<DiagnosticsCheck> = []
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.first == "check", parts.count == 2 else { continue }
            for name in parts[1].split(separator: ",") {
                guard let check = DiagnosticsCheck(rawValue: String(name)) else { return .failure(UnknownCheck(name: String(name))) }
                checks.insert(check)
            }
        }
        return .success(checks)
    }

    struct UnknownCheck: Error {
        let name: String
    }
}
