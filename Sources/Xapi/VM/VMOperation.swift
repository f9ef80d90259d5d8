import XapiDB
import Xenops

extension Call {
    /// xapi's `with_vm_operation`: checks that `op` is valid now (first failing check wins),
    /// records it in `current_operations` under this call's task, recomputes
    /// `allowed_operations`, runs `body`, and removes the operation again whatever happens.
    func withVMOperation<R: Sendable>(_ vm: String, _ op: String, _ body: () async throws -> R) async throws -> R {
        let t = tables
        let key = task ?? Identifiers.ref()
        let uuid = try database.write { s throws(XapiError) -> String in
            if let error = VMOperations.check(op, vm: vm, strict: false, in: s, tables: t) { throw error }
            var current = try s.get(t.vm, vm, .currentOperations).structureValue ?? Structure()
            current[key] = .string(op)
            try s.set(t.vm, vm, .currentOperations, .structure(current))
            VMOperations.refresh(vm: vm, in: &s, tables: t)
            return try s.get(t.vm, vm, .uuid).stringValue ?? ""
        }
        defer {
            database.write { s in
                guard s.contains(t.vm, vm), var current = (try? s.get(t.vm, vm, .currentOperations))?.structureValue else { return }
                current[key] = nil
                try? s.set(t.vm, vm, .currentOperations, .structure(current))
                VMOperations.refresh(vm: vm, in: &s, tables: t)
            }
        }
        // The whole call, barrier included, is foreground: other VMs' signals give way to it.
        return try await api.bridges.foreground(vm: uuid, body)
    }

    /// Progress of this call's task (no-op for calls without one).
    func progress(_ value: Double) {
        if let task { api.tasks.setProgress(task, value) }
    }
}
