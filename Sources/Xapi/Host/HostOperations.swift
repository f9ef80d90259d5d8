import XapiDB

/// A host's operations as xen-api ocaml/xapi/xapi_host_helpers.ml checks them: which may run given
/// those in progress and the host's state, `current_operations` held for a call's length
/// (`with_host_operation`), and `allowed_operations` kept to what may run and is implemented.
enum HostOperations {
    /// Messages of the operations not named like one.
    static let messages: [String: [String]] = [
        "provision": ["VM.provision"], "vm_start": ["VM.start"], "vm_resume": ["VM.resume"],
        "vm_migrate": ["VM.pool_migrate"],
    ]
    static let implemented = ImplementedOperations.of("host", enum: "host_allowed_operations", messages: messages)

    private static let creating: Set<String> = ["provision", "vm_resume", "vm_migrate"]
    private static let removing: Set<String> = ["evacuate", "reboot", "shutdown"]

    /// `valid_operations` for one operation: nil when it may run.
    static func error(_ op: String, host: String, in s: DatabaseState, _ t: Tables) throws(XapiError) -> XapiError? {
        let current = (try s.get(t.host, host, .currentOperations).structureValue?.members ?? [])
            .map { (task: $0.key, op: $0.value.stringValue ?? "") }
        func busy(_ other: String) -> XapiError {
            let entry = current.first { $0.op == other }!
            return .otherOperationInProgress(class: "host", ref: host, operation: other, task: entry.task)
        }
        if op != "power_on" {
            if creating.contains(op), let r = current.first(where: { removing.contains($0.op) }) { return busy(r.op) }
            if removing.contains(op), let c = current.first(where: { creating.contains($0.op) }) { return busy(c.op) }
        }
        let inProgress = Set(current.map(\.op))
        if inProgress.contains("reboot"), ["shutdown", "apply_updates"].contains(op) { return busy("reboot") }
        if inProgress.contains("shutdown"), ["reboot", "apply_updates"].contains(op) { return busy("shutdown") }
        if inProgress.contains("apply_updates"), ["reboot", "shutdown", "enable"].contains(op) { return busy("apply_updates") }
        if inProgress.contains("provision"), op == "provision" { return busy("provision") }
        // The host must be disabled before it reboots or shuts down.
        if try s.get(t.host, host, .enabled) == .bool(true), ["reboot", "shutdown", "apply_updates"].contains(op) {
            return .hostNotDisabled
        }
        return nil
    }

    static func assertValid(_ op: String, host: String, in s: DatabaseState, _ t: Tables) throws(XapiError) {
        if let error = try error(op, host: host, in: s, t) { throw error }
    }

    /// `update_allowed_operations`: the implemented operations that may run now.
    static func refresh(host: String, in s: inout DatabaseState, _ t: Tables) throws(XapiError) {
        let enumValues = Datamodel.xapi.class(named: "host")?.enums["host_allowed_operations"] ?? []
        var allowed: [Value] = []
        for op in enumValues where implemented.contains(op) {
            if try error(op, host: host, in: s, t) == nil { allowed.append(.string(op)) }
        }
        try s.update(t.host, host, .allowedOperations, .array(allowed))
    }

    /// `with_host_operation`: checked and recorded under the call's task, removed afterwards.
    static func with<R: Sendable>(_ call: Call, host: String, _ op: String, _ body: () async throws -> R) async throws -> R {
        let t = call.tables
        let key = call.task ?? Identifiers.ref()
        try call.database.write { s throws(XapiError) in
            try assertValid(op, host: host, in: s, t)
            var current = try s.get(t.host, host, .currentOperations).structureValue ?? Structure()
            current[key] = .string(op)
            try s.set(t.host, host, .currentOperations, .structure(current))
            try refresh(host: host, in: &s, t)
        }
        defer {
            call.database.write { s in
                guard s.contains(t.host, host), var current = (try? s.get(t.host, host, .currentOperations))?.structureValue else { return }
                current[key] = nil
                try? s.set(t.host, host, .currentOperations, .structure(current))
                try? refresh(host: host, in: &s, t)
            }
        }
        return try await body()
    }
}
