/// Limits enforced on unprivileged domains, with C xenstored 4.17's defaults (`-E -W -t -S -A -M
/// -Q`). Privileged callers (dom0, every default socket connection) are exempt, as in C; a value of
/// 0 disables that limit.
public struct XenstoreQuotas: Sendable, Hashable {
    /// Nodes owned per domain (`-E`); creating more ⇒ ENOSPC.
    public var nodesPerDomain = 1000
    /// Watches per domain (`-W`); C 4.17 answers E2BIG once the count is *above* the limit.
    public var watchesPerDomain = 128
    /// Open transactions per connection (`-t`); C 4.17 answers ENOSPC once *above* the limit.
    public var transactionsPerConnection = 10
    /// Accounted node size: header, permissions, value and child names (`-S`) ⇒ ENOSPC.
    public var nodeSize = 2048
    /// Entries in one SET_PERMS (`-A`) ⇒ ENOSPC.
    public var permissionsPerNode = 5
    /// Path length after `/local/domain/<id>/` (`-M`, capped at 2048). Applies to every caller,
    /// as in 4.17.
    public var pathMax = 2048
    /// Distinct nodes a transaction may touch (`-Q transaction-nodes`) ⇒ ENOSPC.
    public var transactionNodes = 1024

    public init() {}
}

/// Settings of one store. Watch-event buffering lives with each front end, not here.
public struct XenstoreConfiguration: Sendable {
    public var quotas = XenstoreQuotas()
    /// Events an in-process watch stream buffers before dropping new ones (a consumer that stops
    /// reading must not grow memory without bound).
    public var watchStreamBufferLimit = 65_536

    public init() {}
}
