import NIOCore
import NIOHTTP1

/// A complete response, built off the event loop and written on it in one go.
struct HTTPResponse: Sendable {
    var version: HTTPVersion
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: ByteBuffer
    /// Close the connection once the response is written.
    var close: Bool
}

/// The responses xapi's HTTP server writes, with its header names and values
/// (`Http_svr.response_of_request`, `response_error_html`, `respond_to_options`;
/// `Api_server.callback`): lower-case names where xapi writes them so, a `content-length`
/// always, never chunked, no `Date`/`Server`.
enum XapiResponses {
    static let xmlContentType = "text/xml"
    static let jsonContentType = "application/json"

    /// xapi answers HTTP/1.0 requests in HTTP/1.0 and everything else in HTTP/1.1.
    static func responseVersion(for request: HTTPVersion) -> HTTPVersion {
        request == .http1_0 ? .http1_0 : .http1_1
    }

    /// `200 OK` carrying an RPC result.
    static func rpc(_ body: ByteBuffer, contentType: String, for request: HTTPRequest) -> HTTPResponse {
        let headers = HTTPHeaders([
            ("connection", request.keepAlive ? "keep-alive" : "close"),
            ("cache-control", "no-cache, no-store"),
            ("content-type", contentType),
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Headers", "X-Requested-With"),
            ("content-length", String(body.readableBytes)),
        ])
        return HTTPResponse(
            version: self.responseVersion(for: request.version),
            status: .ok,
            headers: headers,
            body: body,
            close: !request.keepAlive
        )
    }

    /// The CORS pre-flight answer: the requested headers are echoed with `X-Requested-With`
    /// appended, and xapi advertises only `PUT` (POST needs no permission: it is a
    /// CORS-safelisted method).
    static func corsPreflight(for request: HTTPRequest, allocator: ByteBufferAllocator) -> HTTPResponse {
        let requested = request.headers.first(name: "access-control-request-headers")
        let allowHeaders = requested.map { "\($0), X-Requested-With" } ?? "X-Requested-With"
        let headers = HTTPHeaders([
            ("connection", request.keepAlive ? "keep-alive" : "close"),
            ("cache-control", "no-cache, no-store"),
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Headers", allowHeaders),
            ("Access-Control-Allow-Methods", "PUT"),
            ("content-length", "0"),
        ])
        return HTTPResponse(
            version: self.responseVersion(for: request.version),
            status: .ok,
            headers: headers,
            body: allocator.buffer(capacity: 0),
            close: !request.keepAlive
        )
    }

    /// The failure answer for an RPC that could not be decoded, as xapi's
    /// `response_internal_error`: `500 Internal Error`, an HTML page, `connection: close`.
    static func internalError(message: String, version: HTTPVersion, allocator: ByteBufferAllocator) -> HTTPResponse {
        self.errorPage(
            status: .custom(code: 500, reasonPhrase: "Internal Error"),
            title: "HTTP 500 internal server error",
            text: "An unexpected error occurred; please wait a while and try again.",
            detail: message,
            version: version,
            allocator: allocator
        )
    }

    static func payloadTooLarge(limit: Int, version: HTTPVersion, allocator: ByteBufferAllocator) -> HTTPResponse {
        self.errorPage(
            status: .payloadTooLarge,
            title: "HTTP 413 request entity too large",
            text: "The request body exceeds the limit of \(limit) bytes.",
            detail: nil,
            version: version,
            allocator: allocator
        )
    }

    static func notFound(path: String, version: HTTPVersion, allocator: ByteBufferAllocator) -> HTTPResponse {
        self.errorPage(
            status: .notFound,
            title: "HTTP 404 not found",
            text: "Nothing is served at this path.",
            detail: path,
            version: version,
            allocator: allocator
        )
    }

    static func methodNotImplemented(_ method: HTTPMethod, version: HTTPVersion, allocator: ByteBufferAllocator) -> HTTPResponse {
        self.errorPage(
            status: .custom(code: 501, reasonPhrase: "Method not implemented"),
            title: "HTTP 501 Method Not Implemented",
            text: "\(method.rawValue) not supported.",
            detail: nil,
            version: version,
            allocator: allocator
        )
    }

    /// Error pages always close the connection, as xapi's `response_error_html` does.
    private static func errorPage(
        status: HTTPResponseStatus,
        title: String,
        text: String,
        detail: String?,
        version: HTTPVersion,
        allocator: ByteBufferAllocator
    ) -> HTTPResponse {
        var html = "<html><body><h1>\(title)</h1>\(htmlEscaped(text))"
        if let detail { html += "<p>\(htmlEscaped(detail))</p>" }
        html += "</body></html>"
        let body = allocator.buffer(string: html)
        let headers = HTTPHeaders([
            ("content-type", "text/html"),
            ("connection", "close"),
            ("cache-control", "no-cache, no-store"),
            ("content-length", String(body.readableBytes)),
        ])
        return HTTPResponse(
            version: self.responseVersion(for: version),
            status: status,
            headers: headers,
            body: body,
            close: true
        )
    }
}

func htmlEscaped(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}
