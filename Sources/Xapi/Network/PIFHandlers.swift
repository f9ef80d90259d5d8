import XapiDB

/// A host's network interfaces as xen-api ocaml/xapi/xapi_pif.ml keeps them: found by `scan`
/// (one PIF, and one network per bridge, for each NIC without a record), introduced and forgotten
/// one by one, brought up and down (`plug`/`unplug`, what xcp-networkd's bridge does is only
/// `currently_attached` here), given an address (`reconfigure_ip`), and made the management
/// interface (`host.management_reconfigure`).
enum PIFHandlers {
    static let table = ClassHandlers("PIF", [
        "scan": scan,
        "introduce": introduce,
        "forget": forget,
        "plug": plug,
        "unplug": unplug,
        "reconfigure_ip": reconfigureIP,
    ])

    static let hostTable = ClassHandlers("host", [
        "management_reconfigure": managementReconfigure,
    ])

    /// `PIF.scan`: a record for each NIC of the host that has none.
    static let scan: Handler = { call in
        let t = call.tables
        let host = try call.string("host")
        try call.database.write { s throws(XapiError) in
            _ = try s.row(t.host, host)
            let known = Set(try pifs(on: host, in: s, t).compactMap { try? s.get(t.pif, $0, .device).stringValue })
            for nic in try HostNICs.interfaces(of: host, in: s, t) where !known.contains(nic.device) {
                _ = try introduce(nic, host: host, managed: true, in: &s, t)
            }
        }
        return .emptyString
    }

    /// `PIF.introduce`: one NIC, named by device and MAC (the MAC may be left out).
    static let introduce: Handler = { call in
        let t = call.tables
        let (host, device, managed) = (try call.string("host"), try call.string("device"), try call.bool("managed"))
        var mac = try call.string("MAC").lowercased()
        return .string(try call.database.write { s throws(XapiError) -> String in
            _ = try s.row(t.host, host)
            let nics = try HostNICs.interfaces(of: host, in: s, t)
            if mac.isEmpty { mac = nics.first { $0.device == device }?.mac ?? "" }
            guard isValidMAC(mac) else { throw .macInvalid(mac: mac) }
            let known = try pifs(on: host, in: s, t).compactMap { try? s.get(t.pif, $0, .device).stringValue }
            if known.contains(device) { throw .duplicatePIFDeviceName(device: device) }
            guard let nic = nics.first(where: { $0.device == device }), nic.mac == mac else { throw .noSuchNetworkInterface(device: device, mac: mac) }
            return try introduce(nic, host: host, managed: managed, in: &s, t)
        })
    }

    /// xapi_pif.ml `introduce_internal`: the PIF, its metrics, and the network of its bridge
    /// (`find_or_create_network`); down until plugged.
    static func introduce(_ nic: HostNICs.Interface, host: String, managed: Bool,
                          in s: inout DatabaseState, _ t: Tables) throws(XapiError) -> String {
        let bridge = managed ? nic.bridge : ""
        let bridgeField = t.network[.bridge]
        var network = bridge.isEmpty ? nil : s.rows(t.network).first { $0.value.fields[bridgeField] == .string(bridge) }?.key
        if network == nil {
            network = try s.create(t.network.table, [
                "name_label": .string("Pool-wide network associated with \(nic.device)"), "bridge": .string(bridge),
                "MTU": .int(1500), "managed": .bool(managed),
            ])
        }
        let metrics = try s.create(t.pifMetrics, [:])
        return try s.create(t.pif.table, [
            "device": .string(nic.device), "network": .string(network ?? nullRef), "host": .string(host), "MAC": .string(nic.mac),
            "MTU": .int(nic.mtu), "VLAN": .int(-1), "metrics": .string(metrics), "physical": .bool(true),
            "currently_attached": .bool(false), "ip_configuration_mode": .string("None"), "managed": .bool(managed),
            "properties": .structure(["gro": .string("on")]),
        ])
    }

    /// `PIF.forget`: not the management interface, not in a bond, carrying no VLAN or tunnel.
    static let forget: Handler = { call in
        let t = call.tables
        let pif = try call.string("self")
        try call.database.write { s throws(XapiError) in
            if try s.get(t.pif, pif, .management) == .bool(true) { throw .pifIsManagementInterface(pif: pif) }
            try assertNotInBond(pif, in: s, t)
            let vlans = try s.get(t.pif, pif, .vlanSlaveOf).refList
            if !vlans.isEmpty { throw .pifVLANStillExists(pif: pif) }
            if try s.get(t.pif, pif, .vlan) != .int(-1) { throw .pifVLANStillExists(pif: pif) }
            let tunnels = try s.get(t.pif, pif, .tunnelAccessPIFOf).refList + s.get(t.pif, pif, .tunnelTransportPIFOf).refList
            if !tunnels.isEmpty { throw .pifTunnelStillExists(pif: pif) }
            try s.deleteOwned(t.pif, pif, .metrics)
            try s.delete(t.pif, pif)
        }
        return .emptyString
    }

    /// `PIF.plug`: managed, and no bond member (its bond's master is plugged instead).
    static let plug: Handler = { call in
        let t = call.tables
        let pif = try call.string("self")
        try call.database.write { s throws(XapiError) in
            try assertManaged(pif, in: s, t)
            if try isBondMember(pif, in: s, t) { throw .cannotPlugBondSlave(pif: pif) }
            try s.update(t.pif, pif, .currentlyAttached, .bool(true))
        }
        return .emptyString
    }

    /// `PIF.unplug`: managed, not the management interface, unplug allowed; a bond takes its
    /// members down with it.
    static let unplug: Handler = { call in
        let t = call.tables
        let pif = try call.string("self")
        try call.database.write { s throws(XapiError) in
            try assertManaged(pif, in: s, t)
            if try s.get(t.pif, pif, .management) == .bool(true) { throw .pifIsManagementInterface(pif: pif) }
            if try s.get(t.pif, pif, .disallowUnplug) == .bool(true) { throw .pifDoesNotAllowUnplug(pif: pif) }
            guard try !isBondMember(pif, in: s, t) else { return }
            try s.update(t.pif, pif, .currentlyAttached, .bool(false))
        }
        return .emptyString
    }

    /// `PIF.reconfigure_ip`: a static address needs a valid IP and netmask, every address given
    /// must be valid, the management interface keeps an address; a plugged PIF is brought up
    /// again with it, and the host's address follows its management interface.
    static let reconfigureIP: Handler = { call in
        let t = call.tables
        let pif = try call.string("self")
        let (mode, ip, netmask, gateway, dns) = (try call.string("mode"), try call.string("IP"), try call.string("netmask"),
                                                 try call.string("gateway"), try call.string("DNS"))
        try call.database.write { s throws(XapiError) in
            try assertManaged(pif, in: s, t)
            if mode == "Static" {
                try IPFamily.ipv4.assertAddress(ip, field: "IP")
                try IPFamily.ipv4.assertAddress(netmask, field: "netmask")
            }
            for (field, value) in [("IP", ip), ("netmask", netmask), ("gateway", gateway)] where !value.isEmpty {
                try IPFamily.ipv4.assertAddress(value, field: field)
            }
            let management = try s.get(t.pif, pif, .management) == .bool(true)
            if management, mode == "None", try s.get(t.pif, pif, .primaryAddressType) == .string("IPv4") {
                throw .pifIsManagementInterface(pif: pif)
            }
            // The PIF keeps the IPv6 name servers it had; the IPv4 ones are replaced.
            let ipv6Servers = (try s.get(t.pif, pif, .dns).stringValue ?? "").split(separator: ",").map(String.init)
                .filter { IPFamily.ipv6.isAddress($0) }
            let ipv4Servers = dns.split(separator: ",").map(String.init).filter { IPFamily.ipv4.isAddress($0) }
            try s.set(t.pif, pif, .ipConfigurationMode, .string(mode))
            try s.set(t.pif, pif, .ip, .string(ip))
            try s.set(t.pif, pif, .netmask, .string(netmask))
            try s.set(t.pif, pif, .gateway, .string(gateway))
            try s.set(t.pif, pif, .dns, .string((ipv4Servers + ipv6Servers).joined(separator: ",")))
            if management, mode == "Static", let host = try s.get(t.pif, pif, .host).stringValue, s.contains(t.host, host) {
                try s.update(t.host, host, .address, .string(ip))
            }
        }
        return .emptyString
    }

    /// `host.management_reconfigure`: the PIF must be usable for management (no bond member,
    /// an address); it is brought up and becomes the one management PIF of its host, whose
    /// address is now its own.
    static let managementReconfigure: Handler = { call in
        let t = call.tables
        let pif = try call.string("pif")
        try call.database.write { s throws(XapiError) in
            if try s.get(t.pif, pif, .managed) == .bool(true) {
                if try isBondMember(pif, in: s, t) { throw .cannotPlugBondSlave(pif: pif) }
                if try s.get(t.pif, pif, .ipConfigurationMode) == .string("None") { throw .pifHasNoNetworkConfiguration(pif: pif) }
            }
            guard try s.get(t.pif, pif, .management) != .bool(true) else { return }
            let host = try s.get(t.pif, pif, .host).stringValue ?? nullRef
            for other in try pifs(on: host, in: s, t) where other != pif {
                try s.update(t.pif, other, .management, .bool(false))
            }
            try s.set(t.pif, pif, .management, .bool(true))
            try s.update(t.pif, pif, .currentlyAttached, .bool(true))
            if s.contains(t.host, host) { try s.update(t.host, host, .address, try s.get(t.pif, pif, .ip)) }
        }
        return .emptyString
    }

    static func pifs(on host: String, in s: DatabaseState, _ t: Tables) throws(XapiError) -> [String] {
        try s.get(t.host, host, .pifs).refList.filter { s.contains(t.pif, $0) }
    }

    /// Whether the PIF is a member of a live bond.
    static func isBondMember(_ pif: String, in s: DatabaseState, _ t: Tables) throws(XapiError) -> Bool {
        s.contains(t.bond, try s.get(t.pif, pif, .bondSlaveOf).stringValue ?? nullRef)
    }

    /// xapi_network.ml `assert_network_is_managed`.
    static func assertManaged(network: String, in s: DatabaseState, _ t: Tables) throws(XapiError) {
        if try s.get(t.network, network, .managed) != .bool(true) { throw .networkUnmanaged(network: network) }
    }

    /// xapi_pif.ml `assert_no_other_local_pifs`: a new VLAN or bond PIF joins a network the host
    /// has no PIF on yet.
    static func assertNoOtherLocalPIF(_ network: String, host: String, in s: DatabaseState, _ t: Tables) throws(XapiError) {
        if let other = try s.get(t.network, network, .pifs).refList.first(where: { (try? s.get(t.pif, $0, .host)) == .string(host) }) {
            throw .networkAlreadyConnected(host: host, pif: other)
        }
    }

    static func assertManaged(_ pif: String, in s: DatabaseState, _ t: Tables) throws(XapiError) {
        if try s.get(t.pif, pif, .managed) != .bool(true) { throw .pifUnmanaged(pif: pif) }
    }

    /// `assert_not_in_bond`: neither a member nor the master of a bond.
    static func assertNotInBond(_ pif: String, in s: DatabaseState, _ t: Tables) throws(XapiError) {
        let member = try isBondMember(pif, in: s, t)
        let master = !(try s.get(t.pif, pif, .bondMasterOf).refList.isEmpty)
        if member || master { throw .pifAlreadyBonded(pif: pif) }
    }

    /// `Helpers.is_valid_MAC`: six pairs of hex digits separated by colons.
    static func isValidMAC(_ mac: String) -> Bool {
        let parts = mac.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count == 6 && parts.allSatisfy { $0.count == 2 && $0.allSatisfy(\.isHexDigit) }
    }
}
