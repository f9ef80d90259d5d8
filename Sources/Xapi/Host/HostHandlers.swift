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
    ])
}
