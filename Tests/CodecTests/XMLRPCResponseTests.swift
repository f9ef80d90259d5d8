import Testing
import XapiDB
@testable import Codec

@Suite struct XMLRPCResponseTests {
    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test func loginSuccessIsByteExact() {
        #expect(text(XMLRPC.success(.string(Fixtures.sessionRef))) == Fixtures.loginResponse)
    }

    @Test func failureIsByteExact() {
        let body = XMLRPC.failure(["VM_BAD_POWER_STATE", "OpaqueRef:1", "halted", "running"])
        #expect(text(body) == #"<?xml version="1.0"?><methodResponse><params><param><value><struct>"#
            + #"<member><name>Status</name><value>Failure</value></member>"#
            + #"<member><name>ErrorDescription</name><value><array><data><value>VM_BAD_POWER_STATE</value>"#
            + #"<value>OpaqueRef:1</value><value>halted</value><value>running</value></data></array></value></member>"#
            + #"</struct></value></param></params></methodResponse>"#)
        #expect(text(XMLRPC.failure(["SESSION_INVALID", "a<b"])).contains("<value>a&lt;b</value>"))
    }

    @Test func voidResultIsAnEmptyValue() {
        #expect(text(XMLRPC.success(.emptyString)).contains("<member><name>Value</name><value></value></member>"))
    }

    @Test func bareValueForListMethods() {
        #expect(text(XMLRPC.bare(.array([.string("VM.start"), .string("VM.clone")])))
            == #"<?xml version="1.0"?><methodResponse><params><param><value><array><data>"#
            + #"<value>VM.start</value><value>VM.clone</value></data></array></value></param></params></methodResponse>"#)
    }

    /// The shape of §4.4: event records with string ids, `valid_ref_counts` as `<i4>`.
    @Test func eventFromResultShape() {
        var snapshot = Structure()
        snapshot.append("name_label", .string("web"))
        snapshot.append("memory_static_max", .int(1_073_741_824))
        var event = Structure()
        event.append("id", .string("1205"))
        event.append("timestamp", .string("0.0"))
        event.append("class", .string("vm"))
        event.append("operation", .string("mod"))
        event.append("ref", .string("OpaqueRef:3f6e"))
        event.append("snapshot", .structure(snapshot))
        var deleted = Structure()
        deleted.append("id", .string("1206"))
        deleted.append("timestamp", .string("0.0"))
        deleted.append("class", .string("task"))
        deleted.append("operation", .string("del"))
        deleted.append("ref", .string("OpaqueRef:9a1c"))
        var counts = Structure()
        counts.append("vm", .int32(12))
        counts.append("task", .int32(0))
        var result = Structure()
        result.append("events", .array([.structure(event), .structure(deleted)]))
        result.append("valid_ref_counts", .structure(counts))
        result.append("token", .string("00000000000000001206,00000000000000000000"))
        let expected = #"<?xml version="1.0"?><methodResponse><params><param><value><struct>"#
            + #"<member><name>Status</name><value>Success</value></member><member><name>Value</name>"#
            + "<value><struct>"
            + "<member><name>events</name><value><array><data>"
            + "<value><struct>"
            + "<member><name>id</name><value>1205</value></member>"
            + "<member><name>timestamp</name><value>0.0</value></member>"
            + "<member><name>class</name><value>vm</value></member>"
            + "<member><name>operation</name><value>mod</value></member>"
            + "<member><name>ref</name><value>OpaqueRef:3f6e</value></member>"
            + "<member><name>snapshot</name><value><struct>"
            + "<member><name>name_label</name><value>web</value></member>"
            + "<member><name>memory_static_max</name><value>1073741824</value></member>"
            + "</struct></value></member>"
            + "</struct></value>"
            + "<value><struct>"
            + "<member><name>id</name><value>1206</value></member>"
            + "<member><name>timestamp</name><value>0.0</value></member>"
            + "<member><name>class</name><value>task</value></member>"
            + "<member><name>operation</name><value>del</value></member>"
            + "<member><name>ref</name><value>OpaqueRef:9a1c</value></member>"
            + "</struct></value>"
            + "</data></array></value></member>"
            + "<member><name>valid_ref_counts</name><value><struct>"
            + "<member><name>vm</name><value><i4>12</i4></value></member>"
            + "<member><name>task</name><value><i4>0</i4></value></member>"
            + "</struct></value></member>"
            + "<member><name>token</name><value>00000000000000001206,00000000000000000000</value></member>"
            + "</struct></value>"
            + "</member></struct></value></param></params></methodResponse>"
        #expect(text(XMLRPC.success(.structure(result))) == expected)
    }
}
