/// A mutating request recorded in a transaction, replayed on the live tree at commit.
enum TransactionOperation: Sendable {
    case write(String, [UInt8])
    case mkdir(String)
    case remove(String)
    case setPermissions(String, [XenstorePermission])
}

/// An open transaction of one connection.
///
/// Conflict rule (C xenstored 4.17, `xenstored_transaction.c`): the commit fails with EAGAIN
/// only if a node the transaction *read* (READ, DIRECTORY, DIRECTORY_PART, GET_PERMS; absent
/// nodes included) has a different generation at commit. Nodes it only wrote are not checked,
/// so independent transactions — even ones creating siblings under one parent — both commit.
/// The transaction sees its own writes through a private overlay; at commit its operations are
/// replayed on the live tree (all or nothing), which fires watches exactly once, at commit.
struct Transaction: Sendable {
    let id: UInt32
    /// Private copies of nodes this transaction read or changed; `.some(nil)` marks a node it
    /// deleted or found absent.
    var overlay: [String: Node?] = [:]
    var entryDelta: [UInt32: Int] = [:]
    /// Generation at first read (nil: the node was absent).
    var reads: [String: UInt64?] = [:]
    var operations: [TransactionOperation] = []
    /// Generation counter of the private view; only DIRECTORY_PART inside the transaction sees it.
    var generation: UInt64

    init(id: UInt32, generation: UInt64) {
        self.id = id
        self.generation = generation
    }

    /// Distinct nodes touched (read or written), for the transaction-nodes quota.
    var touchedNodes: Int { overlay.count }

    /// Records the first access of `path` as a read: remembers its generation for the conflict
    /// check and keeps a private copy, so later reads in the transaction repeat what it saw even
    /// if the live node changes meanwhile (C copies read nodes into the transaction too).
    mutating func noteRead(_ path: String, in tree: Tree) {
        guard overlay[path] == nil else { return }
        let node = tree.node(at: path)
        reads.updateValue(node?.generation, forKey: path)
        overlay.updateValue(node, forKey: path)
    }

    /// Whether every node read still has the generation it had when read.
    func isValid(against tree: Tree) -> Bool {
        for (path, generation) in reads where tree.node(at: path)?.generation != generation {
            return false
        }
        return true
    }
}

/// The live tree as one transaction sees it: its own changes over the current live nodes.
struct TransactionView: NodeTable {
    let base: Tree
    var transaction: Transaction

    func node(at path: String) -> Node? {
        if let private_ = transaction.overlay[path] { return private_ }
        return base.node(at: path)
    }

    mutating func setNode(_ node: Node, at path: String) {
        transaction.overlay.updateValue(node, forKey: path)
    }

    mutating func removeNode(at path: String) {
        transaction.overlay.updateValue(nil, forKey: path)
    }

    mutating func nextGeneration() -> UInt64 {
        transaction.generation &+= 1
        return transaction.generation
    }

    func entries(of domid: UInt32) -> Int { base.entries(of: domid) + transaction.entryDelta[domid, default: 0] }

    mutating func adjustEntries(of domid: UInt32, by delta: Int) {
        transaction.entryDelta[domid, default: 0] += delta
    }
}
