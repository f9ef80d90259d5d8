/// Tunables of the XenAPI layer. Defaults are xapi's own (xen-api ocaml/xapi/xapi_globs.ml),
/// except where a measurement in README.md justifies a different choice.
public struct XapiConfiguration: Sendable {
    /// The local superuser's name and password for TCP logins (unix-socket logins need neither).
    public var user = "root"
    public var password: String

    /// Sessions idle this long are destroyed (`inactive_session_timeout`, 24 h).
    public var sessionIdleTimeout: Duration = .seconds(86_400)
    /// Per originator (`max_sessions_per_originator`), and for callers without one
    /// (`max_sessions` = 2 × `max_tasks`); the oldest are destroyed beyond these.
    public var maxSessionsPerOriginator = 500
    public var maxAnonymousSessions = 400
    /// `last_active` is refreshed at most this often (`threshold_last_active`).
    public var lastActiveRefreshInterval: Duration = .seconds(600)

    /// Sleep before every non-task `event.from` scan (xapi: 50 ms, `event_from_delay`). Off by
    /// default: `eventFromMinimumInterval` batches storms as well without delaying quiet clients.
    public var eventFromDelay: Duration = .zero
    /// A session's non-task `event.from` calls are answered at most this often (same
    /// subscription); a call arriving sooner waits for the rest of the interval. See README.md.
    public var eventFromMinimumInterval: Duration = .milliseconds(50)
    /// Sleep before an `event.next` scan (xapi: 200 ms, `event_next_delay`).
    public var eventNextDelay: Duration = .zero
    /// `event.next` queue bound in bytes of serialised events (`max_queue_size`).
    public var eventNextQueueBytes = 10_000_000
    /// The pool heartbeat `event.next` subscribers of `pool` receive (`db_GC_TIMER`, 30 s).
    public var heartbeatInterval: Duration = .seconds(30)

    /// Task limits (`max_tasks`, `completed_task_timeout`, `pending_task_timeout`).
    public var maxTasks = 200
    public var completedTaskTimeout: Duration = .seconds(3_900)
    public var pendingTaskTimeout: Duration = .seconds(86_400)

    /// How long after `host.reboot`/`host.shutdown` returns the host goes down (xapi: 10 s).
    public var hostShutdownDelay: Duration = .seconds(10)
    /// How long after `host.restart_agent` returns the toolstack is back (xapi starts
    /// xe-toolstack-restart after 1 s).
    public var agentRestartDelay: Duration = .seconds(1)

    public init(password: String) {
        self.password = password
    }
}
