import Logging
import XapiDB

/// Hosts leaving the pool and the master's role moving (xen-api ocaml/xapi/xapi_pool.ml
/// `eject`, `designate_new_master`), for the hosts this process simulates.
enum PoolMembership {
    static let table = ClassHandlers("pool", [
        "eject": eject,
        "designate_new_master": designateNewMaster,
    ])

    /// `Pool.eject`: refused for the master (xapi's unmapped `Cannot_eject_master`) and for a
    /// host that still runs a VM; otherwise the host's records go — its CPUs, metrics, NICs,
    /// PCI devices and GPUs, its control domain, its storage connections and the SRs only it
    /// had with their disks — and every remaining mention of them is dropped, as xapi's
    /// database GC does. The simulated host itself leaves the pool: its xenopsd has no host
    /// row here any more, so its events loop writes nothing; a later start with `--hosts`
    /// counting it brings it back as a new member.
    static let eject: Handler = { call in
        let t = call.tables
        let host = try call.string("host")
        try call.database.write { s throws(XapiError) in
            _ = try s.row(t.host, host)
            if host == XenAPI.localHost(in: s, tables: t) { throw .internalError("Xapi_pool.Cannot_eject_master") }
            for vm in try HostHandlers.residentGuests(host, in: s, t) where try s.get(t.vm, vm, .powerState) != .string("Halted") {
                throw .operationNotAllowed("VM resident on host")
            }
            var gone: [(table: Int, ref: String)] = []
            for (table, field) in [(t.hostCPU, HostField.hostCPUs), (t.pci, .pcis), (t.pgpu, .pgpus)] {
                for ref in try s.get(t.host, host, field).refList { gone.append((table, ref)) }
            }
            for pif in try s.get(t.host, host, .pifs).refList where s.contains(t.pif, pif) {
                let metrics = try s.get(t.pif, pif, .metrics).stringValue ?? nullRef
                if s.contains(t.pifMetrics, metrics) { gone.append((t.pifMetrics, metrics)) }
                gone.append((t.pif.table, pif))
            }
            for pbd in try s.get(t.host, host, .pbds).refList where s.contains(t.pbd, pbd) {
                gone.append((t.pbd.table, pbd))
                let sr = try s.get(t.pbd, pbd, .sr).stringValue ?? nullRef
                guard s.contains(t.sr, sr), try s.get(t.sr, sr, .shared) != .bool(true) else { continue }
                let elsewhere = try s.get(t.sr, sr, .pbds).refList.contains { (try? s.get(t.pbd, $0, .host))?.stringValue != host }
                guard !elsewhere else { continue }
                for vdi in try s.get(t.sr, sr, .vdis).refList where s.contains(t.vdi, vdi) {
                    for vbd in try s.get(t.vdi, vdi, .vbds).refList where s.contains(t.vbd, vbd) { gone.append((t.vbd.table, vbd)) }
                    gone.append((t.vdi.table, vdi))
                }
                gone.append((t.sr.table, sr))
            }
            let metrics = try s.get(t.host, host, .metrics).stringValue ?? nullRef
            if s.contains(t.hostMetrics, metrics) { gone.append((t.hostMetrics.table, metrics)) }
            for dom0 in try s.get(t.host, host, .residentVMs).refList where s.contains(t.vm, dom0) {
                let vmMetrics = try s.get(t.vm, dom0, .metrics).stringValue ?? nullRef
                if s.contains(t.vmMetrics, vmMetrics) { gone.append((t.vmMetrics.table, vmMetrics)) }
                for console in try s.get(t.vm, dom0, .consoles).refList where s.contains(t.console, console) {
                    gone.append((t.console.table, console))
                }
                gone.append((t.vm.table, dom0))
            }
            gone.append((t.host.table, host))
            var removed = Set<String>()
            for (table, ref) in gone where removed.insert(ref).inserted && s.contains(table, ref) { try s.delete(table, ref) }
            try s.dropReferences(to: removed)
        }
        call.api.logger.info("host ejected from the pool", metadata: ["host": "\(host)"])
        return .emptyString
    }

    /// `Pool.designate_new_master`: the role moves to a live member (a no-op for the master).
    static let designateNewMaster: Handler = { call in
        let t = call.tables
        let host = try call.string("host")
        try call.database.write { s throws(XapiError) in
            _ = try s.row(t.host, host)
            let pool = s.refs(t.pool).first ?? nullRef
            guard try s.get(t.pool, pool, .master) != .string(host) else { return }
            let metrics = try s.get(t.host, host, .metrics).stringValue ?? nullRef
            guard s.contains(t.hostMetrics, metrics), try s.get(t.hostMetrics, metrics, .live) == .bool(true) else {
                throw .hostOffline(host: host)
            }
            try s.set(t.pool, pool, .master, .string(host))
        }
        return .emptyString
    }
}
