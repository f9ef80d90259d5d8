import XapiDB
import Xenops

/// What a VIF may send, what address its guest is asked to use and which network it is on (xen-api
/// ocaml/xapi/xapi_vif.ml): `configure_ipv4`/`configure_ipv6` for the guest agent, the locking
/// mode and allowed addresses for the switch, `move` to another network. Each is recorded first and, while the device is active, handed to Xenops,
/// which writes it into xenstore for the guest or the switch to pick up.
extension VIFMessages {
    static let addressingTable = ClassHandlers("VIF", [
        "configure_ipv4": configure(.ipv4),
        "configure_ipv6": configure(.ipv6),
        "set_locking_mode": setLockingMode,
        "set_ipv4_allowed": setAllowed(.ipv4),
        "add_ipv4_allowed": addAllowed(.ipv4),
        "remove_ipv4_allowed": removeAllowed(.ipv4),
        "set_ipv6_allowed": setAllowed(.ipv6),
        "add_ipv6_allowed": addAllowed(.ipv6),
        "remove_ipv6_allowed": removeAllowed(.ipv6),
        "move": move,
    ])

    /// xapi_vif.ml `move`: the VIF onto another network; a plugged one must stay reachable from
    /// its host (`HOST_CANNOT_ATTACH_NETWORK`) and its backend moves bridge under the guest.
    static let move: Handler = { call in
        let t = call.tables
        let (vif, network) = (try call.string("self"), try call.string("network"))
        let (active, bridge) = try call.database.write { s throws(XapiError) -> (Bool, String) in
            guard s.contains(t.network, network) else { throw .handleInvalid(class: "network", ref: network) }
            let active = try isActive(vif, in: s, t)
            if active {
                let vm = try s.get(t.vif, vif, .vm).stringValue ?? nullRef
                let host = try s.get(t.vm, vm, .residentOn).stringValue ?? nullRef
                if !(try Placement.isNetworkAvailable(network, on: host, in: s, t)) {
                    throw .hostCannotAttachNetwork(host: host, network: network)
                }
            }
            try s.set(t.vif, vif, .network, .string(network))
            return (active, try s.get(t.network, network, .bridge).stringValue ?? "")
        }
        if active {
            try await toXenops(call, vif) { _, uuid, xenops throws(XapiError) in xenops.vif.move(uuid, toBridge: bridge) }
        }
        return .emptyString
    }

    private static func fields(_ family: IPFamily) -> (mode: VIFField, addresses: VIFField, gateway: VIFField, allowed: VIFField) {
        family == .ipv4 ? (.ipv4ConfigurationMode, .ipv4Addresses, .ipv4Gateway, .ipv4Allowed)
            : (.ipv6ConfigurationMode, .ipv6Addresses, .ipv6Gateway, .ipv6Allowed)
    }

    /// xapi_vif.ml `configure_ipv4`: a static address must be a CIDR the locking mode allows,
    /// the gateway an address; the guest must have said it can (`feature-static-ip-setting`).
    static func configure(_ family: IPFamily) -> Handler {
        { call in
            let t = call.tables
            let vif = try call.string("self")
            let (mode, address, gateway) = (try call.string("mode"), try call.string("address"), try call.string("gateway"))
            let f = fields(family)
            let active = try call.database.write { s throws(XapiError) -> Bool in
                if mode == "Static" {
                    try family.assertCIDR(address, field: "address")
                    try assertNoLockingConflict(vif, family, address: address, in: s, t)
                    if !gateway.isEmpty { try family.assertAddress(gateway, field: "gateway") }
                }
                try assertGuestSetsStaticIPs(vif, in: s, t)
                try s.set(t.vif, vif, f.mode, .string(mode))
                try s.set(t.vif, vif, f.addresses, .array([.string(address)]))
                try s.set(t.vif, vif, f.gateway, .string(gateway))
                return try isActive(vif, in: s, t)
            }
            if active {
                try await toXenops(call, vif) { s, uuid, xenops throws(XapiError) in
                    let config = try XenopsMetadata.ipConfiguration(vif, ipv6: family == .ipv6, in: s, tables: t)
                    return xenops.vif.setIPConfiguration(uuid, ipv6: family == .ipv6, config)
                }
            }
            return .emptyString
        }
    }

    static let setLockingMode: Handler = { call in
        let vif = try call.string("self")
        let mode = try call.string("value")
        try await changeLocking(call, vif) { s, t throws(XapiError) in try s.set(t.vif, vif, .lockingMode, .string(mode)) }
        return .emptyString
    }

    /// `set_ipv4_allowed`: every address valid (an address or a CIDR), kept once each.
    static func setAllowed(_ family: IPFamily) -> Handler {
        { call in
            let vif = try call.string("self")
            var seen = Set<String>()
            let addresses = try call.strings("value").filter { seen.insert($0).inserted }
            for address in addresses { try family.assertAddressOrCIDR(address, field: family == .ipv4 ? "ipv4_allowed" : "ipv6_allowed") }
            try await changeLocking(call, vif) { s, t throws(XapiError) in
                try s.set(t.vif, vif, fields(family).allowed, .array(addresses.map(Value.string)))
            }
            return .emptyString
        }
    }

    static func addAllowed(_ family: IPFamily) -> Handler {
        { call in
            let vif = try call.string("self")
            let address = try call.string("value")
            try family.assertAddressOrCIDR(address, field: family == .ipv4 ? "ipv4_allowed" : "ipv6_allowed")
            try await changeLocking(call, vif) { s, t throws(XapiError) in
                let current = try s.get(t.vif, vif, fields(family).allowed).stringList
                if !current.contains(address) {
                    try s.set(t.vif, vif, fields(family).allowed, .array((current + [address]).map(Value.string)))
                }
            }
            return .emptyString
        }
    }

    static func removeAllowed(_ family: IPFamily) -> Handler {
        { call in
            let vif = try call.string("self")
            let address = try call.string("value")
            try await changeLocking(call, vif) { s, t throws(XapiError) in
                let current = try s.get(t.vif, vif, fields(family).allowed).stringList
                try s.update(t.vif, vif, fields(family).allowed, .array(current.filter { $0 != address }.map(Value.string)))
            }
            return .emptyString
        }
    }

    /// xapi_vif.ml `change_locking_config`: the change, then the switch's rules refreshed for an
    /// active device (`refresh_filtering_rules`).
    private static func changeLocking(_ call: Call, _ vif: String,
                                      _ change: (inout DatabaseState, Tables) throws(XapiError) -> Void) async throws {
        let t = call.tables
        let active = try call.database.write { s throws(XapiError) -> Bool in
            try change(&s, t)
            return try isActive(vif, in: s, t)
        }
        if active {
            try await toXenops(call, vif) { s, uuid, xenops throws(XapiError) in
                let network = try s.get(t.vif, vif, .network).stringValue ?? nullRef
                return xenops.vif.setLockingMode(uuid, try XenopsMetadata.lockingMode(vif, network: network, in: s, tables: t))
            }
        }
    }

    /// xapi_vif.ml `device_active`: plugged into a VM that is not suspended.
    static func isActive(_ vif: String, in s: DatabaseState, _ t: Tables) throws(XapiError) -> Bool {
        let vm = try s.get(t.vif, vif, .vm).stringValue ?? nullRef
        guard s.contains(t.vm, vm), try s.get(t.vif, vif, .currentlyAttached) == .bool(true) else { return false }
        return try s.get(t.vm, vm, .powerState) != .string("Suspended")
    }

    /// `assert_has_feature_static_ip_setting`: the guest agent reported
    /// `feature-static-ip-setting=1` (`VM_LACKS_FEATURE` otherwise).
    private static func assertGuestSetsStaticIPs(_ vif: String, in s: DatabaseState, _ t: Tables) throws(XapiError) {
        let vm = try s.get(t.vif, vif, .vm).stringValue ?? nullRef
        let metrics = s.contains(t.vm, vm) ? (try s.get(t.vm, vm, .guestMetrics).stringValue ?? nullRef) : nullRef
        guard s.contains(t.vmGuestMetrics, metrics),
              try s.get(t.vmGuestMetrics, metrics, .other).stringMap["feature-static-ip-setting"] == "1" else {
            throw .vmLacksFeature(vm: vm)
        }
    }

    /// `assert_no_locking_mode_conflict`: a locked VIF takes only an address it is allowed.
    private static func assertNoLockingConflict(_ vif: String, _ family: IPFamily, address: String,
                                                in s: DatabaseState, _ t: Tables) throws(XapiError) {
        let network = try s.get(t.vif, vif, .network).stringValue ?? nullRef
        guard case .locked = try XenopsMetadata.lockingMode(vif, network: network, in: s, tables: t),
              let parsed = family.parseCIDR(address) else { return }
        if !(try s.get(t.vif, vif, fields(family).allowed).stringList.contains(parsed.address)) {
            throw .addressViolatesLockingConstraint(address: address)
        }
    }

    /// Hands the VIF's new settings to Xenops and waits for them to come back through events.
    static func toXenops(_ call: Call, _ vif: String,
                                 _ queue: (DatabaseState, DeviceID, Xenops) throws(XapiError) -> String) async throws {
        let t = call.tables
        let owner = try call.database.read { s throws(XapiError) in try s.get(t.vif, vif, .vm).stringValue ?? nullRef }
        let bridge = try Lifecycle.bridge(call, vm: owner)
        let (vm, vmUUID, task) = try call.database.read { s throws(XapiError) -> (String, String, String) in
            let vm = try s.get(t.vif, vif, .vm).stringValue ?? nullRef
            let uuid = try s.get(t.vm, vm, .uuid).stringValue ?? ""
            let device = DeviceID(vm: uuid, device: try s.get(t.vif, vif, .device).stringValue ?? "0")
            return (vm, uuid, try queue(s, device, bridge.xenops))
        }
        try await bridge.foreground(vm: vmUUID) {
            try await bridge.sync(task, xapiTask: call.task, vm: vm, device: vif)
            await bridge.barrier(vm: vmUUID)
        }
    }
}
