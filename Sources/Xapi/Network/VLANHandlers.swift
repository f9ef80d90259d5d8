import XapiDB

/// VLANs as xen-api ocaml/xapi/xapi_vlan.ml and xapi_pool.ml make them: a VLAN joins a tagged PIF
/// (a NIC or a bond) to an untagged one, a virtual PIF on the VLAN's network, plugged at once.
enum VLANHandlers {
    static let table = ClassHandlers("VLAN", [
        "create": { call in
            .string(try create(call, taggedPIF: try call.string("tagged_PIF"), tag: try call.int("tag"),
                               network: try call.string("network")).vlan)
        },
        "destroy": { call in
            try call.database.write { s throws(XapiError) in try destroy(try call.string("self"), in: &s, call.tables) }
            return .emptyString
        },
    ])

    static let poolTable = ClassHandlers("pool", [
        // xapi_pool.ml: a VLAN on every live host's PIF of the given PIF's network.
        "create_VLAN_from_PIF": { call in
            let t = call.tables
            let (pif, network, tag) = (try call.string("pif"), try call.string("network"), try call.int("VLAN"))
            let pifs = try call.database.read { s throws(XapiError) -> [String] in
                let base = try s.get(t.pif, pif, .network).stringValue ?? nullRef
                return try s.get(t.network, base, .pifs).refList.filter { other in
                    guard let host = try? s.get(t.pif, other, .host).stringValue, s.contains(t.host, host),
                          let metrics = try? s.get(t.host, host, .metrics).stringValue, s.contains(t.hostMetrics, metrics) else { return false }
                    return (try? s.get(t.hostMetrics, metrics, .live)) == .bool(true)
                }
            }
            var created: [String] = []
            for tagged in pifs { created.append(try create(call, taggedPIF: tagged, tag: tag, network: network).untagged) }
            return .array(created.map(Value.string))
        },
        // The older form: by device name, on every host.
        "create_VLAN": { call in
            let t = call.tables
            let (device, network, tag) = (try call.string("device"), try call.string("network"), try call.int("VLAN"))
            var created: [String] = []
            for host in call.database.read({ $0.refs(t.host) }).sorted() {
                created.append(try create(call, taggedPIF: try basePIF(call, device: device, host: host), tag: tag, network: network).untagged)
            }
            return .array(created.map(Value.string))
        },
    ])

    static let pifTable = ClassHandlers("PIF", [
        // Deprecated forms, as xapi rewrote them onto VLAN.create and VLAN.destroy.
        "create_VLAN": { call in
            let (device, network, host, tag) = (try call.string("device"), try call.string("network"), try call.string("host"),
                                                try call.int("VLAN"))
            return .string(try create(call, taggedPIF: try basePIF(call, device: device, host: host), tag: tag, network: network).untagged)
        },
        "destroy": { call in
            let t = call.tables
            let pif = try call.string("self")
            try call.database.write { s throws(XapiError) in
                guard (try s.get(t.pif, pif, .vlan).intValue ?? -1) >= 0 else { throw .pifIsPhysical }
                try destroy(try s.get(t.pif, pif, .vlanMasterOf).stringValue ?? nullRef, in: &s, t)
            }
            return .emptyString
        },
    ])

    /// The PIF of `device` without a VLAN tag on `host` (`INVALID_VALUE` if none).
    static func basePIF(_ call: Call, device: String, host: String) throws(XapiError) -> String {
        let t = call.tables
        return try call.database.read { s throws(XapiError) -> String in
            for pif in try PIFHandlers.pifs(on: host, in: s, t) where try s.get(t.pif, pif, .device) == .string(device) {
                if try s.get(t.pif, pif, .vlan) == .int(-1) { return pif }
            }
            throw .invalidValue(field: "device", value: device)
        }
    }

    /// xapi_vlan.ml `create`, its checks in its order, then the untagged PIF (MAC
    /// fe:ff:ff:ff:ff:ff, the tagged PIF's MTU and metrics) and the VLAN, plugged.
    static func create(_ call: Call, taggedPIF: String, tag: Int64, network: String) throws(XapiError) -> (vlan: String, untagged: String) {
        let t = call.tables
        return try call.database.write { s throws(XapiError) in
            guard s.contains(t.network, network) else { throw .handleInvalid(class: "network", ref: network) }
            try PIFHandlers.assertManaged(network: network, in: s, t)
            let host = try s.get(t.pif, taggedPIF, .host).stringValue ?? nullRef
            try PIFHandlers.assertNoOtherLocalPIF(network, host: host, in: s, t)
            try PIFHandlers.assertManaged(taggedPIF, in: s, t)
            if try PIFHandlers.isBondMember(taggedPIF, in: s, t) { throw .cannotAddVLANToBondSlave(pif: taggedPIF) }
            if try s.get(t.pif, taggedPIF, .vlan) != .int(-1) { throw .pifIsVLAN(pif: taggedPIF) }
            guard (0...4094).contains(tag) else { throw .vlanTagInvalid(tag: tag) }
            let device = try s.get(t.pif, taggedPIF, .device).stringValue ?? ""
            for vlan in try s.get(t.pif, taggedPIF, .vlanSlaveOf).refList where s.contains(t.vlan, vlan) {
                if try s.get(t.vlan, vlan, .tag) == .int(tag) { throw .pifVLANExists(device: device) }
            }
            let vlan = Identifiers.ref()
            let untagged = try s.create(t.pif.table, [
                "device": .string(device), "network": .string(network), "host": .string(host),
                "MAC": .string("fe:ff:ff:ff:ff:ff"), "MTU": try s.get(t.pif, taggedPIF, .mtu), "VLAN": .int(tag),
                "metrics": try s.get(t.pif, taggedPIF, .metrics), "physical": .bool(false), "currently_attached": .bool(true),
                "ip_configuration_mode": .string("None"), "managed": .bool(true),
                "primary_address_type": try s.get(t.pif, taggedPIF, .primaryAddressType),
                "VLAN_master_of": .string(vlan),
            ])
            try s.create(t.vlan.table, ["tagged_PIF": .string(taggedPIF), "untagged_PIF": .string(untagged), "tag": .int(tag)], ref: vlan)
            return (vlan, untagged)
        }
    }

    /// xapi_vlan.ml `destroy`: the untagged PIF, if not bonded nor the management interface, is
    /// unplugged and goes with the VLAN (its metrics are the tagged PIF's and stay).
    static func destroy(_ vlan: String, in s: inout DatabaseState, _ t: Tables) throws(XapiError) {
        let untagged = try s.get(t.vlan, vlan, .untaggedPIF).stringValue ?? nullRef
        guard s.contains(t.pif, untagged) else {
            try s.delete(t.vlan, vlan)
            return
        }
        try PIFHandlers.assertNotInBond(untagged, in: s, t)
        if try s.get(t.pif, untagged, .vlan).intValue ?? -1 < 0 { throw .pifIsPhysical }
        if try s.get(t.pif, untagged, .management) == .bool(true) { throw .pifIsManagementInterface(pif: untagged) }
        try s.delete(t.vlan, vlan)
        try s.delete(t.pif, untagged)
    }
}
