import XapiDB

/// xapi's roles, which live in no database: generated from the datamodel at build time
/// (xen-api ocaml/idl/ocaml_backend/gen_rbac.ml) and served from that static table
/// (ocaml/xapi/xapi_role.ml). Each message is a permission, a role with no subroles; each static
/// role (`pool-admin` … `read-only`) has as subroles the permissions of the messages it may call.
/// A role's uuid is the MD5 digest of its name (pool-admin's is fixed: it is the default of
/// `subject.roles`), and its ref is `OpaqueRef:` and the uuid.
struct RoleCatalog: Sendable {
    struct Role: Sendable {
        let ref: String
        let uuid: String
        let nameLabel: String
        let nameDescription: String
        let subroles: [String]
        let isInternal: Bool

        var record: Value {
            .structure([
                "uuid": .string(uuid), "name_label": .string(nameLabel), "name_description": .string(nameDescription),
                "subroles": .array(subroles.map(Value.string)), "is_internal": .bool(isInternal),
            ])
        }
    }

    /// Permissions first, then the static roles, as xapi lists them.
    let all: [Role]
    let staticRoles: [Role]
    private let byRef: [String: Int]

    /// xen-api ocaml/xapi-consts/constants.ml `rbac_pool_admin_uuid`.
    static let poolAdminUUID = "0165f154-ba3e-034e-6b27-5d271af109ba"

    static let shared = RoleCatalog(Datamodel.xapi)

    /// What each static role may do, in our words (xapi's datamodel_roles.ml describes them).
    static let descriptions: [String: String] = [
        "pool-admin": "Full access to every feature and setting, dom0, subjects, roles and external authentication included",
        "pool-operator": "Manages host- and pool-wide resources: storage, pools, patches, high availability and workload balancing",
        "vm-power-admin": "Full access to VMs and templates, including choosing where VMs start, dynamic memory control and snapshots",
        "vm-admin": "Manages VMs and templates",
        "vm-operator": "Uses VMs and interacts with their consoles",
        "client-cert": "Access granted to clients that authenticate with a certificate",
        "read-only": "Logs in with basic read-only access",
    ]

    init(_ model: Datamodel) {
        var permissions: [Role] = []
        var granted: [String: [String]] = [:]
        for schema in model.classes {
            for message in schema.messages where !message.roles.isEmpty {
                let uuid = Self.uuid(of: message.wireName)
                let ref = "OpaqueRef:" + uuid
                permissions.append(Role(ref: ref, uuid: uuid, nameLabel: message.wireName.lowercased(),
                                        nameDescription: "A basic permission", subroles: [], isInternal: true))
                for role in message.roles { granted[role, default: []].append(ref) }
            }
        }
        staticRoles = model.roleNames.map { name in
            let uuid = name == "pool-admin" ? Self.poolAdminUUID : Self.uuid(of: name)
            return Role(ref: "OpaqueRef:" + uuid, uuid: uuid, nameLabel: name.lowercased(),
                        nameDescription: Self.descriptions[name] ?? "", subroles: granted[name] ?? [],
                        isInternal: name == "client-cert")
        }
        all = permissions + staticRoles
        byRef = Dictionary(all.enumerated().map { ($1.ref, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// gen_rbac.ml `hash2uuid`: the 16 bytes of the name's MD5 digest, written as a uuid.
    static func uuid(of name: String) -> String {
        let hex = MD5.hex(of: name)
        let cuts = [8, 12, 16, 20]
        var out = ""
        for (i, c) in hex.enumerated() {
            if cuts.contains(i) { out.append("-") }
            out.append(c)
        }
        return out
    }

    func role(_ ref: String) throws(XapiError) -> Role {
        guard let index = byRef[ref] else { throw .handleInvalid(class: "role", ref: ref) }
        return all[index]
    }

    /// xapi_role.ml `get_permissions`: the leaves under a role (a permission is its own), once each.
    func permissions(of ref: String) throws(XapiError) -> [Role] {
        let role = try role(ref)
        if role.subroles.isEmpty { return [role] }
        var seen = Set<String>()
        var out: [Role] = []
        for sub in role.subroles {
            for leaf in try permissions(of: sub) where seen.insert(leaf.ref).inserted { out.append(leaf) }
        }
        return out
    }

    func role(uuid: String) throws(XapiError) -> Role {
        guard let role = all.first(where: { $0.uuid == uuid }) else { throw .uuidInvalid(class: "role", uuid: uuid) }
        return role
    }

    /// The static roles that hold a permission.
    func roles(holding permission: (Role) -> Bool) -> [Role] {
        staticRoles.filter { role in role.subroles.contains { (try? self.role($0)).map(permission) ?? false } }
    }
}
