import XapiDB

/// PBDs: the attachment of an SR to a host.
enum PBDHandlers {
    static let table = ClassHandlers("PBD", [
        "destroy": destroy,
    ])

    /// xen-api ocaml/xapi/xapi_pbd.ml `destroy`: refused while plugged; the secrets its
    /// device-config names (`…password_secret` keys, by uuid) go with it
    /// (xapi_secret.ml `clean_out_passwds`).
    static let destroy: Handler = { call in
        let t = call.tables
        let pbd = try call.string("self")
        try call.database.write { s throws(XapiError) in
            if try s.get(t.pbd, pbd, .currentlyAttached) == .bool(true) {
                throw .operationNotAllowed("PBD is currently attached")
            }
            let config = try s.get(t.pbd, pbd, .deviceConfig).structureValue ?? Structure()
            try s.delete(t.pbd, pbd)
            let secrets = s.table("secret")
            for member in config.members where member.key.hasSuffix("password_secret") {
                if let uuid = member.value.stringValue, let secret = try? s.ref(uuid: uuid, in: secrets) {
                    try s.delete(secrets, secret)
                }
            }
        }
        return .emptyString
    }
}
