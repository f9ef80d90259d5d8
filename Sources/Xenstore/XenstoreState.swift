/// Identifies one client connection of the store (a socket peer or an in-process client).
public struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
    let raw: UInt64
    public var description: String { "conn#\(raw)" }
}

/// A watch event addressed to one connection. `watchPath` is the registration's canonical path,
/// which lets an in-process connection route the event to the right stream.
struct Delivery: Sendable {
    let connection: ConnectionID
    let watchPath: String
    let event: WatchEvent
}

/// What one request produced: the answer, the events to deliver once the lock is released, and
/// connections the store dropped (RELEASE of their domain).
struct Outcome: Sendable {
    var result: Result<XenstoreReply, XenstoreError>
    var deliveries: [Delivery] = []
    var closed: [ConnectionID] = []
}

/// The whole xenstore as a value: tree, connections with their transactions, watches, domains
/// and quotas. No I/O and no locks: `XenstoreDaemon` wraps it in a `Mutex`, and tests drive it
/// directly.
struct XenstoreState: Sendable {
    struct ConnectionRecord: Sendable {
        var domid: UInt32
        var transactions: [UInt32: Transaction] = [:]
        var nextTransactionID: UInt32 = 1
    }

    private(set) var tree = Tree()
    private(set) var connections: [ConnectionID: ConnectionRecord] = [:]
    private(set) var watches = WatchRegistry()
    private(set) var domains = DomainTable()
    let quotas: XenstoreQuotas
    private var nextConnection: UInt64 = 1

    init(quotas: XenstoreQuotas = XenstoreQuotas()) {
        self.quotas = quotas
    }

    // MARK: connections

    mutating func connect(domid: UInt32) -> ConnectionID {
        let id = ConnectionID(raw: nextConnection)
        nextConnection += 1
        connections[id] = ConnectionRecord(domid: domid)
        return id
    }

    /// Forgets a connection with its watches and open transactions (aborted).
    mutating func disconnect(_ id: ConnectionID) {
        guard let record = connections.removeValue(forKey: id) else { return }
        dropWatches(of: id, domid: record.domid)
    }

    func domid(of id: ConnectionID) -> UInt32? { connections[id]?.domid }

    func identity(of domid: UInt32) -> Identity {
        Identity(domid: domid, privileged: domid == 0, target: domains.introduced[domid]?.target)
    }

    private mutating func dropWatches(of id: ConnectionID, domid: UInt32) {
        let removed = watches.removeAll(of: id)
        if removed > 0 { adjustWatchCount(domid, by: -removed) }
    }

    private mutating func adjustWatchCount(_ domid: UInt32, by delta: Int) {
        let value = domains.watchCounts[domid, default: 0] + delta
        domains.watchCounts[domid] = value <= 0 ? nil : value
    }

    // MARK: requests

    /// Runs one request for connection `id`, inside transaction `transactionID` (0 = none).
    mutating func perform(_ request: XenstoreRequest, transaction transactionID: UInt32, on id: ConnectionID) -> Outcome {
        guard let record = connections[id] else { return Outcome(result: .failure(.ECONNRESET)) }
        let who = identity(of: record.domid)
        if request.isPrivileged && !who.privileged { return Outcome(result: .failure(.EACCES)) }
        let tx: UInt32 = request.ignoresTransaction ? 0 : transactionID
        if tx != 0 && record.transactions[tx] == nil { return Outcome(result: .failure(.ENOENT)) }

        var outcome = Outcome(result: .success(.ok))
        do throws(XenstoreError) {
            outcome.result = .success(try dispatch(request, tx: tx, id: id, who: who, outcome: &outcome))
        } catch {
            outcome.result = .failure(error)
            outcome.deliveries.removeAll()
        }
        return outcome
    }

    private func resolve(_ path: String, _ who: Identity, special: Bool = false) throws(XenstoreError) -> ResolvedPath {
        try XenstorePath.resolve(path, domid: who.domid, allowSpecial: special, pathMax: quotas.pathMax)
    }

    private mutating func dispatch(
        _ request: XenstoreRequest, tx: UInt32, id: ConnectionID, who: Identity, outcome: inout Outcome
    ) throws(XenstoreError) -> XenstoreReply {
        switch request {
        case .read(let raw):
            return .value(try readNode(resolve(raw, who).absolute, tx: tx, id: id, who: who).value)
        case .directory(let raw):
            return .names(try readNode(resolve(raw, who).absolute, tx: tx, id: id, who: who).children)
        case .directoryPart(let raw, let offset):
            let node = try readNode(resolve(raw, who).absolute, tx: tx, id: id, who: who)
            return .raw(Self.directoryPart(node, offset: offset))
        case .getPermissions(let raw):
            let path = try resolve(raw, who, special: true)
            if path.isSpecial {
                guard let permissions = domains.specialPermissions(path.absolute) else { throw .EINVAL }
                guard permissions.rights(for: who).contains(.read) else { throw .EACCES }
                return .permissions(permissions)
            }
            return .permissions(try readNode(path.absolute, tx: tx, id: id, who: who).permissions)

        case .write(let raw, let value):
            let path = try resolve(raw, who).absolute
            try mutate(.write(path, value), tx: tx, id: id, who: who, outcome: &outcome)
            return .ok
        case .mkdir(let raw):
            try mutate(.mkdir(try resolve(raw, who).absolute), tx: tx, id: id, who: who, outcome: &outcome)
            return .ok
        case .remove(let raw):
            try mutate(.remove(try resolve(raw, who).absolute), tx: tx, id: id, who: who, outcome: &outcome)
            return .ok
        case .setPermissions(let raw, let permissions):
            guard !permissions.isEmpty else { throw .EINVAL }
            if !who.privileged, quotas.permissionsPerNode > 0, permissions.count > quotas.permissionsPerNode {
                throw .ENOSPC
            }
            let path = try resolve(raw, who, special: true)
            if path.isSpecial {
                guard let current = domains.specialPermissions(path.absolute) else { throw .EINVAL }
                guard current.rights(for: who).isSuperset(of: [.write, .owner]) else { throw .EACCES }
                domains.setSpecialPermissions(path.absolute, permissions)
                return .ok
            }
            try mutate(.setPermissions(path.absolute, permissions), tx: tx, id: id, who: who, outcome: &outcome)
            return .ok

        case .watch(let raw, let token):
            let path = try resolve(raw, who, special: true)
            let key = WatchKey(connection: id, path: path.absolute, token: token)
            if watches.contains(key) { throw .EEXIST }
            if !who.privileged, quotas.watchesPerDomain > 0,
                domains.watchCounts[who.domid, default: 0] > quotas.watchesPerDomain
            {
                throw .E2BIG
            }
            let registration = WatchRegistration(
                key: key, relativePrefixLength: path.isRelative ? XenstorePath.home(of: who.domid).utf8.count : nil)
            watches.add(registration)
            adjustWatchCount(who.domid, by: 1)
            // Fires once at registration, even for an absent node (simplifies clients and restarts).
            outcome.deliveries.append(
                Delivery(
                    connection: id, watchPath: key.path,
                    event: WatchEvent(path: registration.reportedPath(for: key.path), token: token)))
            return .ok
        case .unwatch(let raw, let token):
            let path = try resolve(raw, who, special: true)
            guard watches.remove(WatchKey(connection: id, path: path.absolute, token: token)) else { throw .ENOENT }
            adjustWatchCount(who.domid, by: -1)
            return .ok
        case .resetWatches:
            dropWatches(of: id, domid: who.domid)
            connections[id]?.transactions.removeAll()
            return .ok

        case .transactionStart:
            if tx != 0 { throw .EBUSY }  // no nesting
            guard var record = connections[id] else { throw .ECONNRESET }
            if !who.privileged, quotas.transactionsPerConnection > 0,
                record.transactions.count > quotas.transactionsPerConnection
            {
                throw .ENOSPC
            }
            var txid = record.nextTransactionID
            while txid == 0 || record.transactions[txid] != nil { txid &+= 1 }
            record.nextTransactionID = txid &+ 1
            record.transactions[txid] = Transaction(id: txid, generation: tree.generation)
            connections[id] = record
            return .transaction(txid)
        case .transactionEnd(let commit):
            guard tx != 0, let transaction = connections[id]?.transactions.removeValue(forKey: tx) else { throw .ENOENT }
            if commit { try self.commit(transaction, who: who, outcome: &outcome) }
            return .ok

        case .introduce(let domid, let port):
            guard port > 0 else { throw .EINVAL }
            if domains.introduced[domid] != nil {
                domains.introduced[domid]!.port = port  // re-introduce: rebind only, no event
            } else {
                domains.introduced[domid] = DomainTable.Domain(port: port)
                fireSpecial(DomainTable.introduceDomain, outcome: &outcome)
            }
            return .ok
        case .release(let domid):
            guard domid != 0 else { throw .EINVAL }
            guard domains.introduced[domid] != nil else { throw .ENOENT }
            release(domid, outcome: &outcome)
            return .ok
        case .isIntroduced(let domid):
            return .bool(domid == DomainTable.domidSelf || domains.introduced[domid] != nil)
        case .getDomainPath(let domid):
            return .text(XenstorePath.home(of: domid))
        case .resume(let domid):
            guard domid != 0 else { throw .EINVAL }
            guard domains.introduced[domid] != nil else { throw .ENOENT }
            domains.introduced[domid]!.shutdown = false
            return .ok
        case .setTarget(let domid, let target):
            guard domains.introduced[domid] != nil, domains.introduced[target] != nil else { throw .ENOENT }
            domains.introduced[domid]!.target = target
            return .ok
        case .control(let arguments):
            return try control(arguments, id: id, who: who)
        case .malformed:
            throw .EINVAL
        }
    }

    // MARK: reads and writes, live or in a transaction

    private mutating func readNode(_ path: String, tx: UInt32, id: ConnectionID, who: Identity) throws(XenstoreError) -> Node {
        if tx == 0 {
            guard let node = try tree.lookup(path, need: .read, by: who) else { throw .ENOENT }
            return node
        }
        let transaction = connections[id]!.transactions[tx]!
        if !who.privileged, quotas.transactionNodes > 0, transaction.overlay[path] == nil,
            transaction.touchedNodes >= quotas.transactionNodes
        {
            throw .ENOSPC  // C counts read nodes against transaction-nodes as well
        }
        connections[id]!.transactions[tx]!.noteRead(path, in: tree)
        let view = TransactionView(base: tree, transaction: connections[id]!.transactions[tx]!)
        guard let node = try view.lookup(path, need: .read, by: who) else { throw .ENOENT }
        return node
    }

    private mutating func mutate(
        _ operation: TransactionOperation, tx: UInt32, id: ConnectionID, who: Identity, outcome: inout Outcome
    ) throws(XenstoreError) {
        if tx == 0 {
            let changes = try Self.apply(operation, to: &tree, who: who, quotas: quotas)
            deliver(changes, outcome: &outcome)
            return
        }
        // Work on a copy of the view so a failed operation leaves the transaction untouched.
        var view = TransactionView(base: tree, transaction: connections[id]!.transactions[tx]!)
        _ = try Self.apply(operation, to: &view, who: who, quotas: quotas)
        view.transaction.operations.append(operation)
        if !who.privileged, quotas.transactionNodes > 0, view.transaction.touchedNodes > quotas.transactionNodes {
            throw .ENOSPC
        }
        connections[id]!.transactions[tx] = view.transaction
    }

    private static func apply(
        _ operation: TransactionOperation, to table: inout some NodeTable, who: Identity, quotas: XenstoreQuotas
    ) throws(XenstoreError) -> [Change] {
        switch operation {
        case .write(let path, let value): [try table.write(path, value: value, by: who, quotas: quotas)]
        case .mkdir(let path): try table.mkdir(path, by: who, quotas: quotas).map { [$0] } ?? []
        case .remove(let path): try table.remove(path, by: who)
        case .setPermissions(let path, let permissions): [try table.setPermissions(path, permissions, by: who, quotas: quotas)]
        }
    }

    /// Commits: EAGAIN if a node read has changed; otherwise replays the operations on the live
    /// tree under a journal, undoing everything if one fails (state moved under it ⇒ EAGAIN; a
    /// quota ⇒ that error, as C reports quota failures at commit).
    private mutating func commit(_ transaction: Transaction, who: Identity, outcome: inout Outcome) throws(XenstoreError) {
        guard transaction.isValid(against: tree) else { throw .EAGAIN }
        guard !transaction.operations.isEmpty else { return }
        tree.beginJournal()
        var changes: [Change] = []
        for operation in transaction.operations {
            do throws(XenstoreError) {
                changes += try Self.apply(operation, to: &tree, who: who, quotas: quotas)
            } catch {
                tree.rollback()
                throw error == .ENOSPC || error == .E2BIG ? error : .EAGAIN
            }
        }
        tree.endJournal()
        deliver(changes, outcome: &outcome)
    }

    // MARK: watch delivery

    /// Turns changes into events for every matching watch whose owner may read the node (or,
    /// for permission changes, could read it before, or can read its parent).
    private func deliver(_ changes: [Change], outcome: inout Outcome) {
        for change in changes {
            watches.forEachMatch(of: change.path, exact: change.exact) { registration in
                guard let domid = connections[registration.key.connection]?.domid else { return }
                let watcher = identity(of: domid)
                if !watcher.privileged && !change.readers.contains(where: { $0.rights(for: watcher).contains(.read) }) {
                    return
                }
                outcome.deliveries.append(
                    Delivery(
                        connection: registration.key.connection, watchPath: registration.key.path,
                        event: WatchEvent(path: registration.reportedPath(for: change.path), token: registration.key.token)))
            }
        }
    }

    /// `@introduceDomain` / `@releaseDomain`: to privileged watchers and domains granted read on
    /// the special path.
    private func fireSpecial(_ name: String, outcome: inout Outcome) {
        let permissions = domains.specialPermissions(name) ?? []
        watches.forEachMatch(of: name, exact: true) { registration in
            guard let domid = connections[registration.key.connection]?.domid else { return }
            guard permissions.rights(for: identity(of: domid)).contains(.read) else { return }
            outcome.deliveries.append(
                Delivery(
                    connection: registration.key.connection, watchPath: name,
                    event: WatchEvent(path: name, token: registration.key.token)))
        }
    }

    // MARK: domains

    /// RELEASE (C 4.17 `destroy_domain`): drop the domain's connections, delete the nodes it owns
    /// (C's default without `--keep-orphans`), forget its grants on the special paths, fire
    /// `@releaseDomain`.
    private mutating func release(_ domid: UInt32, outcome: inout Outcome) {
        for (id, record) in connections where record.domid == domid {
            disconnect(id)
            outcome.closed.append(id)
        }
        var changes: [Change] = []
        for path in tree.topmostNodes(ownedBy: domid) {
            changes += tree.removeSubtreeUnchecked(path)
        }
        deliver(changes, outcome: &outcome)
        domains.forget(domid)
        domains.watchCounts[domid] = nil
        fireSpecial(DomainTable.releaseDomain, outcome: &outcome)
    }

    /// A guest shut down or crashed (the simulated hypervisor says so): `@releaseDomain` fires
    /// once until RESUME, as C's `check_domains`.
    mutating func markShutdown(_ domid: UInt32) -> Outcome {
        var outcome = Outcome(result: .success(.ok))
        guard domid != 0, domains.introduced[domid] != nil else {
            outcome.result = .failure(domains.introduced[domid] == nil ? .ENOENT : .EINVAL)
            return outcome
        }
        if !domains.introduced[domid]!.shutdown {
            domains.introduced[domid]!.shutdown = true
            fireSpecial(DomainTable.releaseDomain, outcome: &outcome)
        }
        return outcome
    }

    // MARK: CONTROL

    /// CONTROL commands. C's debugging commands (check, log, logfile, memreport, print,
    /// live-update) have no meaning here and get EINVAL, as any unknown command.
    static let controlHelp: [(String, String)] = [
        ("quota", "[<domid>]"),
        ("bind-domid", "<domid>"),
        ("help", ""),
    ]

    private mutating func control(_ arguments: [String], id: ConnectionID, who: Identity) throws(XenstoreError) -> XenstoreReply {
        guard let command = arguments.first else { throw .EINVAL }
        let rest = arguments.dropFirst()
        switch command {
        case "help":
            guard rest.isEmpty else { throw .EINVAL }
            return .text(Self.controlHelp.map { "\($0.0)\t\($0.1)\n" }.joined())
        case "quota":
            if let domidText = rest.first {
                guard let domid = parseDomid(domidText.utf8) else { throw .EINVAL }
                let nodes = tree.entries(of: domid)
                let watchCount = domains.watchCounts[domid, default: 0]
                return .text("Domain \(domid):\nnodes: \(nodes)\nwatches: \(watchCount)\n")
            }
            return .text(
                "nodes: \(quotas.nodesPerDomain)\nwatches: \(quotas.watchesPerDomain)\n"
                    + "transactions: \(quotas.transactionsPerConnection)\nnode-size: \(quotas.nodeSize)\n"
                    + "node-permissions: \(quotas.permissionsPerNode)\npath-max: \(quotas.pathMax)\n"
                    + "transaction-nodes: \(quotas.transactionNodes)\n")
        case "bind-domid":
            // Test hook: from now on this connection acts as `domid` (unprivileged unless 0).
            guard rest.count == 1, let domid = parseDomid(rest.first!.utf8) else { throw .EINVAL }
            dropWatches(of: id, domid: who.domid)
            connections[id]!.transactions.removeAll()
            connections[id]!.domid = domid
            return .text("OK")
        default:
            throw .EINVAL
        }
    }

    // MARK: wire helpers

    /// DIRECTORY_PART payload (C's `send_directory_part`): the generation, then as many whole
    /// child names from `offset` as fit in 4096 bytes, then an empty string if the list ends here.
    static func directoryPart(_ node: Node, offset: Int) -> [UInt8] {
        var list: [UInt8] = []
        list.reserveCapacity(node.childBytes)
        for child in node.children {
            list.append(contentsOf: child.utf8)
            list.append(0)
        }
        var payload = Array(String(node.generation).utf8)
        payload.append(0)
        guard offset >= 0, offset < list.count else {
            payload.append(0)
            return payload
        }
        let maxLength = XenstoreWire.payloadMax - payload.count - 1
        var length = 0
        var cursor = offset
        while cursor < list.count {
            let end = list[cursor...].firstIndex(of: 0) ?? list.count
            let nameLength = end - cursor
            guard length + nameLength < maxLength else { break }
            length += nameLength + 1
            cursor = end + 1
        }
        payload.append(contentsOf: list[offset..<(offset + length)])
        if offset + length >= list.count { payload.append(0) }
        return payload
    }
}
