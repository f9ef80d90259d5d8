import XapiDB

/// Networks: rows the PIFs of hosts and the VIFs of VMs join.
enum NetworkHandlers {
    static let table = ClassHandlers("network", [
        "destroy": destroy,
    ])

    /// xen-api ocaml/xapi/xapi_network.ml `destroy`: refused while a VIF on it is attached
    /// (`NETWORK_CONTAINS_VIF` with those VIFs; xapi also counts VIFs `reserved` for a start in
    /// progress, an internal field a start here never sets), while a host has a PIF on it
    /// (`NETWORK_CONTAINS_PIF`), or when it is the host-internal management network (CA-43250);
    /// otherwise its remaining, unplugged VIFs go with it.
    static let destroy: Handler = { call in
        let t = call.tables
        let network = try call.string("self")
        try call.database.write { s throws(XapiError) in
            let vifs = try s.get(t.network, network, .vifs).refList.filter { s.contains(t.vif, $0) }
            var connected: [String] = []
            for vif in vifs where try s.get(t.vif, vif, .currentlyAttached) == .bool(true) { connected.append(vif) }
            guard connected.isEmpty else { throw .networkContainsVIF(vifs: connected) }
            let pifs = try s.get(t.network, network, .pifs).refList
            guard pifs.isEmpty else { throw .networkContainsPIF(pifs: pifs) }
            let otherConfig = try s.get(t.network, network, .otherConfig).structureValue
            if otherConfig?["is_host_internal_management_network"]?.stringValue == "true" {
                throw .cannotDestroySystemNetwork(network: network)
            }
            // xapi removes these with `Db.VIF.destroy` alone, leaving their metrics rows unnamed.
            for vif in vifs { try s.delete(t.vif, vif) }
            try s.delete(t.network, network)
        }
        return .emptyString
    }
}
