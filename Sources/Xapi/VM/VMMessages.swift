import XapiDB
import Xenops

/// The VM messages this server implements beyond the accessors derived from the datamodel:
/// one place per message. Power operations are foreground work from arrival to barrier.
enum VMMessages {
    static let table = ClassHandlers("VM", foreground: [
        "start", "start_on", "clean_shutdown", "hard_shutdown", "shutdown", "clean_reboot", "hard_reboot",
        "suspend", "resume", "resume_on", "pause", "unpause", "power_state_reset", "pool_migrate",
    ], [
        "create": VMHandlers.create,
        "destroy": VMHandlers.destroy,
        "clone": { call in try await VMCopies.copyVM(call, mode: .clone, newName: try call.string("new_name"), targetSR: nil) },
        "copy": { call in
            let sr = try call.string("sr")
            return try await VMCopies.copyVM(call, mode: .copy, newName: try call.string("new_name"), targetSR: sr == nullRef ? nil : sr)
        },
        "snapshot": { call in
            try await VMCopies.copyVM(call, mode: .snapshot(ignoring: Set(try call.strings("ignore_vdis"))),
                                      newName: try call.string("new_name"), targetSR: nil)
        },
        "provision": VMCopies.provision,
        "copy_bios_strings": VMHandlers.copyBiosStrings,
        "set_is_a_template": VMHandlers.setIsATemplate,
        // xen-api ocaml/xapi/xapi_vm.ml `assert_can_boot_here` and `get_possible_hosts`.
        "assert_can_boot_here": { call in
            let (vm, host) = (try call.string("self"), try call.string("host"))
            try call.database.read { s throws(XapiError) in try Placement.assertCanBootHere(vm, on: host, in: s, call.tables) }
            return .emptyString
        },
        // xapi_vm.ml: `Xapi_vm_lifecycle.assert_operation_valid ~strict:true`, and agility.ml.
        "assert_operation_valid": { call in
            let (vm, op) = (try call.string("self"), try call.string("op"))
            if let error = call.database.read({ s in VMOperations.check(op, vm: vm, strict: true, in: s, tables: call.tables) }) {
                throw error
            }
            return .emptyString
        },
        "assert_agile": { call in
            let vm = try call.string("self")
            try call.database.read { s throws(XapiError) in
                _ = try s.row(call.tables.vm, vm)
                try Agility.assertAgile(vm, in: s, call.tables)
            }
            return .emptyString
        },
        "get_possible_hosts": { call in
            let vm = try call.string("vm")
            return try call.database.read { s throws(XapiError) in
                _ = try s.row(call.tables.vm, vm)
                let hosts = s.refs(call.tables.host).sorted().filter { host in
                    (try? Placement.assertCanBootHere(vm, on: host, in: s, call.tables)) != nil
                }
                return .array(hosts.map(Value.string))
            }
        },
        "compute_memory_overhead": { call in
            let vm = try call.string("vm")
            return .int(try call.database.read { s throws(XapiError) in try VMMemory.overhead(vm, in: s, call.tables) })
        },
        // xen-api ocaml/xapi/xapi_vm.ml `get_allowed_VBD_devices`: free disk numbers, as strings.
        "get_allowed_VBD_devices": { call in
            let vm = try call.string("vm")
            return try call.database.read { s throws(XapiError) in
                let free = try DevicePositions.freeDisks(vm, kind: .disk, in: s, call.tables) ?? []
                return .array(free.map { .string(String($0.disk)) })
            }
        },
        "get_allowed_VIF_devices": { call in
            let vm = try call.string("vm")
            return try call.database.read { s throws(XapiError) in
                .array(try DevicePositions.freeInterfaces(vm, in: s, call.tables).map(Value.string))
            }
        },

        "start": { call in
            try await Lifecycle.start(call, operation: "start", on: nil, paused: try call.bool("start_paused"), force: try call.bool("force"))
        },
        "start_on": { call in
            try await Lifecycle.start(call, operation: "start_on", on: try call.string("host"), paused: try call.bool("start_paused"), force: try call.bool("force"))
        },
        "clean_shutdown": { call in try await Lifecycle.shutdown(call, operation: "clean_shutdown", clean: true) },
        "hard_shutdown": { call in try await Lifecycle.shutdown(call, operation: "hard_shutdown", clean: false) },
        "shutdown": { call in try await Lifecycle.shutdown(call, operation: "shutdown", clean: nil) },
        "clean_reboot": { call in try await Lifecycle.reboot(call, operation: "clean_reboot", clean: true) },
        "hard_reboot": { call in try await Lifecycle.reboot(call, operation: "hard_reboot", clean: false) },
        "suspend": Lifecycle.suspend,
        "resume": { call in
            try await Lifecycle.resume(call, operation: "resume", on: nil, paused: try call.bool("start_paused"), force: try call.bool("force"))
        },
        "resume_on": { call in
            try await Lifecycle.resume(call, operation: "resume_on", on: try call.string("host"), paused: try call.bool("start_paused"), force: try call.bool("force"))
        },
        "pause": { call in try await Lifecycle.simple(call, operation: "pause") { $0.vm.pause($1) } },
        "unpause": { call in try await Lifecycle.simple(call, operation: "unpause") { $0.vm.unpause($1) } },
        "power_state_reset": Lifecycle.powerStateReset,
        "pool_migrate": PoolMigration.poolMigrate,
        "set_VCPUs_number_live": Lifecycle.setVCPUsLive,

        "set_memory_limits": VMMemory.setLimits,
        "set_memory": VMMemory.setMemory,
        "set_memory_static_range": { call in try await VMMemory.staticRange(call, min: try call.int("min"), max: try call.int("max")) },
        "set_memory_static_max": { call in try await VMMemory.staticRange(call, min: nil, max: try call.int("value")) },
        "set_memory_static_min": { call in try await VMMemory.staticRange(call, min: try call.int("value"), max: nil) },
        "set_memory_dynamic_range": { call in try await VMMemory.dynamicRange(call, min: try call.int("min"), max: try call.int("max")) },
        "set_memory_dynamic_max": { call in try await VMMemory.dynamicRange(call, min: nil, max: try call.int("value")) },
        "set_memory_dynamic_min": { call in try await VMMemory.dynamicRange(call, min: try call.int("value"), max: nil) },
    ])
}
