import NIOCore
import NIOHTTP1

/// A complete response, built off the event loop and written on it in one go.
struct HTTPResponse: Sendable {
    enum Head: Sendable {
        /// `200 OK` with xapi's RPC headers, whose bytes are precomputed (``XapiResponses/rpc``).
        case rpc(contentType: RPCContentType, keepAlive: Bool)
        case general(status: HTTPResponseStatus, headers: HTTPHeaders)
    }

    var version: HTTPVersion
    var head: Head
    var body: [UInt8]
    /// Close the connection once the response is written.
    var close: Bool

    var status: HTTPResponseStatus {
        switch self.head {
        case .rpc: .ok
        case .general(let status, _): status
        }
    }

    /// The header fields in order, `content-length` included.
    var headers: HTTPHeaders {
        switch self.head {
        case .rpc(let contentType, let keepAlive):
            XapiResponses.rpcHeaders(contentType: contentType, keepAlive: keepAlive, length: self.body.count)
        case .general(_, let headers):
            headers
        }
    }

    /// What NIO's `HTTPServerPipelineHandler` did to a keep-alive response while the server
    /// quiesces: its `connection` header replaced by a `connection: close` at the end.
    func closingForShutdown() -> HTTPResponse {
        var response = self
        response.close = true
        var headers = self.headers
        guard HTTPResponseHead(version: self.version, status: self.status, headers: headers).isKeepAlive else {
            return response
        }
        headers.replaceOrAdd(name: "connection", value: "close")
        response.head = .general(status: self.status, headers: headers)
        return response
    }

    /// The bytes on the wire, as NIO's `HTTPResponseEncoder` wrote them for these responses:
    /// status line, `name: value` lines, a blank line, the body (none for a `HEAD` request).
    func write(into buffer: inout ByteBuffer, omittingBody: Bool) {
        switch self.head {
        case .rpc(let contentType, let keepAlive):
            buffer.writeBytes(XapiResponses.rpcHeadPrefix(version: self.version, contentType: contentType, keepAlive: keepAlive))
            buffer.writeString(String(self.body.count))
            buffer.writeStaticString("\r\n\r\n")
        case .general(let status, let headers):
            writeHead(status: status, headers: headers, version: self.version, into: &buffer)
        }
        if !omittingBody {
            buffer.writeBytes(self.body)
        }
    }
}

/// `HTTP/1.1 200 OK`, the headers, and the blank line.
func writeHead(status: HTTPResponseStatus, headers: HTTPHeaders, version: HTTPVersion, into buffer: inout ByteBuffer) {
    buffer.writeString("HTTP/\(version.major).\(version.minor) \(status.code) \(status.reasonPhrase)\r\n")
    for (name, value) in headers {
        buffer.writeString(name)
        buffer.writeStaticString(": ")
        buffer.writeString(value)
        buffer.writeStaticString("\r\n")
    }
    buffer.writeStaticString("\r\n")
}

/// The two RPC endpoints' content types.
enum RPCContentType: Sendable {
    case xml
    case json

    var headerValue: String {
        switch self {
        case .xml: "text/xml"
        case .json: "application/json"
        }
    }
}

/// The responses xapi's HTTP server writes, with its header names and values
/// (`Http_svr.response_of_request`, `response_error_html`, `respond_to_options`;
/// `Api_server.callback`): lower-case names where xapi writes them so, a `content-length`
/// always, never chunked, no `Date`/`Server`.
enum XapiResponses {
    /// xapi answers HTTP/1.0 requests in HTTP/1.0 and everything else in HTTP/1.1.
    static func responseVersion(for request: HTTPVersion) -> HTTPVersion {
        request == .http1_0 ? .http1_0 : .http1_1
    }

    /// `200 OK` carrying an RPC result.
    static func rpc(_ body: [UInt8], contentType: RPCContentType, for request: HTTPRequest) -> HTTPResponse {
        HTTPResponse(
            version: self.responseVersion(for: request.version),
            head: .rpc(contentType: contentType, keepAlive: request.keepAlive),
            body: body,
            close: !request.keepAlive
        )
    }

    static func rpcHeaders(contentType: RPCContentType, keepAlive: Bool, length: Int) -> HTTPHeaders {
        HTTPHeaders([
            ("connection", keepAlive ? "keep-alive" : "close"),
            ("cache-control", "no-cache, no-store"),
            ("content-type", contentType.headerValue),
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Headers", "X-Requested-With"),
            ("content-length", String(length)),
        ])
    }

    /// An RPC answer's head up to the `content-length` value, for each version, content type
    /// and keep-alive: written from ``rpcHeaders(contentType:keepAlive:length:)`` once, so the
    /// bytes cannot drift from the general form.
    static func rpcHeadPrefix(version: HTTPVersion, contentType: RPCContentType, keepAlive: Bool) -> [UInt8] {
        let index = (version == .http1_0 ? 4 : 0) + (contentType == .json ? 2 : 0) + (keepAlive ? 1 : 0)
        return rpcHeadPrefixes[index]
    }

    private static let rpcHeadPrefixes: [[UInt8]] = [HTTPVersion.http1_1, .http1_0].flatMap { version in
        [RPCContentType.xml, .json].flatMap { contentType in
            [false, true].map { keepAlive in
                var buffer = ByteBuffer()
                writeHead(status: .ok, headers: rpcHeaders(contentType: contentType, keepAlive: keepAlive, length: 0),
                          version: version, into: &buffer)
                // Drop the length "0" and the "\r\n\r\n" after it.
                let bytes = Array(buffer.readableBytesView)
                let suffix = Array("0\r\n\r\n".utf8)
                precondition(bytes.suffix(suffix.count).elementsEqual(suffix), "content-length must be the last header")
                return Array(bytes.dropLast(suffix.count))
            }
        }
    }

    /// `HTTP/1.x 100 Continue` with no headers, as NIO's encoder wrote it.
    static func continueHead(version: HTTPVersion) -> StaticString {
        version == .http1_0 ? "HTTP/1.0 100 Continue\r\n\r\n" : "HTTP/1.1 100 Continue\r\n\r\n"
    }

    /// NIO's `HTTPServerProtocolErrorHandler` answer to unparseable HTTP.
    static let badRequest: StaticString = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"

    /// The CORS pre-flight answer: the requested headers are echoed with `X-Requested-With`
    /// appended, and xapi advertises only `PUT` (POST needs no permission: it is a
    /// CORS-safelisted method).
    static func corsPreflight(for request: HTTPRequest) -> HTTPResponse {
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
            head: .general(status: .ok, headers: headers),
            body: [],
            close: !request.keepAlive
        )
    }

    /// The failure answer for an RPC that could not be decoded, as xapi's
    /// `response_internal_error`: `500 Internal Error`, an HTML page, `connection: close`.
    static func internalError(message: String, version: HTTPVersion) -> HTTPResponse {
        self.errorPage(
            status: .custom(code: 500, reasonPhrase: "Internal Error"),
            title: "HTTP 500 internal server error",
            text: "An unexpected error occurred; please wait a while and try again.",
            detail: message,
            version: version
        )
    }

    static func payloadTooLarge(limit: Int, version: HTTPVersion) -> HTTPResponse {
        self.errorPage(
            status: .payloadTooLarge,
            title: "HTTP 413 request entity too large",
            text: "The request body exceeds the limit of \(limit) bytes.",
            detail: nil,
            version: version
        )
    }

    static func notFound(path: String, version: HTTPVersion) -> HTTPResponse {
        self.errorPage(
            status: .notFound,
            title: "HTTP 404 not found",
            text: "Nothing is served at this path.",
            detail: path,
            version: version
        )
    }

    static func badQuery(reason: String, version: HTTPVersion) -> HTTPResponse {
        self.errorPage(
            status: .badRequest,
            title: "HTTP 400 bad request",
            text: "The request cannot be answered as written.",
            detail: reason,
            version: version
        )
    }

    static func methodNotImplemented(_ method: HTTPMethod, version: HTTPVersion) -> HTTPResponse {
        self.errorPage(
            status: .custom(code: 501, reasonPhrase: "Method not implemented"),
            title: "HTTP 501 Method Not Implemented",
            text: "\(method.rawValue) not supported.",
            detail: nil,
            version: version
        )
    }

    /// Error pages always close the connection, as xapi's `response_error_html` does.
    private static func errorPage(
        status: HTTPResponseStatus,
        title: String,
        text: String,
        detail: String?,
        version: HTTPVersion
    ) -> HTTPResponse {
        var html = "<html><body><h1>\(title)</h1>\(htmlEscaped(text))"
        if let detail { html += "<p>\(htmlEscaped(detail))</p>" }
        html += "</body></html>"
        let body = Array(html.utf8)
        let headers = HTTPHeaders([
            ("content-type", "text/html"),
            ("connection", "close"),
            ("cache-control", "no-cache, no-store"),
            ("content-length", String(body.count)),
        ])
        return HTTPResponse(
            version: self.responseVersion(for: version),
            head: .general(status: status, headers: headers),
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
