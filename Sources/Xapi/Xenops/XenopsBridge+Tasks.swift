import Logging
import Synchronization
import XapiDB
import Xenops

extension XenopsBridge {
    /// Waits for a xenops task, mirroring its progress onto `xapiTask` and letting `task.cancel`
    /// cancel it (xapi's `sync_with_task`); the xenops task is destroyed afterwards.
    func sync(_ xenopsTask: String, xapiTask: String?, vm: String = "", device: String = "") async throws(XapiError) {
        if let xapiTask {
            registeredTasks.withLock { $0[xenopsTask] = xapiTask }
            let xenops = xenops
            tasks.onCancel(xapiTask) { try? xenops.task.cancel(xenopsTask) }
        }
        let record = await xenops.task.wait(xenopsTask, timeout: nil)
        registeredTasks.withLock { _ = $0.removeValue(forKey: xenopsTask) }
        try? xenops.task.destroy(xenopsTask)
        switch record?.state {
        case .completed?, nil:
            return
        case .pending?:
            throw .internalError("xenops task \(xenopsTask) did not finish")
        case .failed(let error)?:
            throw XenopsErrors.xapiError(error, xapiTask: xapiTask, vm: vm, device: device)
        }
    }

    func updateTask(_ id: String) {
        guard let xapiTask = registeredTasks.withLock({ $0[id] }),
              let record = try? xenops.task.stat(id),
              case .pending(let progress) = record.state
        else { return }
        tasks.setProgress(xapiTask, progress)
        if !record.cancellable { tasks.setCancellable(xapiTask, false) }
    }
}
