import XapiDB

/// Whether a VM can run on a host: xen-api ocaml/xapi/xapi_vm_helpers.ml `assert_can_boot_here`,
/// the checks that apply to hosts without GPUs, USB or SR-IOV to share out, in xapi's order.
enum Placement {
    /// Before a start or resume: the VM must be able to run on `host`, and the room it needs is
    /// held for it there (`scheduled_to_be_resident_on`, counted by `hostFreeMemory`) in the same
    /// write, so two starts cannot both take the last of it. `release` undoes it on failure.
    static func reserve(_ vm: String, on host: String, in s: inout DatabaseState, _ t: Tables) throws(XapiError) {
        try assertCanBootHere(vm, on: host, in: s, t)
        try s.update(t.vm, vm, .scheduledToBeResidentOn, .string(host))
    }

    static func release(_ vm: String, in s: inout DatabaseState, _ t: Tables) throws(XapiError) {
        try s.update(t.vm, vm, .scheduledToBeResidentOn, .string(nullRef))
    }

    static func assertCanBootHere(_ vm: String, on host: String, memoryCheck: Bool = true, in s: DatabaseState,
                                  _ t: Tables) throws(XapiError) {
        _ = try s.row(t.vm, vm)
        let metrics = try s.get(t.host, host, .metrics).stringValue ?? nullRef
        guard s.contains(t.hostMetrics, metrics), try s.get(t.hostMetrics, metrics, .live) == .bool(true) else { throw .hostNotLive }
        let isControlDomain = try s.get(t.vm, vm, .isControlDomain) == .bool(true)
        let running = try s.get(t.vm, vm, .powerState) == .string("Running")
        let residentHere = try s.get(t.vm, vm, .residentOn) == .string(host)
        let enabled = try s.get(t.host, host, .enabled) == .bool(true)
        if !isControlDomain, !(running && residentHere), !enabled { throw .hostDisabled(host: host) }
        try assertCanSeeSRs(vm, host, in: s, t)
        try assertCanSeeNetworks(vm, host, in: s, t)
        if memoryCheck { try VMMemory.assertEnoughFreeMemory(vm, on: host, in: s, t) }
    }

    /// Every SR the VM's non-empty disks (and, suspended, its suspend image) live on has a plugged
    /// PBD on the host (`assert_can_see_SRs`), else `VM_REQUIRES_SR` with the first missing.
    static func assertCanSeeSRs(_ vm: String, _ host: String, in s: DatabaseState, _ t: Tables) throws(XapiError) {
        var vdis: [String] = []
        for vbd in try s.get(t.vm, vm, .vbds).refList where s.contains(t.vbd, vbd) {
            if try s.get(t.vbd, vbd, .empty) != .bool(true) { vdis.append(try s.get(t.vbd, vbd, .vdi).stringValue ?? nullRef) }
        }
        if try s.get(t.vm, vm, .powerState) == .string("Suspended"), let image = try s.get(t.vm, vm, .suspendVDI).stringValue, image != nullRef {
            vdis.append(image)
        }
        var plugged: Set<String> = []
        for pbd in try s.get(t.host, host, .pbds).refList where s.contains(t.pbd, pbd) {
            if try s.get(t.pbd, pbd, .currentlyAttached) == .bool(true) { plugged.insert(try s.get(t.pbd, pbd, .sr).stringValue ?? nullRef) }
        }
        for vdi in vdis where s.contains(t.vdi, vdi) {
            let sr = try s.get(t.vdi, vdi, .sr).stringValue ?? nullRef
            if !plugged.contains(sr) { throw .vmRequiresSR(vm: vm, sr: sr) }
        }
    }

    /// xapi_network_attach_helpers.ml `assert_can_see_named_networks`: a network with PIFs is
    /// available on the hosts it has PIFs on; one without is available anywhere if it is not
    /// managed or is marked shared, else where its running VMs already are.
    static func assertCanSeeNetworks(_ vm: String, _ host: String, in s: DatabaseState, _ t: Tables) throws(XapiError) {
        for vif in try s.get(t.vm, vm, .vifs).refList where s.contains(t.vif, vif) {
            let network = try s.get(t.vif, vif, .network).stringValue ?? nullRef
            guard s.contains(t.network, network) else { continue }
            if !(try isNetworkAvailable(network, on: host, in: s, t)) { throw .vmRequiresNetwork(vm: vm, network: network) }
        }
    }

    static func isNetworkAvailable(_ network: String, on host: String, in s: DatabaseState, _ t: Tables) throws(XapiError) -> Bool {
        let pifs = try s.get(t.network, network, .pifs).refList
        if !pifs.isEmpty {
            for pif in pifs where s.contains(t.pif, pif) {
                if try s.get(t.pif, pif, .host) == .string(host) { return true }
            }
            return false
        }
        if try s.get(t.network, network, .otherConfig).structureValue?["assume_network_is_shared"]?.stringValue == "true" { return true }
        if try s.get(t.network, network, .managed) != .bool(true) { return true }
        var hosts: [Value] = []
        for other in try s.get(t.network, network, .vifs).refList where s.contains(t.vif, other) {
            let owner = try s.get(t.vif, other, .vm).stringValue ?? nullRef
            if s.contains(t.vm, owner), try s.get(t.vm, owner, .powerState) == .string("Running") {
                hosts.append(try s.get(t.vm, owner, .residentOn))
            }
        }
        return hosts.isEmpty || hosts.contains(.string(host))
    }
}
