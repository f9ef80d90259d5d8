import XapiDB

/// xen-api ocaml/xapi/agility.ml: a VM is agile when it could run on any enabled host of the
/// pool — no vGPU or USB device ties it to one, its disks are on shared SRs plugged on every
/// enabled host, its networks have a PIF (not a bond member) on every enabled host.
enum Agility {
    static func assertAgile(_ vm: String, in s: DatabaseState, _ t: Tables) throws(XapiError) {
        if try !s.get(t.vm, vm, .vgpus).refList.filter({ s.contains(t.vgpu, $0) }).isEmpty { throw .vmHasVGPU(vm: vm) }
        if try !s.get(t.vm, vm, .vusbs).refList.isEmpty { throw .vmHasVUSBs(vm: vm) }
        let enabledHosts = Set(s.refs(t.host).filter { (try? s.get(t.host, $0, .enabled)) == .bool(true) })
        for vbd in try s.get(t.vm, vm, .vbds).refList where s.contains(t.vbd, vbd) {
            guard try s.get(t.vbd, vbd, .empty) != .bool(true) else { continue }
            let vdi = try s.get(t.vbd, vbd, .vdi).stringValue ?? nullRef
            guard s.contains(t.vdi, vdi) else { continue }
            let sr = try s.get(t.vdi, vdi, .sr).stringValue ?? nullRef
            guard try isShared(sr: sr, enabledHosts, in: s, t) else { throw .haConstraintViolationSRNotShared(sr: sr) }
        }
        for vif in try s.get(t.vm, vm, .vifs).refList where s.contains(t.vif, vif) {
            let network = try s.get(t.vif, vif, .network).stringValue ?? nullRef
            guard try isShared(network: network, enabledHosts, in: s, t) else {
                throw .haConstraintViolationNetworkNotShared(network: network)
            }
        }
    }

    /// `is_sr_properly_shared`: marked shared, and plugged on every enabled host.
    static func isShared(sr: String, _ enabledHosts: Set<String>, in s: DatabaseState, _ t: Tables) throws(XapiError) -> Bool {
        guard s.contains(t.sr, sr), try s.get(t.sr, sr, .shared) == .bool(true) else { return false }
        var plugged = Set<String>()
        for pbd in try s.get(t.sr, sr, .pbds).refList where s.contains(t.pbd, pbd) {
            if try s.get(t.pbd, pbd, .currentlyAttached) == .bool(true), let host = try s.get(t.pbd, pbd, .host).stringValue {
                plugged.insert(host)
            }
        }
        return enabledHosts.isSubset(of: plugged)
    }

    /// `is_network_properly_shared`: a PIF that is no bond member on every enabled host.
    static func isShared(network: String, _ enabledHosts: Set<String>, in s: DatabaseState, _ t: Tables) throws(XapiError) -> Bool {
        guard s.contains(t.network, network) else { return enabledHosts.isEmpty }
        var hosts = Set<String>()
        for pif in try s.get(t.network, network, .pifs).refList where s.contains(t.pif, pif) {
            if try PIFHandlers.isBondMember(pif, in: s, t) { continue }
            if let host = try s.get(t.pif, pif, .host).stringValue { hosts.insert(host) }
        }
        return enabledHosts.isSubset(of: hosts)
    }
}
