import Logging
import Timing
import XapiDB

extension XenAPI {
    /// xapi's database GC pass (xen-api ocaml/xapi/db_gc.ml, every 30 s): the pool heartbeat
    /// for `event.next` readers, idle-session expiry and task expiry. Runs until cancelled.
    public func runHousekeeping() async {
        while !Task.isCancelled {
            do {
                try await database.clock.sleep(for: configuration.heartbeatInterval)
            } catch {
                return
            }
            housekeepingPass()
        }
    }

    /// One pass; separate so tests can run it without waiting.
    public func housekeepingPass() {
        let t = tables
        let pools = database.read { $0.refs(t.pool) }
        for pool in pools { database.announceHeartbeat(table: t.pool.table, ref: pool) }
        let sessions = sessions.expireIdle(api: self)
        let expiredTasks = tasks.expire(api: self)
        if sessions + expiredTasks > 0 {
            logger.debug("housekeeping", metadata: ["expired_sessions": "\(sessions)", "expired_tasks": "\(expiredTasks)"])
        }
    }
}
