import XapiDB

/// Sessions are rows of the `session` table (so logout and expiry are database deletions, which
/// wake that session's parked event calls by themselves). Only the local superuser exists; the
/// unix socket is pre-authenticated as in xapi.
struct SessionManager: Sendable {
    let tables: Tables
    /// `session.last_active`'s column, looked up once: validation runs on every call.
    private let lastActiveField: Int

    init(tables: Tables) {
        self.tables = tables
        lastActiveField = tables.session[.lastActive]
    }

    func login(user: String, password: String, originator: String, origin: CallOrigin, api: XenAPI) throws(XapiError) -> String {
        if origin.transport == .tcp {
            guard user == api.configuration.user, password == api.configuration.password else {
                throw .sessionAuthenticationFailed(user: user, message: "Authentication failure")
            }
        }
        let host = api.localHost()
        let now = Value.dateTime(.now())
        let table = tables.session
        let limit = originator.isEmpty ? api.configuration.maxAnonymousSessions : api.configuration.maxSessionsPerOriginator
        return try api.database.write { s throws(XapiError) in
            // Destroy the least recently active sessions of this originator beyond the limit.
            let originatorField = table[.originator]
            let activeField = table[.lastActive]
            let same = s.rows(table).filter { $0.value.fields[originatorField] == .string(originator) }
            if same.count >= limit {
                let oldest = same.sorted { lhs, rhs in
                    (lhs.value.fields[activeField].dateValue, lhs.value.created) < (rhs.value.fields[activeField].dateValue, rhs.value.created)
                }
                for (ref, _) in oldest.prefix(same.count - limit + 1) { try s.delete(table, ref) }
            }
            return try s.create(table, [
                .thisHost: .string(host),
                .lastActive: now,
                .pool: .bool(false),
                .isLocalSuperuser: .bool(true),
                .authUserName: .string(user),
                .originator: .string(originator),
                .validationTime: now,
            ])
        }
    }

    func logout(_ session: String, api: XenAPI) {
        let table = tables.session
        api.database.write { s in
            if s.contains(table, session) { try? s.delete(table, session) }
        }
    }

    /// SESSION_INVALID unless the session exists; refreshes `last_active` at most every
    /// `lastActiveRefreshInterval`, as xapi does, so validation stays a read most of the time.
    @discardableResult
    func validate(_ session: String, api: XenAPI) throws(XapiError) -> Row {
        let table = tables.session
        let row = try api.database.read { s throws(XapiError) -> Row in
            guard s.contains(table, session) else { throw .sessionInvalid(session) }
            return try s.row(table, session)
        }
        let activeField = lastActiveField
        let now = DateTime.now()
        let refresh = Int64(api.configuration.lastActiveRefreshInterval.components.seconds)
        if now.secondsSinceEpoch - row.fields[activeField].dateValue.secondsSinceEpoch >= refresh {
            api.database.write { s in
                if s.contains(table, session) { try? s.set(table, session, .lastActive, .dateTime(now)) }
            }
        }
        return row
    }

    /// Destroys sessions idle longer than the configured timeout.
    func expireIdle(api: XenAPI) -> Int {
        let table = tables.session
        let cutoff = DateTime.now().secondsSinceEpoch - Int64(api.configuration.sessionIdleTimeout.components.seconds)
        return api.database.write { s in
            let activeField = table[.lastActive]
            let idle = s.rows(table).filter { $0.value.fields[activeField].dateValue.secondsSinceEpoch < cutoff }.map(\.key)
            for ref in idle { try? s.delete(table, ref) }
            return idle.count
        }
    }
}

extension Value {
    var dateValue: DateTime {
        if case .dateTime(let d) = self { return d }
        return .epoch
    }
}

/// `session.*` messages with behaviour beyond the generated accessors.
enum SessionHandlers {
    static let table = ClassHandlers("session", [
        "login_with_password": login,
        "slave_local_login_with_password": login,
        "logout": logout,
        "local_logout": logout,
        "get_all_subject_identifiers": { _ in .array([]) },
    ])

    private static let login: Handler = { call in
        // `slave_local_login_with_password` has no originator parameter.
        let declared = call.message.callParameters.contains { $0.name == "originator" }
        let originator = declared ? try call.string("originator") : ""
        return .string(try call.api.sessions.login(user: try call.string("uname"), password: try call.string("pwd"),
                                                   originator: originator.isEmpty ? (call.origin.originator ?? "") : originator,
                                                   origin: call.origin, api: call.api))
    }

    private static let logout: Handler = { call in
        if let session = call.session { call.api.sessions.logout(session, api: call.api) }
        return .emptyString
    }
}
