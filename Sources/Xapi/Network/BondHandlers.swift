import XapiDB
import Xenops

/// Bonds as xen-api ocaml/xapi/xapi_bond.ml makes and unmakes them: a master PIF (`bond<n>`) on
/// the bond's network over member NICs of one host; the primary member's address, management
/// role, VLANs and the VIFs of its network move to the master, and back on `destroy`.
enum BondHandlers {
    static let table = ClassHandlers("Bond", [
        "create": create,
        "destroy": destroy,
        "set_mode": setMode,
        "set_property": setProperty,
    ])

    /// `requirements_of_mode`: the properties an LACP bond takes, their defaults and values.
    static func requirements(_ mode: String) -> [(key: String, defaultValue: String?, valid: (String) -> Bool)] {
        guard mode == "lacp" else { return [] }
        return [
            ("hashing_algorithm", "tcpudp_ports", { ["src_mac", "tcpudp_ports"].contains($0) }),
            ("lacp-time", "slow", { ["fast", "slow"].contains($0) }),
            ("lacp-aggregation-key", nil, { Int($0) != nil }),
            ("lacp-fallback-ab", "true", { ["true", "false"].contains($0) }),
        ]
    }

    /// `Map_check.validate_kvpair`: only a key the mode knows, with a value it allows.
    static func validate(_ key: String, _ value: String, mode: String) throws(XapiError) {
        guard let requirement = requirements(mode).first(where: { $0.key == key }), requirement.valid(value) else {
            throw .invalidValue(field: "properties", value: "\(key) = \(value)")
        }
    }

    static func withDefaults(_ properties: [String: String], mode: String) -> [String: String] {
        var out = properties
        for requirement in requirements(mode) where out[requirement.key] == nil {
            if let value = requirement.defaultValue { out[requirement.key] = value }
        }
        return out
    }

    static let create: Handler = { call in
        let t = call.tables
        let (network, mac, mode) = (try call.string("network"), try call.string("MAC"), try call.string("mode"))
        var seen = Set<String>()
        let members = try call.strings("members").filter { seen.insert($0).inserted }
        let given = try call.argument("properties").stringMap
        for (key, value) in given { try validate(key, value, mode: mode) }
        let properties = withDefaults(given, mode: mode)
        let (bond, moves) = try call.database.write { s throws(XapiError) -> (String, [VIFMove]) in
            guard s.contains(t.network, network) else { throw .handleInvalid(class: "network", ref: network) }
            try PIFHandlers.assertManaged(network: network, in: s, t)
            guard let first = members.first else { throw .pifBondNeedsMoreMembers }
            let host = try s.get(t.pif, first, .host).stringValue ?? nullRef
            try PIFHandlers.assertNoOtherLocalPIF(network, host: host, in: s, t)
            if !mac.isEmpty, !PIFHandlers.isValidMAC(mac) { throw .macInvalid(mac: mac) }
            var management: String?
            var addressed: [String] = []
            var memberProperties: [Value] = []
            var disallowUnplug = false
            for pif in members {
                if management == nil, try s.get(t.pif, pif, .management) == .bool(true) { management = pif }
                if try s.get(t.pif, pif, .ipConfigurationMode) != .string("None") { addressed.append(pif) }
                memberProperties.append(try s.get(t.pif, pif, .properties))
                if try s.get(t.pif, pif, .disallowUnplug) == .bool(true) { disallowUnplug = true }
            }
            let primary = management ?? addressed.first ?? first
            // xapi_bond.ml's constraints: managed members, not bonded, no VLAN, one host, the same
            // properties, at most one with an address.
            var hosts = Set<String>()
            for pif in members {
                try PIFHandlers.assertManaged(pif, in: s, t)
                try PIFHandlers.assertNotInBond(pif, in: s, t)
                if try s.get(t.pif, pif, .vlan) != .int(-1) { throw .pifIsVLAN(pif: pif) }
                hosts.insert(try s.get(t.pif, pif, .host).stringValue ?? nullRef)
            }
            guard hosts.count == 1 else { throw .pifCannotBondCrossHost }
            guard memberProperties.allSatisfy({ $0 == memberProperties[0] }) else { throw .incompatiblePIFProperties }
            if addressed.count > 1 { throw .pifBondMoreThanOneIP }

            var devices = Set<String>()
            for pif in try PIFHandlers.pifs(on: host, in: s, t) { devices.insert(try s.get(t.pif, pif, .device).stringValue ?? "") }
            let device = (0...).lazy.map { "bond\($0)" }.first { !devices.contains($0) }!
            let master = Identifiers.ref()
            let bond = Identifiers.ref()
            try s.create(t.pif.table, [
                "device": .string(device), "network": .string(network), "host": .string(host),
                "MAC": .string(mac.isEmpty ? try s.get(t.pif, primary, .mac).stringValue ?? "" : mac), "MTU": .int(-1),
                "VLAN": .int(-1), "metrics": .string(try s.create(t.pifMetrics, [:])), "physical": .bool(false),
                "ip_configuration_mode": .string("None"), "managed": .bool(true), "properties": memberProperties[0],
                "primary_address_type": try s.get(t.pif, primary, .primaryAddressType), "disallow_unplug": .bool(disallowUnplug),
            ], ref: master)
            try s.create(t.bond.table, [
                "master": .string(master), "primary_slave": .string(primary), "mode": .string(mode),
                "properties": .structure(Structure(properties.sorted { $0.key < $1.key }.map { .init(key: $0.key, value: .string($0.value)) })),
                "auto_update_mac": .bool(mac.isEmpty),
            ], ref: bond)
            for pif in members {
                try s.set(t.pif, pif, .bondSlaveOf, .string(bond))
                if disallowUnplug { try s.update(t.pif, pif, .disallowUnplug, .bool(false)) }
            }
            try moveConfiguration(from: primary, to: master, in: &s, t)
            if management != nil { try moveManagement(from: primary, to: master, in: &s, t) }
            try bringUp(master, members: members, in: &s, t)
            for pif in members {
                for vlan in try s.get(t.pif, pif, .vlanSlaveOf).refList where s.contains(t.vlan, vlan) {
                    try s.set(t.vlan, vlan, .taggedPIF, .string(master))
                }
            }
            var memberNetworks = Set<String>()
            for pif in members { memberNetworks.insert(try s.get(t.pif, pif, .network).stringValue ?? nullRef) }
            return (bond, try VIFMove.onto(network, from: memberNetworks, host: host, in: &s, t))
        }
        try await VIFMove.apply(moves, call)
        return .string(bond)
    }

    static let destroy: Handler = { call in
        let t = call.tables
        let bond = try call.string("self")
        let moves = try call.database.write { s throws(XapiError) -> [VIFMove] in
            let master = try s.get(t.bond, bond, .master).stringValue ?? nullRef
            let members = try s.get(t.bond, bond, .slaves).refList.filter { s.contains(t.pif, $0) }
            let primary = try s.get(t.bond, bond, .primarySlave).stringValue ?? members.first ?? nullRef
            let plugged = try s.get(t.pif, master, .currentlyAttached) == .bool(true)
            let network = try s.get(t.pif, master, .network).stringValue ?? nullRef
            let host = try s.get(t.pif, master, .host).stringValue ?? nullRef
            try moveConfiguration(from: master, to: primary, in: &s, t)
            let wasManagement = try s.get(t.pif, master, .management) == .bool(true)
            if wasManagement { try moveManagement(from: master, to: primary, in: &s, t) }
            for vlan in try s.get(t.pif, master, .vlanSlaveOf).refList where s.contains(t.vlan, vlan) {
                try s.set(t.vlan, vlan, .taggedPIF, .string(primary))
            }
            let primaryNetwork = try s.get(t.pif, primary, .network).stringValue ?? nullRef
            let moves = try VIFMove.onto(primaryNetwork, from: [network], host: host, in: &s, t)
            if try s.get(t.pif, master, .disallowUnplug) == .bool(true) { try s.set(t.pif, primary, .disallowUnplug, .bool(true)) }
            try s.delete(t.bond, bond)
            try s.deleteOwned(t.pif, master, .metrics)
            try s.delete(t.pif, master)
            for pif in members {
                try s.set(t.pif, pif, .bondSlaveOf, .string(nullRef))
                try s.update(t.pif, pif, .currentlyAttached, .bool(plugged || wasManagement))
            }
            return moves
        }
        try await VIFMove.apply(moves, call)
        return .emptyString
    }

    /// `set_mode`: the properties the new mode allows kept, its defaults added.
    static let setMode: Handler = { call in
        let t = call.tables
        let (bond, mode) = (try call.string("self"), try call.string("value"))
        try call.database.write { s throws(XapiError) in
            var kept: [String: String] = [:]
            for (key, value) in try s.get(t.bond, bond, .properties).stringMap where (try? validate(key, value, mode: mode)) != nil {
                kept[key] = value
            }
            try s.set(t.bond, bond, .mode, .string(mode))
            try s.set(t.bond, bond, .properties, structure(withDefaults(kept, mode: mode)))
        }
        return .emptyString
    }

    static let setProperty: Handler = { call in
        let t = call.tables
        let (bond, name, value) = (try call.string("self"), try call.string("name"), try call.string("value"))
        try call.database.write { s throws(XapiError) in
            try validate(name, value, mode: try s.get(t.bond, bond, .mode).stringValue ?? "")
            var properties = try s.get(t.bond, bond, .properties).stringMap
            properties[name] = value
            try s.set(t.bond, bond, .properties, structure(properties))
        }
        return .emptyString
    }

    private static func structure(_ map: [String: String]) -> Value {
        .structure(Structure(map.sorted { $0.key < $1.key }.map { .init(key: $0.key, value: .string($0.value)) }))
    }

    /// `move_configuration`: the IPv4 settings go over, the source left without any.
    static func moveConfiguration(from source: String, to target: String, in s: inout DatabaseState, _ t: Tables) throws(XapiError) {
        for field: PIFField in [.ipConfigurationMode, .ip, .netmask, .gateway, .dns] {
            try s.set(t.pif, target, field, try s.get(t.pif, source, field))
            try s.set(t.pif, source, field, field == .ipConfigurationMode ? .string("None") : .string(""))
        }
    }

    /// `move_management`: the target becomes the host's management interface, up.
    static func moveManagement(from source: String, to target: String, in s: inout DatabaseState, _ t: Tables) throws(XapiError) {
        try s.set(t.pif, source, .management, .bool(false))
        try s.set(t.pif, target, .management, .bool(true))
        try s.update(t.pif, target, .currentlyAttached, .bool(true))
    }

    /// The bond's master up, and with it its members (networkd enslaves them).
    static func bringUp(_ master: String, members: [String], in s: inout DatabaseState, _ t: Tables) throws(XapiError) {
        try s.update(t.pif, master, .currentlyAttached, .bool(true))
        for pif in members { try s.update(t.pif, pif, .currentlyAttached, .bool(true)) }
    }
}

/// A VIF moved to another network by a bond change (`Xapi_vif.move_internal`): recorded in the
/// write, its backend moved by Xenops afterwards when the device is active (as `VIF.move`).
struct VIFMove: Sendable {
    let vif: String
    let bridge: String

    /// The VIFs of VMs on `host` whose network is among `networks`, now on `network`; the moves
    /// Xenops has to make.
    static func onto(_ network: String, from networks: Set<String>, host: String,
                     in s: inout DatabaseState, _ t: Tables) throws(XapiError) -> [VIFMove] {
        let bridge = try s.get(t.network, network, .bridge).stringValue ?? ""
        var moves: [VIFMove] = []
        for old in networks where s.contains(t.network, old) && old != network {
            for vif in try s.get(t.network, old, .vifs).refList where s.contains(t.vif, vif) {
                let vm = try s.get(t.vif, vif, .vm).stringValue ?? nullRef
                guard s.contains(t.vm, vm), try s.get(t.vm, vm, .residentOn) == .string(host) else { continue }
                try s.set(t.vif, vif, .network, .string(network))
                if try VIFMessages.isActive(vif, in: s, t) { moves.append(VIFMove(vif: vif, bridge: bridge)) }
            }
        }
        return moves
    }

    static func apply(_ moves: [VIFMove], _ call: Call) async throws {
        for move in moves {
            try await VIFMessages.toXenops(call, move.vif) { _, device, xenops throws(XapiError) in
                xenops.vif.move(device, toBridge: move.bridge)
            }
        }
    }
}
