import Testing
@testable import Xapi
@testable import XapiDB

@Suite struct EventAPITests {
    @Test func fromReturnsEverythingThenOnlyChanges() async throws {
        let h = try await Harness()
        let first = try await h.value("event_from", .array([.string("*")]), .string(""), .double(1)).structureValue!
        let events = first["events"]!.arrayValue!
        #expect(!events.isEmpty)
        #expect(events.allSatisfy { $0.structureValue!["operation"] == .string("add") })
        #expect(events.allSatisfy { $0.structureValue!["class"] != .string("session") })
        let vmCount = try await h.value("VM.get_all").arrayValue!.count
        #expect(first["valid_ref_counts"]?.structureValue?["vm"] == .int32(Int32(vmCount)))
        let token = first["token"]!
        let vm = try await h.vms()[0]
        async let next = h.value("event.from", .array([.string("vm")]), token, .double(5))
        try await Task.sleep(for: .milliseconds(100))
        _ = try await h.value("VM.set_name_label", .string(vm), .string("changed"))
        let changed = try await next.structureValue!
        let changes = changed["events"]!.arrayValue!.map(\.structureValue!)
        #expect(changes.count == 1)
        #expect(changes[0]["operation"] == .string("mod"))
        #expect(changes[0]["ref"] == .string(vm))
        #expect(changes[0]["snapshot"]?.structureValue?["name_label"] == .string("changed"))
        let timedOut = try await h.value("event.from", .array([.string("vm")]), changed["token"]!, .double(0.2)).structureValue!
        #expect(timedOut["events"] == .array([]))
        #expect(timedOut["token"] == changed["token"])
        #expect(await h.error("event.from", .array([]), .string("12"), .double(1)) == ["EVENT_FROM_TOKEN_PARSE_FAILURE", "12"])
    }

    @Test func injectOrdersAgainstLaterTokens() async throws {
        let h = try await Harness()
        let vm = try await h.vms()[0]
        let token = try await h.value("event.inject", .string("VM"), .string(vm))
        #expect(await h.error("event.inject", .string("vm"), .string(vm)) == ["HANDLE_INVALID", "vm", vm])
        let batch = try await h.value("event.from", .array([.string("vm/\(vm)")]), token, .double(1)).structureValue!
        #expect(batch["events"]?.arrayValue?.count == 1)
        #expect(batch["token"]!.stringValue! > token.stringValue!)
    }

    @Test func registerNextAndLogoutWakesBlockedCalls() async throws {
        let h = try await Harness()
        let handle = "trackid=" + MD5.hex(of: h.session)
        #expect(await h.error("event.next") == ["SESSION_NOT_REGISTERED", handle])
        _ = try await h.value("event.register", .array([.string("VM"), .string("pool")]))
        let blockedNext = Task { await h.error("event.next") }
        let blockedFrom = Task { await h.error("event.from", .array([.string("*")]), .string("00000000099999999999,0"), .double(30)) }
        try await Task.sleep(for: .milliseconds(200))
        _ = try await h.value("session.logout")
        #expect(await blockedNext.value == ["SESSION_INVALID", h.session])
        #expect(await blockedFrom.value == ["SESSION_INVALID", h.session])
    }
}
