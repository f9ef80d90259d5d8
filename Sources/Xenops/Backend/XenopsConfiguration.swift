/// The engine's settings; defaults are xenopsd's.
public struct XenopsConfiguration: Sendable {
    /// Workers per queue set (xenopsd's `worker-pool-size`; there are three sets: ordinary
    /// operations, parallel atoms, nested parallel atoms).
    public var workerPoolSize = 4
    /// How long a device's hotplug script or backend may take to answer.
    public var hotplugTimeout: Duration = .seconds(300)
    /// The longest wait for a guest to acknowledge `control/shutdown` (xenopsd's
    /// `domain_shutdown_ack_timeout`).
    public var domainShutdownAckTimeout: Duration = .seconds(60)
    /// Acknowledgement and completion limits of a suspend.
    public var suspendAckTimeout: Duration = .seconds(30)
    public var suspendTimeout: Duration = .seconds(1200)
    /// Deadline of each parallel atom.
    public var atomDeadline: Duration = .seconds(1200)
    /// Parallel atoms run in chunks of this many.
    public var maxParallelAtoms = 10
    /// A domain that crashes within this long of starting is shut down instead of restarted.
    public var crashRestartGuard: Duration = .seconds(120)
    /// A domain that asks to reboot within this long of starting waits `rebootDelay` first
    /// (xenopsd's xen backend: 120 s; its simulator: 0).
    public var minimumRebootDelay: Duration = .seconds(120)
    public var rebootDelay: Duration = .seconds(15)
    /// Byte budget for the guest-agent listing of one `VM.stat`.
    public var guestAgentQuotaBytes = 25 * 1024 * 1024
    /// Finished tasks nobody destroys are destroyed after this long…
    public var taskRetention: Duration = .seconds(3600)
    /// …or when more than this many are kept.
    public var finishedTaskLimit = 10_000
    /// The most barriers the external Updates table keeps at once.
    public var barrierLimit = 4096
    /// How fast a live migration copies a guest's memory to the other host, in bytes per
    /// second; nil copies at once (the instant simulation).
    public var migrationBandwidth: Int64? = nil
    /// A migration's copy stops iterating once a round has no more than this to send; the
    /// rest goes in the final round, with the guest suspended.
    public var migrationFinalRoundBytes: Int64 = 64 << 20
    /// How much of what a round sent the guest dirties again meanwhile (xenguest iterates
    /// while that shrinks); at most `migrationMaxRounds` live rounds.
    public var migrationDirtyFraction = 0.2
    public var migrationMaxRounds = 5

    public init() {}
}
