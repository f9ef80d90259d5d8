import Testing
@testable import Xapi
@testable import XapiDB

@Suite struct HandlerRegistryTests {
    static let noop: Handler = { _ in .emptyString }

    @Test func theServersTablesMatchTheDatamodel() throws {
        let registry = try HandlerRegistry(HandlerRegistry.tables, model: .xapi)
        #expect(registry.handlers["VM.start"] != nil)
        #expect(registry.handlers["VGPU.create"] != nil)
        #expect(registry.foreground.contains("VM.start"))
        #expect(registry.foreground.contains("VBD.plug"))
        #expect(!registry.foreground.contains("VM.get_record"))
    }

    @Test func aMisspeltKeyIsRefused() {
        let table = ClassHandlers("VM", ["strat": Self.noop])
        #expect(throws: HandlerRegistry.Problem.notAMessage("VM.strat")) {
            try HandlerRegistry([table], model: .xapi)
        }
    }

    @Test func aKeyDefinedTwiceIsRefused() {
        let once = ClassHandlers("VM", ["start": Self.noop])
        let again = ClassHandlers("VM", ["clone": Self.noop, "start": Self.noop])
        #expect(throws: HandlerRegistry.Problem.definedTwice("VM.start")) {
            try HandlerRegistry([once, again], model: .xapi)
        }
        let twiceInOneTable = ClassHandlers("task", ["cancel": Self.noop, "cancel": Self.noop])
        #expect(throws: HandlerRegistry.Problem.definedTwice("task.cancel")) {
            try HandlerRegistry([twiceInOneTable], model: .xapi)
        }
    }

    @Test func anUnknownClassOrAForegroundWithoutHandlerIsRefused() {
        #expect(throws: HandlerRegistry.Problem.unknownClass("VMM")) {
            try HandlerRegistry([ClassHandlers("VMM", ["start": Self.noop])], model: .xapi)
        }
        #expect(throws: HandlerRegistry.Problem.foregroundWithoutHandler("VM.suspend")) {
            try HandlerRegistry([ClassHandlers("VM", foreground: ["suspend"], ["start": Self.noop])], model: .xapi)
        }
    }
}

@Suite struct ForegroundSpellingTests {
    /// `Async.VM.start` and `VM_start` used to miss the PriorityGate: the check looked at the
    /// raw wire name. Every spelling resolves to the same message, so to the same decision.
    @Test func everySpellingOfAPowerCallIsForeground() async throws {
        let h = try await Harness()
        for spelling in ["VM.start", "Async.VM.start", "VM_start", "Async.VM_start", "InternalAsync.VM.start"] {
            let resolved = h.api.resolve(spelling)
            #expect(resolved.method?.message.wireName == "VM.start", "\(spelling)")
            #expect(h.api.runsInForeground(resolved.method), "\(spelling)")
        }
        for spelling in ["VBD_plug", "Async.VIF.unplug"] {
            #expect(h.api.runsInForeground(h.api.resolve(spelling).method), "\(spelling)")
        }
        for spelling in ["VM.get_record", "VM_get_record", "Async.VM.clone"] {
            #expect(!h.api.runsInForeground(h.api.resolve(spelling).method), "\(spelling)")
        }
    }
}

/// `allowed_operations` offers only what the server implements (issue 20).
@Suite struct OfferedOperationTests {
    @Test func unimplementedOperationsAreNeverOffered() async throws {
        let implemented = VMOperationMessages.implemented
        for op in ["start", "clean_shutdown", "clone", "snapshot", "changing_dynamic_range", "changing_VCPUs_live", "destroy", "pool_migrate"] {
            #expect(implemented.contains(op), "\(op)")
        }
        // No handler answers these yet: cross-pool migration, checkpoints, HTTP export, vTPMs.
        for op in ["migrate_send", "checkpoint", "export", "metadata_export", "create_vtpm"] {
            #expect(!implemented.contains(op), "\(op)")
        }
        let h = try await Harness()
        for vm in try await h.vms() {
            let offered = try await h.value("VM.get_allowed_operations", .string(vm)).arrayValue!.compactMap(\.stringValue)
            #expect(!offered.isEmpty && offered.allSatisfy(implemented.contains))
        }
    }
}
