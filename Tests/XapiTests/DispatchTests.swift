import Testing
@testable import Xapi
@testable import XapiDB

@Suite struct DispatchTests {
    @Test func loginLogoutAndSessionErrors() async throws {
        let h = try await Harness()
        let bad = await h.api.call("session.login_with_password", [.string("root"), .string("wrong")], origin: .init(transport: .tcp))
        #expect(bad.failureDescription == ["SESSION_AUTHENTICATION_FAILED", "root", "Authentication failure"])
        let local = await h.api.call("session.login_with_password", [.string(""), .string("")], origin: .init(transport: .unixSocket))
        #expect((try local.get().stringValue ?? "").hasPrefix("OpaqueRef:"))
        let record = try await h.value("session.get_record", .string(h.session)).structureValue!
        #expect(record["is_local_superuser"] == .bool(true))
        #expect(record["this_host"] == .string(h.api.localHost()))
        #expect(try await h.value("session.logout") == .string(""))
        #expect(await h.error("VM.get_all") == ["SESSION_INVALID", h.session])
        // A nil session (Python before login) is a type error, not SESSION_INVALID.
        let nilSession = await h.api.call("VM.get_all", [.null], origin: .init(transport: .tcp))
        #expect(nilSession.failureDescription?.first == "INTERNAL_ERROR")
    }

    @Test func namesAliasesAndCounts() async throws {
        let h = try await Harness()
        let viaAlias = try await h.value("VM_get_all").arrayValue?.count
        #expect(viaAlias == (try await h.value("VM.get_all").arrayValue?.count))
        #expect(await h.error("VM.no_such_thing") == ["MESSAGE_METHOD_UNKNOWN", "VM.no_such_thing"])
        #expect(await h.error("vm.get_all") == ["MESSAGE_METHOD_UNKNOWN", "vm.get_all"])
        let vm = try await h.vms()[0]
        #expect(await h.error("VM.start", .string(vm)) == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.start", "3", "1"])
        #expect(await h.error("VM.get_record") == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_record", "1", "0"])
        // Defaulted trailing parameters may be omitted, and extra ones are ignored.
        let login = await h.api.call("session.login_with_password",
                                     [.string("root"), .string("secret"), .string("1.0"), .string("test"), .string("extra")],
                                     origin: .init(transport: .tcp))
        #expect(try login.get().stringValue?.hasPrefix("OpaqueRef:") == true)
        #expect(await h.error("Async.VM.get_record", .string(vm)) == ["Fault", "No async mode for this operation (rpc: VM.get_record)"])
        #expect(await h.error("host.dmesg", .string(h.api.localHost())) == ["NOT_IMPLEMENTED", "host.dmesg"])
    }

    /// get_record answers are cached per row generation: every write to the row, a reverse set
    /// included, must show in the next answer.
    @Test func cachedRecordsFollowEveryChange() async throws {
        let h = try await Harness()
        let vm = try await h.vms()[0]
        let first = try await h.value("VM.get_record", .string(vm)).structureValue!
        #expect(try await h.value("VM.get_record", .string(vm)).structureValue! == first)
        _ = try await h.value("VM.set_name_label", .string(vm), .string("renamed"))
        #expect(try await h.value("VM.get_record", .string(vm)).structureValue!["name_label"] == .string("renamed"))
        _ = try await h.value("VM.add_to_other_config", .string(vm), .string("k"), .string("v"))
        #expect(try await h.value("VM.get_record", .string(vm)).structureValue!["other_config"]?.structureValue?["k"] == .string("v"))
        let vbds = first["VBDs"]?.arrayValue ?? []
        try #require(!vbds.isEmpty)
        _ = try await h.value("VBD.destroy", vbds[0])
        let after = try await h.value("VM.get_record", .string(vm)).structureValue!
        #expect(after["VBDs"]?.arrayValue?.contains(vbds[0]) == false)
        #expect(after["VBDs"]?.arrayValue?.count == vbds.count - 1)
        _ = try await h.value("VM.destroy", .string(vm))
        #expect(await h.error("VM.get_record", .string(vm)) == ["HANDLE_INVALID", "VM", vm])
    }

    @Test func recordsLookupsAndHandles() async throws {
        let h = try await Harness()
        let vm = try await h.vms()[0]
        let record = try await h.value("VM.get_record", .string(vm)).structureValue!
        #expect(record.count == 90)
        #expect(record["power_state"] == .string("Halted"))
        #expect(record["VBDs"]?.arrayValue?.count == 2)
        #expect(record["VIFs"]?.arrayValue?.count == 1)
        #expect(try await h.value("VM.get_by_uuid", record["uuid"]!) == .string(vm))
        #expect(try await h.value("VM.get_by_name_label", record["name_label"]!) == .array([.string(vm)]))
        #expect(await h.error("VM.get_by_uuid", .string("nope")) == ["UUID_INVALID", "VM", "nope"])
        #expect(await h.error("VM.get_record", .string("OpaqueRef:x")) == ["HANDLE_INVALID", "VM", "OpaqueRef:x"])
        #expect(try await h.value("VM.get_power_state", .string(vm)) == .string("Halted"))
        // Every class's records carry every field.
        for table in h.api.database.model.tables where table.message("get_all_records")?.isImplicit == true && table.lifecycle != .removed
            && table.message("get_all_records")?.lifecycle != .removed {
            let all = try await h.value("\(table.name).get_all_records").structureValue!
            for member in all.members {
                #expect(member.value.structureValue?.count == table.fields.count)
                let one = try await h.value("\(table.name).get_record", .string(member.key))
                #expect(one == member.value)
            }
        }
    }

    @Test func settersMapsAndSets() async throws {
        let h = try await Harness()
        let vm = try await h.vms()[0]
        _ = try await h.value("VM.set_name_label", .string(vm), .string("renamed"))
        #expect(try await h.value("VM.get_name_label", .string(vm)) == .string("renamed"))
        _ = try await h.value("VM.add_to_other_config", .string(vm), .string("k"), .string("v"))
        #expect(await h.error("VM.add_to_other_config", .string(vm), .string("k"), .string("w"))
                == ["MAP_DUPLICATE_KEY", "VM", "other_config", vm, "k"])
        _ = try await h.value("VM.remove_from_other_config", .string(vm), .string("k"))
        _ = try await h.value("VM.remove_from_other_config", .string(vm), .string("k"))
        #expect(try await h.value("VM.get_other_config", .string(vm)).structureValue?["k"] == nil)
        _ = try await h.value("VM.add_tags", .string(vm), .string("red"))
        _ = try await h.value("VM.add_tags", .string(vm), .string("red"))
        #expect(try await h.value("VM.get_tags", .string(vm)) == .array([.string("red")]))
        _ = try await h.value("VM.remove_tags", .string(vm), .string("red"))
        #expect(try await h.value("VM.get_tags", .string(vm)) == .array([]))
        // Ints as strings, enums in any case; bools strictly.
        _ = try await h.value("VM.set_VCPUs_max", .string(vm), .string("4"))
        #expect(try await h.value("VM.get_VCPUs_max", .string(vm)) == .int(4))
        _ = try await h.value("VM.set_actions_after_crash", .string(vm), .string("DESTROY"))
        #expect(try await h.value("VM.get_actions_after_crash", .string(vm)) == .string("destroy"))
        #expect(await h.error("VM.set_is_a_template", .string(vm), .string("true"))?.first == "INTERNAL_ERROR")
        #expect(await h.error("VM.set_name_label", .string(vm), .int(3))?.first == "INTERNAL_ERROR")
        #expect(await h.error("VM.set_VCPUs_max", .string(vm), .string("four"))?.first == "INTERNAL_ERROR")
    }

    @Test func whereQueries() async throws {
        let h = try await Harness(vms: 4)
        let halted = try await h.value("VM.get_all_records_where", .string(#"field "power_state" = "Halted" and field "is_a_template" = "false""#))
        #expect(halted.structureValue?.count == 4)
        let running = try await h.value("VM.get_all_where", .string(#"field "power_state" = "Running""#))
        #expect(running.arrayValue?.count == 1)    // the control domain
        #expect(await h.error("VM.get_all_records_where", .string("field \"x"))?.first == "INVALID_VALUE")
    }

    @Test func createAndDestroy() async throws {
        let h = try await Harness()
        let template = try await h.value("VM.get_all_records_where", .string(#"field "name__label" = "Other install media""#))
        var record = template.structureValue!.members[0].value.structureValue!
        record["name_label"] = .string("from a record")
        record["unknown_key"] = .string("ignored")
        record["is_a_template"] = .bool(false)
        let vm = try await h.value("VM.create", .structure(record)).stringValue!
        let created = try await h.value("VM.get_record", .string(vm)).structureValue!
        #expect(created["name_label"] == .string("from a record"))
        #expect(created["power_state"] == .string("Halted"))
        #expect(created["metrics"]?.stringValue?.hasPrefix("OpaqueRef:") == true)
        #expect(created["allowed_operations"]?.arrayValue?.contains(.string("start")) == true)
        #expect(created["allowed_operations"]?.arrayValue?.contains(.string("shutdown")) == false)
        record["memory_static_max"] = nil
        #expect(await h.error("VM.create", .structure(record))
                == ["INTERNAL_ERROR", #"Server_helpers.Dispatcher_FieldNotFound("memory_static_max")"#])
        _ = try await h.value("VM.destroy", .string(vm))
        #expect(await h.error("VM.get_record", .string(vm)) == ["HANDLE_INVALID", "VM", vm])
        let vdi = try await h.value("VDI.get_all").arrayValue![0]
        let vdiRecord = try await h.value("VDI.get_record", vdi).structureValue!
        let copy = try await h.value("VDI.create", .structure(vdiRecord)).stringValue!
        #expect(try await h.value("SR.get_VDIs", vdiRecord["SR"]!).arrayValue?.contains(.string(copy)) == true)
    }

    @Test func controlDomainAndTemplatesRefuseOperations() async throws {
        let h = try await Harness()
        let dom0 = try await h.value("VM.get_all_where", .string(#"field "is_control_domain" = "true""#)).arrayValue![0].stringValue!
        #expect(await h.error("VM.destroy", .string(dom0)) == ["VM_BAD_POWER_STATE", dom0, "halted, suspended", "running"])
        let template = try await h.value("VM.get_all_where", .string(#"field "name__label" = "Other install media""#)).arrayValue![0].stringValue!
        #expect(await h.error("VM.destroy", .string(template)) == ["VM_IS_TEMPLATE", template, "destroy"])
    }
}

extension Result where Failure == XapiError {
    var failureDescription: [String]? {
        if case .failure(let e) = self { return e.errorDescription }
        return nil
    }
}
