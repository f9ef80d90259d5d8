import Foundation
import Logging
import XapiDB
import Xenops

/// xapi's `update_vm`, `update_vbd`, `update_vif`, `update_vgpu` (xen-api ocaml/xapi/xapi_xenops.ml):
/// read the object's state from Xenops and write only the fields that differ,
/// so a signal that changes nothing produces no event.
extension XenopsBridge {
    func updateVM(_ uuid: String) {
        if ignoresUpdates(of: uuid) { return }
        let t = tables
        let stat = try? xenops.vm.stat(uuid)
        let state = stat?.state ?? VMState.halted
        database.write { s in
            guard let vm = try? s.ref(uuid: uuid, in: t.vm) else { return }
            // Only VMs resident here are ours to update (xapi's gate); a start sets resident_on
            // before it refreshes, so nothing it does is missed.
            guard isResidentHere(uuid, in: s) else { return }
            do {
                try apply(state, to: vm, uuid: uuid, in: &s)
            } catch {
                logger.warning("applying VM state failed", metadata: ["vm": "\(uuid)", "error": "\(error)"])
            }
        }
    }

    private func apply(_ state: VMState, to vm: String, uuid: String, in s: inout DatabaseState) throws(XapiError) {
        let t = tables
        // allowed_operations depends on the VM's row, its metrics' domain type and its guest
        // metrics' drivers and features: recomputed only when one of those changed, not for a
        // guest agent's heartbeat (`data/updated` moves only `last_updated`).
        let metricsRef = try s.get(t.vm, vm, .metrics).stringValue ?? nullRef
        let before = (try s.row(t.vm, vm).modified, (try? s.row(t.vmMetrics, metricsRef))?.modified)
        let powerState = state.powerState.rawValue
        if try s.get(t.vm, vm, .powerState).stringValue != powerState {
            // xenopsd keeps the metadata of a halted VM here (xapi deletes it); the next start
            // pushes it again, and removal could race that push.
            try PowerStates.forceReset(vm, to: powerState, in: &s, tables: t)
        }
        let live = state.powerState == .running || state.powerState == .paused
        try s.update(t.vm, vm, .domid, .int(live ? Int64(state.domids.first ?? -1) : -1))
        if live {
            try s.update(t.vm, vm, .memoryTarget, .int(state.memoryTarget))
            try syncConsoles(vm, state.consoles, in: &s)
        }
        if let metrics = try s.get(t.vm, vm, .metrics).stringValue, s.contains(t.vmMetrics, metrics) {
            try s.update(t.vmMetrics, metrics, .state, .array(live ? [.string(state.powerState == .paused ? "paused" : "running")] : []))
            if live {
                try s.update(t.vmMetrics, metrics, .memoryActual, .int(state.memoryActual))
                try s.update(t.vmMetrics, metrics, .vcpusNumber, .int(Int64(state.vcpuTarget)))
                try s.update(t.vmMetrics, metrics, .hvm, .bool(state.hvm))
                try s.update(t.vmMetrics, metrics, .nomigrate, .bool(state.nomigrate))
                try s.update(t.vmMetrics, metrics, .nestedVirt, .bool(state.nestedVirt))
                try s.update(t.vmMetrics, metrics, .currentDomainType, .string(domainType(state.domainType)))
            }
            if state.lastStartTime > 0 {
                let started = DateTime(secondsSinceEpoch: Int64(state.lastStartTime))
                if (try s.get(t.vmMetrics, metrics, .startTime).dateTimeValue ?? .epoch) < started {
                    try s.set(t.vmMetrics, metrics, .startTime, .dateTime(started))
                    try s.update(t.vmMetrics, metrics, .lastUpdated, .dateTime(.now()))
                }
            }
        }
        let guestChanged = live ? try syncGuestMetrics(vm, state, in: &s) : false
        let after = (try s.row(t.vm, vm).modified, (try? s.row(t.vmMetrics, metricsRef))?.modified)
        if guestChanged || after != before { VMOperations.refresh(vm: vm, in: &s, tables: t) }
    }

    private func domainType(_ type: VMState.DomainType) -> String {
        switch type {
        case .hvm: "hvm"
        case .pv: "pv"
        case .pvh: "pvh"
        case .pvInPVH: "pv_in_pvh"
        case .undefined: "unspecified"
        }
    }

    /// One `console` per protocol the domain offers (xapi's console sync in `update_vm`).
    private func syncConsoles(_ vm: String, _ consoles: [VMState.Console], in s: inout DatabaseState) throws(XapiError) {
        let t = tables
        let existing = try s.get(t.vm, vm, .consoles).refList.filter { s.contains(t.console, $0) }
        var byProtocol: [String: String] = [:]
        for console in existing { byProtocol[(try s.get(t.console, console, .protocol).stringValue) ?? ""] = console }
        let wanted = Set(consoles.map { $0.protocol == .rfb ? "rfb" : "vt100" })
        for (proto, console) in byProtocol where !wanted.contains(proto) { try s.delete(t.console, console) }
        let host = self.host(in: s) ?? nullRef
        let address = s.contains(t.host, host) ? (try s.get(t.host, host, .address).stringValue ?? "") : ""
        for proto in wanted.sorted() where byProtocol[proto] == nil {
            let uuid = Identifiers.uuid()
            try s.insert(t.console, ref: Identifiers.ref(), fields: {
                var fields = s.initialFields(t.console)
                fields[t.console[.uuid]] = .string(uuid)
                fields[t.console[.protocol]] = .string(proto)
                fields[t.console[.location]] = .string("https://\(address)/console?uuid=\(uuid)")
                fields[t.console[.vm]] = .string(vm)
                fields[t.console[.otherConfig]] = .structure(["vncport": .string("5900")])
                return fields
            }())
        }
    }

    /// The guest agent's keys as `VM_guest_metrics` (xen-api ocaml/xapi/xapi_guest_agent.ml):
    /// created when the agent first reports, rewritten only when something it reports changed.
    /// Whether anything but `last_updated` changed.
    private func syncGuestMetrics(_ vm: String, _ state: VMState, in s: inout DatabaseState) throws(XapiError) -> Bool {
        let t = tables
        let report = GuestAgentReport(state.guestAgent)
        guard report.hasData || state.pvDriversDetected else { return false }
        var metrics = try s.get(t.vm, vm, .guestMetrics).stringValue ?? nullRef
        var changed = false
        if !s.contains(t.vmGuestMetrics, metrics) {
            metrics = try s.create(t.vmGuestMetrics, [.lastUpdated: .dateTime(.now())])
            try s.set(t.vm, vm, .guestMetrics, .string(metrics))
            changed = true
        }
        func put(_ field: VMGuestMetricsField, _ value: Value) throws(XapiError) {
            if try s.get(t.vmGuestMetrics, metrics, field) != value {
                try s.set(t.vmGuestMetrics, metrics, field, value)
                changed = true
            }
        }
        try put(.osVersion, .structure(report.osVersion))
        try put(.pvDriversVersion, .structure(report.driversVersion))
        try put(.pvDriversUpToDate, .bool(!report.driversVersion.isEmpty))
        try put(.networks, .structure(report.networks))
        try put(.other, .structure(report.other))
        try put(.memory, .structure(report.memory))
        try put(.live, .bool(true))
        try put(.pvDriversDetected, .bool(state.pvDriversDetected || !report.driversVersion.isEmpty))
        try put(.canUseHotplugVbd, .string(report.hotplugVBD))
        try put(.canUseHotplugVif, .string(report.hotplugVIF))
        if changed || report.updated != nil {
            try s.update(t.vmGuestMetrics, metrics, .lastUpdated, .dateTime(report.updated ?? .now()))
        }
        return changed
    }

    func updateVBD(_ device: DeviceID) {
        if ignoresUpdates(of: device.vm) { return }
        let t = tables
        let stat = try? xenops.vbd.stat(device)
        database.write { s in
            guard isResidentHere(device.vm, in: s), let vbd = findVBD(device, in: s) else { return }
            let attached = (stat?.state.plugged ?? false) || (stat?.state.active ?? false)
            try? s.update(t.vbd, vbd, .currentlyAttached, .bool(attached))
            if stat?.state.plugged == true { try? s.update(t.vbd, vbd, .device, .string(device.device)) }
            DeviceOperations.refreshVBD(vbd, in: &s, tables: t)
        }
    }

    func updateVIF(_ device: DeviceID) {
        if ignoresUpdates(of: device.vm) { return }
        let t = tables
        let stat = try? xenops.vif.stat(device)
        database.write { s in
            guard isResidentHere(device.vm, in: s), let vif = findVIF(device, in: s) else { return }
            let attached = (stat?.state.plugged ?? false) || (stat?.state.active ?? false)
            try? s.update(t.vif, vif, .currentlyAttached, .bool(attached))
            DeviceOperations.refreshVIF(vif, in: &s, tables: t)
        }
    }

    func updateVGPU(_ device: DeviceID) {
        if ignoresUpdates(of: device.vm) { return }
        let t = tables
        let stat = try? xenops.vgpu.stat(device)
        database.write { s in
            guard isResidentHere(device.vm, in: s), let vm = try? s.ref(uuid: device.vm, in: t.vm) else { return }
            for vgpu in (try? s.get(t.vm, vm, .vgpus).refList) ?? [] where s.contains(t.vgpu, vgpu) {
                guard (try? s.get(t.vgpu, vgpu, .device).stringValue) == device.device else { continue }
                try? s.update(t.vgpu, vgpu, .currentlyAttached, .bool((stat?.state.plugged ?? false) || (stat?.state.active ?? false)))
            }
        }
    }

    /// xapi's gate for every update: only VMs resident on this host are synchronised. A start
    /// sets `resident_on` before its final refresh, so nothing is lost; a VM migrating here is
    /// ignored until its `resident_on` moves, and one that left is no longer this loop's.
    func isResidentHere(_ uuid: String, in s: DatabaseState) -> Bool {
        let t = tables
        guard let vm = try? s.ref(uuid: uuid, in: t.vm), let host = host(in: s) else { return false }
        return (try? s.get(t.vm, vm, .residentOn).stringValue) == host
    }

    /// The VBD whose `userdevice` is the device's disk number (xapi matches name or number).
    func findVBD(_ device: DeviceID, in s: DatabaseState) -> String? {
        let t = tables
        guard let vm = try? s.ref(uuid: device.vm, in: t.vm),
              let position = XenopsMetadata.position(of: device.device) else { return nil }
        return ((try? s.get(t.vm, vm, .vbds).refList) ?? []).first { vbd in
            s.contains(t.vbd, vbd) && (try? s.get(t.vbd, vbd, .userdevice).stringValue) == String(position)
        }
    }

    func findVIF(_ device: DeviceID, in s: DatabaseState) -> String? {
        let t = tables
        guard let vm = try? s.ref(uuid: device.vm, in: t.vm) else { return nil }
        return ((try? s.get(t.vm, vm, .vifs).refList) ?? []).first { vif in
            s.contains(t.vif, vif) && (try? s.get(t.vif, vif, .device).stringValue) == device.device
        }
    }
}

/// What a guest agent reported, in `VM_guest_metrics` shapes.
struct GuestAgentReport {
    var osVersion = Structure()
    var driversVersion = Structure()
    var networks = Structure()
    var other = Structure()
    var memory = Structure()
    var hotplugVBD = "unspecified"
    var hotplugVIF = "unspecified"
    var updated: DateTime?
    var hasData = false

    init(_ entries: [VMState.GuestAgentEntry]) {
        var values: [String: String] = [:]
        for entry in entries { values[entry.path] = entry.value }
        hasData = values.keys.contains { $0.hasPrefix("attr/") || $0.hasPrefix("data/") }
        for (key, field) in [("data/os_name", "name"), ("data/os_uname", "uname"), ("data/os_distro", "distro"),
                             ("data/os_majorver", "major"), ("data/os_minorver", "minor"),
                             ("attr/os/spmajor", "spmajor"), ("attr/os/spminor", "spminor")] {
            if let v = values[key] { osVersion.append(field, .string(v)) }
        }
        if values["attr/PVAddons/MajorVersion"] != nil {
            for (key, field) in [("attr/PVAddons/MajorVersion", "major"), ("attr/PVAddons/MinorVersion", "minor"),
                                 ("attr/PVAddons/MicroVersion", "micro"), ("attr/PVAddons/BuildVersion", "build"),
                                 ("attr/PVAddons/Application", "application")] {
                if let v = values[key] { driversVersion.append(field, .string(v)) }
            }
            if driversVersion["micro"] == nil { driversVersion.append("micro", .string("-1")) }
        }
        // attr/vif/<n>/ipv4/<i> → "<n>/ipv4/<i>", and "<n>/ip" for the first address (xapi's
        // compatibility key that scripts read, e.g. networks["0/ip"]).
        for key in values.keys.sorted() where key.hasPrefix("attr/vif/") {
            let parts = key.dropFirst("attr/vif/".count).split(separator: "/")
            guard parts.count == 3 else { continue }
            let value = Value.string(values[key]!)
            networks.append("\(parts[0])/\(parts[1])/\(parts[2])", value)
            if parts[1] == "ipv4", parts[2] == "0" { networks.append("\(parts[0])/ip", value) }
        }
        for key in values.keys.sorted() where key.hasPrefix("control/") {
            other.append(String(key.dropFirst("control/".count)), .string(values[key]!))
        }
        if let total = values["data/meminfo_total"] { memory.append("total", .string(total)) }
        if let free = values["data/meminfo_free"] { memory.append("free", .string(free)) }
        switch values["feature/hotplug/vbd"] {
        case "1": hotplugVBD = "yes"
        case "0": hotplugVBD = "no"
        default: break
        }
        switch values["feature/hotplug/vif"] {
        case "1": hotplugVIF = "yes"
        case "0": hotplugVIF = "no"
        default: break
        }
        if let text = values["data/updated"], let seconds = Double(text.trimmingCharacters(in: .whitespaces)) {
            updated = DateTime(secondsSinceEpoch: Int64(seconds))
        }
    }
}

extension Value {
    var dateTimeValue: DateTime? {
        if case .dateTime(let d) = self { return d }
        return nil
    }
}
