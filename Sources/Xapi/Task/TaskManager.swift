import Codec
import Logging
import Synchronization
public import XapiDB

/// Tasks as xapi keeps them (xen-api ocaml/xapi/taskHelper.ml): a row per `Async.` call that
/// outlives the call until `task.destroy` or garbage collection, a transient row for the
/// duration of a synchronous call of an async-capable message, progress 0 → 1, the result as an
/// XML-RPC fragment, the error list on failure, and cancellation through `task.cancel`.
public final class TaskManager: Sendable {
    let tables: Tables
    let database: Database
    /// Actions that make a running operation notice `task.cancel` promptly (e.g. cancelling the
    /// xenops task it waits for); without one the operation notices at its next cancellation point.
    private let cancelHooks = Mutex<[String: @Sendable () -> Void]>([:])

    init(database: Database, tables: Tables) {
        self.database = database
        self.tables = tables
    }

    /// A pending task row; `cancellable` puts `cancel` in its allowed operations.
    public func create(label: String, description: String = "", cancellable: Bool = false, api: XenAPI) throws(XapiError) -> String {
        let host = api.localHost()
        let table = tables.task
        let limit = api.configuration.maxTasks
        return try api.database.write { s throws(XapiError) in
            // Beyond the limit the oldest completed tasks go first (xapi's `max_tasks`).
            if s.count(table) >= limit { try Self.trim(&s, table: table, keep: limit - 1) }
            return try s.create(table, [
                .nameLabel: .string(label),
                .nameDescription: .string(description),
                .allowedOperations: .array(cancellable ? [.string("cancel")] : []),
                .created: .dateTime(.now()),
                .finished: .dateTime(.epoch),
                .status: .string("pending"),
                .residentOn: .string(host),
                .progress: .double(0),
                .type: .string("<none/>"),
                .result: .string(""),
            ])
        }
    }

    private static func trim(_ s: inout DatabaseState, table: TableFields<TaskField>, keep: Int) throws(XapiError) {
        let status = table[.status]
        let completed = s.rows(table).filter { $0.value.fields[status] != .string("pending") }
            .sorted { $0.value.created < $1.value.created }
        let excess = s.count(table) - keep
        guard excess <= completed.count else { throw .tooManyPendingTasks }
        for (ref, _) in completed.prefix(excess) { try s.delete(table, ref) }
    }

    public func setProgress(_ task: String, _ progress: Double) {
        let table = tables.task
        database.write { s in
            guard s.contains(table, task), (try? s.get(table, task, .status)) == .string("pending") else { return }
            try? s.update(table, task, .progress, .double(progress))
        }
    }

    public func setCancellable(_ task: String, _ cancellable: Bool) {
        let table = tables.task
        database.write { s in
            guard s.contains(table, task) else { return }
            try? s.update(table, task, .allowedOperations, .array(cancellable ? [.string("cancel")] : []))
        }
    }

    /// Success: progress 1, `result` as xapi's XML-RPC fragment, `finished` now. A task whose
    /// destroy was requested while pending is removed now.
    func complete(_ task: String, result: Value, api: XenAPI) {
        finish(task, api: api, [.result: .string(result.xmlrpcFragment), .status: .string("success")])
    }

    func fail(_ task: String, error: XapiError, api: XenAPI) {
        let cancelled = error.code == "TASK_CANCELLED"
        finish(task, api: api, [
            .errorInfo: .array(error.errorDescription.map(Value.string)),
            .status: .string(cancelled ? "cancelled" : "failure"),
        ])
    }

    /// Writes `fields` in the order given, between the progress and the finish time.
    private func finish(_ task: String, api: XenAPI, _ fields: KeyValuePairs<TaskField, Value>) {
        cancelHooks.withLock { _ = $0.removeValue(forKey: task) }
        let table = tables.task
        api.database.write { s in
            guard s.contains(table, task) else { return }
            try? s.update(table, task, .progress, .double(1))
            for (name, value) in fields { try? s.update(table, task, name, value) }
            try? s.update(table, task, .finished, .dateTime(.now()))
            try? s.update(table, task, .allowedOperations, .array([]))
            let operations = (try? s.get(table, task, .currentOperations))?.structureValue ?? Structure()
            if operations.members.contains(where: { $0.value == .string("destroy") }) {
                try? s.delete(table, task)
            }
        }
    }

    /// Starts an `Async.` call: the task ref is returned at once and the operation runs on its own.
    func runAsync(_ call: Call, label: String, handler: @escaping Handler) throws(XapiError) -> String {
        let api = call.api
        let task = try create(label: label, api: api)
        let running = call.with(task: task)
        Task {
            do {
                let result = try await handler(running)
                self.complete(task, result: result, api: api)
            } catch let error as XapiError {
                self.fail(task, error: error, api: api)
            } catch {
                self.fail(task, error: .internalError(String(describing: error)), api: api)
            }
        }
        return task
    }

    /// A synchronous call of an async-capable message runs under a task row that exists only
    /// for the call (xapi's `Context.of_http_req` / `finally_destroy_context`).
    func runWithTransientTask(_ call: Call, label: String, handler: Handler) async throws -> Value {
        let api = call.api
        let task = try create(label: label, api: api)
        defer {
            cancelHooks.withLock { _ = $0.removeValue(forKey: task) }
            let table = tables.task
            api.database.write { s in if s.contains(table, task) { try? s.delete(table, task) } }
        }
        return try await handler(call.with(task: task))
    }

    /// `task.cancel`: records the request (`current_operations = {caller: cancel}`) and pokes the
    /// operation through its hook; the operation then fails with TASK_CANCELLED.
    func cancel(_ task: String, caller: String?, api: XenAPI) throws(XapiError) {
        let table = tables.task
        try api.database.write { s throws(XapiError) in
            _ = try s.row(table, task)
            try s.set(table, task, .currentOperations, .structure([caller ?? "task": .string("cancel")]))
        }
        let hook = cancelHooks.withLock { $0[task] }
        hook?()
    }

    /// Whether `task.cancel` has been called on `task` (xapi's `is_cancelling`).
    public func isCancelling(_ task: String, api: XenAPI) -> Bool {
        let table = tables.task
        return api.database.read { s in
            guard let operations = (try? s.get(table, task, .currentOperations))?.structureValue else { return false }
            return operations.members.contains { $0.value == .string("cancel") }
        }
    }

    /// Registers how to interrupt the operation running under `task`.
    public func onCancel(_ task: String, _ hook: @escaping @Sendable () -> Void) {
        cancelHooks.withLock { $0[task] = hook }
    }

    /// `task.destroy`: completed tasks go at once; a pending one is marked and goes when it ends.
    func destroy(_ task: String, api: XenAPI) throws(XapiError) {
        let table = tables.task
        try api.database.write { s throws(XapiError) in
            if try s.get(table, task, .status) == .string("pending") {
                var operations = try s.get(table, task, .currentOperations).structureValue ?? Structure()
                operations["task"] = .string("destroy")
                try s.set(table, task, .currentOperations, .structure(operations))
            } else {
                try s.delete(table, task)
            }
        }
    }

    /// Removes completed tasks older than `completedTaskTimeout` and pending ones older than
    /// `pendingTaskTimeout` (xapi's `timeout_tasks`).
    func expire(api: XenAPI) -> Int {
        let table = tables.task
        let now = DateTime.now().secondsSinceEpoch
        let completedCutoff = now - Int64(api.configuration.completedTaskTimeout.components.seconds)
        let pendingCutoff = now - Int64(api.configuration.pendingTaskTimeout.components.seconds)
        return api.database.write { s in
            let status = table[.status]
            let finished = table[.finished]
            let created = table[.created]
            var expired: [String] = []
            for (ref, row) in s.rows(table) {
                if row.fields[status] == .string("pending") {
                    if row.fields[created].dateValue.secondsSinceEpoch < pendingCutoff { expired.append(ref) }
                } else if row.fields[finished].dateValue.secondsSinceEpoch < completedCutoff {
                    expired.append(ref)
                }
            }
            for ref in expired { try? s.delete(table, ref) }
            return expired.count
        }
    }
}
