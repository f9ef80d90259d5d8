import Testing
import XapiDB
@testable import Codec

@Suite struct JSONRPCTests {
    private func request(_ text: String) throws(WireError) -> JSONRPC.Request {
        try JSONRPC.parseRequest(Array(text.utf8))
    }

    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test func version1() throws {
        let r = try request(#"{"method":"session.login_with_password","params":["root","secret"],"id":1}"#)
        #expect(r == JSONRPC.Request(version: .v1, id: .int(1), method: "session.login_with_password",
                                     params: [.string("root"), .string("secret")]))
        #expect(r.call == MethodCall(name: "session.login_with_password", params: [.string("root"), .string("secret")]))
    }

    @Test func version2() throws {
        let r = try request(#"{"jsonrpc":"2.0","method":"VM.get_all","params":["OpaqueRef:s"],"id":"abc"}"#)
        #expect(r == JSONRPC.Request(version: .v2, id: .string("abc"), method: "VM.get_all", params: [.string("OpaqueRef:s")]))
        #expect(try request(#"{"jsonrpc":"2.0","method":"m","id":1}"#).params == [])
        #expect(try request(#"{"jsonrpc":"2.0","method":"m","params":null,"id":1}"#).params == [])
        #expect(try request(#"{"jsonrpc":"2.0","method":"m","params":{"a":1},"id":1}"#).params == [.structure(["a": .int(1)])])
        // Members in any order; the first of duplicates counts.
        #expect(try request(#"{"id":5,"params":[],"method":"a","method":"b"}"#).method == "a")
    }

    @Test(arguments: [
        #"[]"#, #""x""#, #"{}"#,
        #"{"params":[],"id":1}"#,  // no method
        #"{"method":1,"params":[],"id":1}"#,
        #"{"method":"m","id":1}"#,  // v1 needs params
        #"{"method":"m","params":null,"id":1}"#,
        #"{"method":"m","params":{"a":1},"id":1}"#,
        #"{"jsonrpc":"2.0","method":"m","params":"x","id":1}"#,
        #"{"jsonrpc":"1.0","method":"m","params":[],"id":1}"#,
        #"{"jsonrpc":2.0,"method":"m","params":[],"id":1}"#,
        #"{"method":"m","params":[]}"#,  // notification
        #"{"method":"m","params":[],"id":null}"#,
        #"{"method":"m","params":[],"id":1.5}"#,
        #"{"method":"m","params":[],"id":true}"#,
        #"{"method":"m","params":[],"id":[1]}"#,
        #"{"method":"m","params":[],"id":99999999999999999999}"#,
        #"{"method":"m","params":[],"id":1"#,
    ])
    func rejectsMalformedRequests(body: String) {
        #expect(throws: WireError.self) { try request(body) }
    }

    @Test func errorsQuoteOcamlRpc() {
        #expect(throws: WireError.malformedRequest("Invalid field 'id' in request body")) {
            try request(#"{"method":"m","params":[]}"#)
        }
        #expect(throws: WireError.malformedRequest("Required field params is missing")) {
            try request(#"{"method":"m","id":1}"#)
        }
    }

    @Test func version1Responses() {
        let r = JSONRPC.Request(version: .v1, id: .int(3), method: "m", params: [])
        #expect(text(JSONRPC.success(.string("OpaqueRef:x"), for: r)) == #"{"result":"OpaqueRef:x","error":null,"id":3}"#)
        #expect(text(JSONRPC.failure(["HANDLE_INVALID", "VM", "OpaqueRef:x"], for: r))
            == #"{"result":null,"error":["HANDLE_INVALID","VM","OpaqueRef:x"],"id":3}"#)
    }

    @Test func version2Responses() {
        let r = JSONRPC.Request(version: .v2, id: .string("q\"1"), method: "m", params: [])
        #expect(text(JSONRPC.success(.structure(["a": .int(1), "b": .double(0.5)]), for: r))
            == #"{"jsonrpc":"2.0","result":{"a":1,"b":0.5},"id":"q\"1"}"#)
        #expect(text(JSONRPC.failure(["SESSION_INVALID", "OpaqueRef:s"], for: r))
            == #"{"jsonrpc":"2.0","error":{"code":1,"message":"SESSION_INVALID","data":["OpaqueRef:s"]},"id":"q\"1"}"#)
        #expect(text(JSONRPC.failure(["MESSAGE_REMOVED"], for: r))
            == #"{"jsonrpc":"2.0","error":{"code":1,"message":"MESSAGE_REMOVED","data":[]},"id":"q\"1"}"#)
        #expect(text(JSONRPC.failure([], for: r)) == #"{"jsonrpc":"2.0","error":{"code":1,"message":"","data":[]},"id":"q\"1"}"#)
    }

    /// Task results are XML fragments even over JSON-RPC (trap 15).
    /// A shared answer's result is encoded once; each caller's response only adds its own id.
    @Test func preEncodedResultsGiveTheSameBytes() {
        let value = Value.structure(["name_label": .string("a \"b\""), "VCPUs_max": .int(2), "tags": .array([])])
        let encoded = JSONRPC.encodedResult(value)
        for r in [JSONRPC.Request(version: .v1, id: .int(7), method: "m", params: []),
                  JSONRPC.Request(version: .v2, id: .string("x"), method: "m", params: [])] {
            #expect(JSONRPC.success(encodedResult: encoded, for: r) == JSONRPC.success(value, for: r))
        }
    }

    @Test func taskResultTravelsAsAString() {
        let r = JSONRPC.Request(version: .v2, id: .int(1), method: "task.get_result", params: [])
        let fragment = Value.string("OpaqueRef:vm").xmlrpcFragment
        #expect(text(JSONRPC.success(.string(fragment), for: r)) == #"{"jsonrpc":"2.0","result":"<value>OpaqueRef:vm</value>","id":1}"#)
    }
}
