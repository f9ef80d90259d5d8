/// One node of the store. Children keep their creation order because DIRECTORY reports them in
/// that order in C xenstored (and Xen's own tests expect it).
struct Node: Sendable {
    var value: [UInt8]
    var permissions: [XenstorePermission]
    var children: [String]
    /// Bytes of the child list as C stores it (each name plus its NUL), kept for DIRECTORY_PART
    /// offsets and the node-size quota without re-summing.
    var childBytes: Int
    /// Bumped on every change to this node (value, permissions or child list); transactions
    /// compare it at commit and DIRECTORY_PART reports it.
    var generation: UInt64

    init(value: [UInt8] = [], permissions: [XenstorePermission], children: [String] = [], generation: UInt64) {
        self.value = value
        self.permissions = permissions
        self.children = children
        self.childBytes = children.reduce(0) { $0 + $1.utf8.count + 1 }
        self.generation = generation
    }

    var owner: UInt32 { permissions[0].domid }

    /// C's record size (`xs_tdb_record_hdr` + permissions + value + children), which the
    /// node-size quota limits.
    var accountedSize: Int { 24 + 8 * permissions.count + value.count + childBytes }

    mutating func appendChild(_ name: String) {
        children.append(name)
        childBytes += name.utf8.count + 1
    }

    mutating func removeChild(_ name: String) {
        if let index = children.firstIndex(of: name) {
            children.remove(at: index)
            childBytes -= name.utf8.count + 1
        }
    }
}

/// A change that may fire watches: the path, whether only watches on exactly this path match
/// (descendants deleted by RM), and the permission lists of which any granting read lets a
/// watcher see it (node, old permissions, parent: C's `watch_permitted`).
struct Change: Sendable {
    let path: String
    let exact: Bool
    let readers: [[XenstorePermission]]
}

/// Storage the tree operations run on: the live tree, or a transaction's private view of it.
/// The operations are written once, generically, so a transaction behaves exactly like the
/// live store and its commit can replay them.
protocol NodeTable {
    func node(at path: String) -> Node?
    mutating func setNode(_ node: Node, at path: String)
    mutating func removeNode(at path: String)
    mutating func nextGeneration() -> UInt64
    /// Nodes owned by `domid` (the node-count quota).
    func entries(of domid: UInt32) -> Int
    mutating func adjustEntries(of domid: UInt32, by delta: Int)
}

extension NodeTable {
    /// Finds `path` for a caller needing `need`. Returns nil when the node is missing and the
    /// caller may know that; throws EACCES when the node denies `need`, or when it is missing and
    /// its closest existing ancestor grants none of `need`, so existence does not leak (C's
    /// `get_node` + `errno_from_parents`).
    func lookup(_ path: String, need: Rights, by who: Identity) throws(XenstoreError) -> Node? {
        if let node = node(at: path) {
            guard node.permissions.rights(for: who).isSuperset(of: need) else { throw .EACCES }
            return node
        }
        var current = path
        while current != "/" {
            current = XenstorePath.parent(of: current)
            if let ancestor = node(at: current) {
                if ancestor.permissions.rights(for: who).isDisjoint(with: need) { throw .EACCES }
                return nil
            }
        }
        return nil
    }

    private func parentPermissions(of path: String) -> [XenstorePermission] {
        path == "/" ? [] : node(at: XenstorePath.parent(of: path))?.permissions ?? []
    }

    private func exceedsNodeSize(_ node: Node, by who: Identity, _ quotas: XenstoreQuotas) -> Bool {
        !who.privileged && quotas.nodeSize > 0 && node.accountedSize >= quotas.nodeSize
    }

    /// WRITE: set the value, creating the node and any missing ancestors.
    mutating func write(
        _ path: String, value: [UInt8], by who: Identity, quotas: XenstoreQuotas
    ) throws(XenstoreError) -> Change {
        guard var node = try lookup(path, need: .write, by: who) else {
            return try create(path, value: value, by: who, quotas: quotas)
        }
        node.value = value
        if exceedsNodeSize(node, by: who, quotas) { throw .ENOSPC }
        node.generation = nextGeneration()
        setNode(node, at: path)
        return Change(path: path, exact: false, readers: [node.permissions, parentPermissions(of: path)])
    }

    /// MKDIR: create with an empty value; nil when it already existed (nothing fires).
    mutating func mkdir(_ path: String, by who: Identity, quotas: XenstoreQuotas) throws(XenstoreError) -> Change? {
        if try lookup(path, need: .write, by: who) != nil { return nil }
        return try create(path, value: [], by: who, quotas: quotas)
    }

    /// Creates `path` and its missing ancestors. New nodes copy the closest existing ancestor's
    /// permissions; an unprivileged creator becomes their owner (C's `construct_node`). Every
    /// check runs before the first mutation, so a failure leaves the table untouched.
    private mutating func create(
        _ path: String, value: [UInt8], by who: Identity, quotas: XenstoreQuotas
    ) throws(XenstoreError) -> Change {
        var missing = [path]
        var ancestorPath = XenstorePath.parent(of: path)
        var ancestor: Node
        while true {
            if let found = node(at: ancestorPath) {
                ancestor = found
                break
            }
            missing.append(ancestorPath)
            ancestorPath = XenstorePath.parent(of: ancestorPath)
        }
        if !who.privileged, quotas.nodesPerDomain > 0, entries(of: who.domid) + missing.count > quotas.nodesPerDomain {
            throw .ENOSPC
        }
        var permissions = ancestor.permissions
        if !who.privileged { permissions[0].domid = who.domid }

        ancestor.appendChild(XenstorePath.basename(of: missing[missing.count - 1]))
        if exceedsNodeSize(ancestor, by: who, quotas) { throw .ENOSPC }
        var created: [(String, Node)] = []
        created.reserveCapacity(missing.count)
        for index in stride(from: missing.count - 1, through: 0, by: -1) {
            var fresh = Node(value: index == 0 ? value : [], permissions: permissions, generation: 0)
            if index > 0 { fresh.appendChild(XenstorePath.basename(of: missing[index - 1])) }
            if exceedsNodeSize(fresh, by: who, quotas) { throw .ENOSPC }
            created.append((missing[index], fresh))
        }

        let immediateParent = missing.count > 1 ? permissions : ancestor.permissions
        ancestor.generation = nextGeneration()
        setNode(ancestor, at: ancestorPath)
        for (createdPath, var fresh) in created {
            fresh.generation = nextGeneration()
            setNode(fresh, at: createdPath)
        }
        adjustEntries(of: permissions[0].domid, by: created.count)
        return Change(path: path, exact: false, readers: [permissions, immediateParent])
    }

    /// RM: delete the node and its subtree. Deleting an absent node is fine when its parent
    /// exists; `/` cannot be deleted.
    mutating func remove(_ path: String, by who: Identity) throws(XenstoreError) -> [Change] {
        guard try lookup(path, need: .write, by: who) != nil else {
            if path != "/", node(at: XenstorePath.parent(of: path)) != nil { return [] }
            throw .ENOENT
        }
        if path == "/" { throw .EINVAL }
        return removeSubtreeUnchecked(path)
    }

    /// Deletes a subtree without permission checks (RM after its checks, domain release).
    /// One change per deleted node, children first: exact for descendants, subtree matching for
    /// the root, as C's `delnode_sub`.
    mutating func removeSubtreeUnchecked(_ path: String) -> [Change] {
        let parentPath = XenstorePath.parent(of: path)
        guard var parent = node(at: parentPath) else { return [] }
        var changes: [Change] = []
        removeRecursively(path, parentPermissions: parent.permissions, root: path, into: &changes)
        parent.removeChild(XenstorePath.basename(of: path))
        parent.generation = nextGeneration()
        setNode(parent, at: parentPath)
        return changes
    }

    private mutating func removeRecursively(
        _ path: String, parentPermissions: [XenstorePermission], root: String, into changes: inout [Change]
    ) {
        guard let node = node(at: path) else { return }
        for child in node.children {
            removeRecursively(
                XenstorePath.child(of: path, named: child), parentPermissions: node.permissions, root: root,
                into: &changes)
        }
        removeNode(at: path)
        adjustEntries(of: node.owner, by: -1)
        changes.append(Change(path: path, exact: path != root, readers: [node.permissions, parentPermissions]))
    }

    /// SET_PERMS on a node: needs write and ownership; an unprivileged owner may change the
    /// grants but not the owner (EPERM, as C).
    mutating func setPermissions(
        _ path: String, _ permissions: [XenstorePermission], by who: Identity, quotas: XenstoreQuotas
    ) throws(XenstoreError) -> Change {
        guard var node = try lookup(path, need: [.write, .owner], by: who) else { throw .ENOENT }
        if !who.privileged && permissions[0].domid != node.owner { throw .EPERM }
        let old = node.permissions
        node.permissions = permissions
        if exceedsNodeSize(node, by: who, quotas) { throw .ENOSPC }
        if old[0].domid != permissions[0].domid {
            adjustEntries(of: old[0].domid, by: -1)
            adjustEntries(of: permissions[0].domid, by: 1)
        }
        node.generation = nextGeneration()
        setNode(node, at: path)
        return Change(path: path, exact: false, readers: [permissions, old, parentPermissions(of: path)])
    }
}

/// The live tree: nodes by absolute path, a global generation counter, node counts per owner,
/// and an optional journal that lets a transaction commit undo a half-applied replay.
struct Tree: NodeTable, Sendable {
    private(set) var nodes: [String: Node]
    private(set) var generation: UInt64 = 0
    private var entryCounts: [UInt32: Int] = [:]
    /// Paths owned by each guest (dom0, which owns nearly everything, is left out), so releasing
    /// a domain finds its nodes without walking the whole tree.
    private var ownedByGuest: [UInt32: Set<String>] = [:]
    private var journal: Journal?

    private struct Journal {
        var saved: [String: Node?] = [:]
        var entryCounts: [UInt32: Int]
    }

    /// `/`, `/tool` and `/tool/xenstored`, owned by dom0 with no access for others — C's
    /// `setup_structure` (oxenstored also makes `/local`; neither makes `/local/domain/0`).
    init() {
        nodes = [:]
        let dom0Only = [XenstorePermission(.none, 0)]
        nodes["/"] = Node(permissions: dom0Only, children: ["tool"], generation: nextGeneration())
        nodes["/tool"] = Node(permissions: dom0Only, children: ["xenstored"], generation: nextGeneration())
        nodes["/tool/xenstored"] = Node(permissions: dom0Only, generation: nextGeneration())
        entryCounts[0] = 3
    }

    func node(at path: String) -> Node? { nodes[path] }

    mutating func setNode(_ node: Node, at path: String) {
        if journal != nil, journal!.saved[path] == nil { journal!.saved[path] = .some(nodes[path]) }
        replace(path, with: node)
    }

    mutating func removeNode(at path: String) {
        if journal != nil, journal!.saved[path] == nil { journal!.saved[path] = .some(nodes[path]) }
        replace(path, with: nil)
    }

    private mutating func replace(_ path: String, with node: Node?) {
        let old = node.map { nodes.updateValue($0, forKey: path) } ?? nodes.removeValue(forKey: path)
        let (before, after) = (old?.owner, node?.owner)
        guard before != after else { return }
        if let before, before != 0 {
            ownedByGuest[before]?.remove(path)
            if ownedByGuest[before]?.isEmpty == true { ownedByGuest[before] = nil }
        }
        if let after, after != 0 { ownedByGuest[after, default: []].insert(path) }
    }

    mutating func nextGeneration() -> UInt64 {
        generation &+= 1
        return generation
    }

    func entries(of domid: UInt32) -> Int { entryCounts[domid, default: 0] }

    mutating func adjustEntries(of domid: UInt32, by delta: Int) {
        let value = entryCounts[domid, default: 0] + delta
        entryCounts[domid] = value == 0 ? nil : value
    }

    /// Starts recording old values so `rollback()` can restore them.
    mutating func beginJournal() { journal = Journal(entryCounts: entryCounts) }

    mutating func endJournal() { journal = nil }

    mutating func rollback() {
        guard let journal else { return }
        self.journal = nil
        for (path, old) in journal.saved { replace(path, with: old) }
        entryCounts = journal.entryCounts
    }

    /// Top-most nodes owned by `domid` (their subtrees go with them), in pre-order.
    /// Guests only: dom0 is never released.
    func topmostNodes(ownedBy domid: UInt32) -> [String] {
        precondition(domid != 0, "dom0 is never released")
        var owned = ownedByGuest[domid] ?? []
        owned.remove("/")
        guard !owned.isEmpty else { return [] }
        // Topmost: no ancestor owned too. Then visit only the ancestors of those, in tree order.
        var topmost: Set<String> = []
        var ancestors: Set<String> = []
        for path in owned {
            var chain: [String] = []
            var isTopmost = true
            XenstorePath.forEachSelfAndAncestor(path) { candidate in
                guard candidate != path else { return }
                if owned.contains(candidate) { isTopmost = false }
                chain.append(candidate)
            }
            if isTopmost {
                topmost.insert(path)
                ancestors.formUnion(chain)
            }
        }
        var found: [String] = []
        func visit(_ path: String) {
            if topmost.contains(path) {
                found.append(path)
                return
            }
            guard ancestors.contains(path), let node = nodes[path] else { return }
            for child in node.children { visit(XenstorePath.child(of: path, named: child)) }
        }
        visit("/")
        return found
    }
}
