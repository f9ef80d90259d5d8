import XapiDB

/// The `role` class, answered from `RoleCatalog` as xen-api ocaml/xapi/xapi_role.ml answers it:
/// every accessor reads the static table, and the filtered forms know only the two filters xapi
/// does (`subroles<>[]`: the roles; `subroles=[]`: the permissions), anything else being all.
enum RoleHandlers {
    static let table = ClassHandlers("role", [
        "get_all": { _ in .array(catalog.all.map { .string($0.ref) }) },
        "get_all_records": { _ in records(catalog.all) },
        "get_all_where": { call in .array(try filtered(call).map { .string($0.ref) }) },
        "get_all_records_where": { call in records(try filtered(call)) },
        "get_record": { call in try role(call).record },
        "get_by_uuid": { call in .string(try catalog.role(uuid: try call.string("uuid")).ref) },
        "get_by_name_label": { call in
            let label = try call.string("label")
            return .array(catalog.all.filter { $0.nameLabel == label }.prefix(1).map { .string($0.ref) })
        },
        "get_uuid": { call in .string(try role(call).uuid) },
        "get_name_label": { call in .string(try role(call).nameLabel) },
        "get_name_description": { call in .string(try role(call).nameDescription) },
        "get_subroles": { call in .array(try role(call).subroles.map(Value.string)) },
        "get_is_internal": { call in .bool(try role(call).isInternal) },
        "get_permissions": { call in .array(try catalog.permissions(of: try call.string("self")).map { .string($0.ref) }) },
        "get_permissions_name_label": { call in
            .array(try catalog.permissions(of: try call.string("self")).map { .string($0.nameLabel) })
        },
        "get_by_permission": { call in
            let permission = try call.string("permission")
            return .array(catalog.roles { $0.ref == permission }.map { .string($0.ref) })
        },
        "get_by_permission_name_label": { call in
            let label = try call.string("label")
            return .array(catalog.roles { $0.nameLabel == label }.map { .string($0.ref) })
        },
    ])

    static var catalog: RoleCatalog { .shared }

    private static func role(_ call: Call) throws(XapiError) -> RoleCatalog.Role {
        try catalog.role(try call.string("self"))
    }

    private static func records(_ roles: [RoleCatalog.Role]) -> Value {
        .structure(Structure(roles.map { .init(key: $0.ref, value: $0.record) }))
    }

    private static func filtered(_ call: Call) throws(XapiError) -> [RoleCatalog.Role] {
        switch try call.string("expr") {
        case "subroles<>[]": catalog.staticRoles
        case "subroles=[]": catalog.all.filter(\.subroles.isEmpty)
        default: catalog.all
        }
    }
}
