import Logging
import Testing
@testable import Xapi
@testable import XapiDB

/// Handlers read their arguments by the names the datamodel gives them.
@Suite struct CallArgumentTests {
    func call(_ wireName: String, _ args: [Value]) async throws -> Call {
        let h = try await Harness(vms: 0)
        let dot = wireName.firstIndex(of: ".")!
        let message = try #require(h.api.database.model.class(named: String(wireName[..<dot]))?
            .message(String(wireName[wireName.index(after: dot)...])))
        return Call(api: h.api, message: message, name: wireName, session: nil, args: args, origin: .internal,
                    task: nil, logger: Logger(label: "test"), reply: ReplySlot())
    }

    @Test func argumentsByTheirDatamodelNames() async throws {
        let start = try await call("VM.start", [.string("OpaqueRef:a"), .bool(true), .bool(false)])
        #expect(try start.string("vm") == "OpaqueRef:a")
        #expect(try start.bool("start_paused"))
        #expect(try start.bool("force") == false)
        let snapshot = try await call("VM.snapshot", [.string("OpaqueRef:a"), .string("s"), .array([.string("OpaqueRef:b")])])
        #expect(try snapshot.strings("ignore_vdis") == ["OpaqueRef:b"])
    }

    /// A name the message lacks, or a read of the wrong type, is the handler's bug: INTERNAL_ERROR
    /// naming it, never a silent empty value.
    @Test func aMisspeltNameOrAWrongTypeIsRefused() async throws {
        let start = try await call("VM.start", [.string("OpaqueRef:a"), .bool(true), .bool(false)])
        #expect(throws: XapiError.internalError("VM.start has no parameter paused")) { try start.bool("paused") }
        #expect(throws: XapiError.self) { try start.string("force") }
    }

    /// A defaulted trailing parameter the caller left out reads as its default.
    @Test func aMissingDefaultedArgumentReadsAsItsDefault() async throws {
        let login = try await call("session.login_with_password", [.string("root"), .string("pw")])
        #expect(try login.string("version") == "1.1")
        #expect(try login.string("originator") == "")
    }
}
