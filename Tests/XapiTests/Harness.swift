import Logging
@testable import Xapi
@testable import XapiDB

/// An in-memory XenAPI with the demo pool and a logged-in session.
struct Harness {
    let api: XenAPI
    let session: String

    init(vms: Int = 3, configure: (inout XapiConfiguration) -> Void = { _ in }) async throws {
        var configuration = XapiConfiguration(password: "secret")
        configure(&configuration)
        api = XenAPI(database: Database(), configuration: configuration, logger: Logger(label: "test"))
        try DemoPool.createIfEmpty(in: api, options: .init(vms: vms))
        session = try await api.call("session.login_with_password", [.string("root"), .string("secret")],
                                     origin: .init(transport: .tcp)).get().stringValue!
    }

    /// Calls with the session prepended, as the Python client does.
    func call(_ name: String, _ params: Value...) async -> Result<Value, XapiError> {
        await api.call(name, [.string(session)] + params, origin: .init(transport: .tcp))
    }

    func value(_ name: String, _ params: Value...) async throws -> Value {
        try await api.call(name, [.string(session)] + params, origin: .init(transport: .tcp)).get()
    }

    func error(_ name: String, _ params: Value...) async -> [String]? {
        if case .failure(let e) = await api.call(name, [.string(session)] + params, origin: .init(transport: .tcp)) {
            return e.errorDescription
        }
        return nil
    }

    func vms() async throws -> [String] {
        let records = try await value("VM.get_all_records").structureValue!
        return records.members.filter { member in
            let r = member.value.structureValue!
            return r["is_a_template"] == .bool(false) && r["is_control_domain"] == .bool(false)
        }.map(\.key).sorted()
    }
}
