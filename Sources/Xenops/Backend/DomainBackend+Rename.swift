import Xenstore

extension DomainBackend {
    /// `VM_rename` on the backend (xenops_server_xen.ml `VM.rename`): the domain, if there is
    /// one, takes the new handle, and its xenstore entries (`/vm/<uuid>`, the private tree,
    /// the domain's `vm` key) and the backend's own facts follow, so the watcher maps its
    /// events to the new id.
    func rename(_ from: String, to: String) throws(XenopsError) {
        if let domain = domain(of: from) {
            try hypervisor.rename(domain.domid, uuid: to)
            let dom = Self.domainPath(domain.domid)
            try transaction("rename VM") { tx in
                try tx.write("\(dom)/vm", Self.vmPath(to))
            }
        }
        moveTree(Self.vmPath(from), to: Self.vmPath(to))
        try? xs.write("\(Self.vmPath(to))/uuid", to)
        moveTree(Self.privatePath(from), to: Self.privatePath(to))
        if let moved = extra(from) {
            removeExtra(from)
            updateExtra(to) { $0 = moved }
        }
    }

    /// Copies a subtree node by node (xenstore has no move), then removes the original.
    private func moveTree(_ from: String, to: String) {
        guard (try? xs.exists(from)) == true else { return }
        func copy(_ source: String, _ target: String) {
            if let value = try? xs.read(source) { try? xs.write(target, value) }
            for child in (try? xs.directory(source)) ?? [] { copy("\(source)/\(child)", "\(target)/\(child)") }
        }
        copy(from, to)
        try? xs.rm(from)
    }
}
