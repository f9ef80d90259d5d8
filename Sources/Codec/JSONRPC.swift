public import XapiDB

/// JSON-RPC at `/jsonrpc` as xapi speaks it (ocaml-rpc `Jsonrpc.version_id_and_call_of_string`
/// and `string_of_response`, xapi's `Api_server.callback1` for the 2.0 error object).
public enum JSONRPC {
    public enum Version: Sendable, Equatable {
        case v1, v2
    }

    public struct Request: Sendable, Equatable {
        public var version: Version
        /// `.int` or `.string`, echoed verbatim in the response.
        public var id: Value
        public var method: String
        public var params: [Value]

        public init(version: Version, id: Value, method: String, params: [Value]) {
            self.version = version
            self.id = id
            self.method = method
            self.params = params
        }

        public var call: MethodCall { MethodCall(name: method, params: params) }
    }

    /// Version 2.0 iff `"jsonrpc": "2.0"` (any other `jsonrpc` value is malformed). Version 1.0
    /// needs `params` to be an array; 2.0 also takes it absent or null (no parameters) or an
    /// object (one struct parameter). `id` must be an integer or a string: notifications
    /// (no id, or null) get no response from xapi's dispatcher, so they are refused here.
    /// When a member appears twice, the first one counts, as in ocaml-rpc.
    public static func parseRequest(_ body: [UInt8]) throws(WireError) -> Request {
        try request(from: JSONText.parse(body))
    }

    public static func parseRequest(bytes: UnsafeRawBufferPointer) throws(WireError) -> Request {
        try request(from: JSONText.parse(bytes: bytes))
    }

    static func request(from json: Value) throws(WireError) -> Request {
        guard case .structure(let object) = json else {
            throw .malformedRequest("Invalid request body")
        }
        guard let methodValue = object["method"] else {
            throw .malformedRequest("Required field method is missing")
        }
        guard case .string(let method) = methodValue else {
            throw .malformedRequest("Invalid field 'method' in request body")
        }
        let version: Version
        switch object["jsonrpc"] {
        case nil: version = .v1
        case .string("2.0")?: version = .v2
        default: throw .malformedRequest("Invalid field 'jsonrpc' in request body")
        }
        let params: [Value]
        switch (version, object["params"]) {
        case (.v1, nil):
            throw .malformedRequest("Required field params is missing")
        case (_, .array(let list)?):
            params = list
        case (.v2, nil), (.v2, .null?):
            params = []
        case (.v2, .structure(let structure)?):
            params = [.structure(structure)]
        default:
            throw .malformedRequest("Invalid field 'params' in request body")
        }
        let id: Value
        switch object["id"] {
        case .int(let i)?: id = .int(i)
        case .string(let s)?: id = .string(s)
        default: throw .malformedRequest("Invalid field 'id' in request body")
        }
        return Request(version: version, id: id, method: method, params: params)
    }

    /// v1 `{"result":V,"error":null,"id":ID}`, v2 `{"jsonrpc":"2.0","result":V,"id":ID}`.
    public static func success(_ value: Value, for request: Request) -> [UInt8] {
        success(for: request) { value.writeJSON(into: &$0) }
    }

    /// As `success(_:for:)` with the result already encoded (an answer shared by several calls:
    /// only the id differs between them).
    public static func success(encodedResult: [UInt8], for request: Request) -> [UInt8] {
        success(for: request) { $0.append(contentsOf: encodedResult) }
    }

    /// The JSON encoding of a result, as `success(encodedResult:for:)` takes it.
    public static func encodedResult(_ value: Value) -> [UInt8] {
        var out: [UInt8] = []
        value.writeJSON(into: &out)
        return out
    }

    private static func success(for request: Request, writeResult: (inout [UInt8]) -> Void) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        switch request.version {
        case .v1:
            out.appendASCII("{\"result\":")
            writeResult(&out)
            out.appendASCII(",\"error\":null,\"id\":")
        case .v2:
            out.appendASCII("{\"jsonrpc\":\"2.0\",\"result\":")
            writeResult(&out)
            out.appendASCII(",\"id\":")
        }
        request.id.writeJSON(into: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// v1 `{"result":null,"error":["CODE","p1",…],"id":ID}`; v2
    /// `{"jsonrpc":"2.0","error":{"code":1,"message":"CODE","data":["p1",…]},"id":ID}` — xapi's
    /// error object always has code 1. An empty description gives message "" and data [].
    public static func failure(_ errorDescription: [String], for request: Request) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        switch request.version {
        case .v1:
            out.appendASCII("{\"result\":null,\"error\":")
            Value.array(errorDescription.map(Value.string)).writeJSON(into: &out)
        case .v2:
            out.appendASCII("{\"jsonrpc\":\"2.0\",\"error\":{\"code\":1,\"message\":")
            Value.string(errorDescription.first ?? "").writeJSON(into: &out)
            out.appendASCII(",\"data\":")
            Value.array(errorDescription.dropFirst().map(Value.string)).writeJSON(into: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.appendASCII(",\"id\":")
        request.id.writeJSON(into: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }
}
