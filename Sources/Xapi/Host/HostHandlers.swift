import XapiDB

/// Hosts: what a client asks of the machine it is connected to.
enum HostHandlers {
    static let table = ClassHandlers("host", [
        // xen-api ocaml/xapi/xapi_host.ml `get_servertime` (`Date.now`): XenCenter's connection
        // and its heartbeat every 15 s depend on it.
        "get_servertime": { call in
            _ = try call.database.read { s throws(XapiError) in try s.row(call.tables.host, try call.string("host")) }
            return .dateTime(.now())
        },
        // `get_server_localtime` (`Date.localtime`): the wall clock, no zone written.
        "get_server_localtime": { call in
            _ = try call.database.read { s throws(XapiError) in try s.row(call.tables.host, try call.string("host")) }
            return .dateTime(.localNow())
        },
        // xen-api ocaml/xapi/memory_check.ml: free memory counting every balloon at its
        // dynamic-min; the host's own overhead, kept in its record.
        "compute_free_memory": { call in
            let host = try call.string("host")
            return .int(try call.database.read { s throws(XapiError) in try VMMemory.hostFreeMemory(host, in: s, call.tables) })
        },
        "compute_memory_overhead": { call in
            let host = try call.string("host")
            return try call.database.read { s throws(XapiError) in try s.get(call.tables.host, host, .memoryOverhead) }
        },
    ])
}
