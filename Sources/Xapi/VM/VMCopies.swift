import Foundation
import XapiDB

/// VM.clone, copy, snapshot and provision, and VDI.create/destroy/clone/copy/snapshot: new
/// objects from existing ones, as xapi does them on file-based local storage (every disk copy is
/// a new VDI of the same size; there are no bytes to move in a simulation).
enum VMCopies {

    enum Mode {
        case clone, copy
        case snapshot(ignoring: Set<String>)

        var operation: String {
            switch self {
            case .clone: "clone"
            case .copy: "copy"
            case .snapshot: "snapshot"
            }
        }
    }

    static func copyVM(_ call: Call, mode: Mode, newName: String, targetSR: String?) async throws -> Value {
        let t = call.tables
        let source = try call.string("vm")
        let created = try await call.withVMOperation(source, mode.operation) {
            try call.database.write { s throws(XapiError) -> String in
                if let sr = targetSR, !s.contains(t.sr, sr) { throw .handleInvalid(class: "SR", ref: sr) }
                return try copy(source, mode: mode, newName: newName, targetSR: targetSR, in: &s, tables: t)
            }
        }
        call.progress(1)
        return .string(created)
    }

    /// The new VM row with its disks, drives and interfaces.
    static func copy(_ source: String, mode: Mode, newName: String, targetSR: String?,
                     in s: inout DatabaseState, tables t: Tables) throws(XapiError) -> String {
        let schema = s.schema(t.vm)
        var fields = try s.row(t.vm, source).fields
        func set(_ name: VMField, _ value: Value) { fields[t.vm[name]] = value }
        func get(_ name: VMField) -> Value { fields[t.vm[name]] }
        // Derived sets start empty; the relations refill them as children are created.
        for field in schema.fields {
            switch field.relation {
            case .reverseSet, .manyToMany: fields[field.index] = .array([])
            default: break
            }
        }
        let isSnapshot: Bool
        if case .snapshot = mode { isSnapshot = true } else { isSnapshot = false }
        let sourceIsTemplate = get(.isATemplate).boolValue ?? false
        let sourceIsSnapshot = get(.isASnapshot).boolValue ?? false
        set(.uuid, .string(Identifiers.uuid()))
        set(.nameLabel, .string(newName))
        set(.powerState, .string("Halted"))
        set(.currentOperations, .emptyStructure)
        set(.allowedOperations, .emptyArray)
        set(.domid, .int(-1))
        set(.residentOn, .string(nullRef))
        set(.scheduledToBeResidentOn, .string(nullRef))
        set(.guestMetrics, .string(nullRef))
        set(.suspendVDI, .string(nullRef))
        set(.isDefaultTemplate, .bool(false))
        set(.isControlDomain, .bool(false))
        // A copy of a template or of a snapshot is a template; snapshots are templates too.
        set(.isATemplate, .bool(isSnapshot || sourceIsTemplate || sourceIsSnapshot))
        set(.isASnapshot, .bool(isSnapshot))
        set(.snapshotOf, .string(isSnapshot ? source : nullRef))
        set(.snapshotTime, .dateTime(isSnapshot ? .now() : .epoch))
        set(.parent, .string(isSnapshot ? nullRef : source))
        var otherConfig = get(.otherConfig).structureValue ?? Structure()
        otherConfig["default_template"] = nil
        if !isSnapshot { otherConfig["mac_seed"] = .string(Identifiers.uuid()) }
        set(.otherConfig, .structure(otherConfig))
        let metrics = try s.create(t.vmMetrics, [.installTime: .dateTime(.now()), .lastUpdated: .dateTime(.now())])
        set(.metrics, .string(metrics))
        let vm = Identifiers.ref()
        try s.insert(t.vm, ref: vm, fields: fields)

        for vbd in try s.get(t.vm, source, .vbds).refList where s.contains(t.vbd, vbd) {
            let vdi = try s.get(t.vbd, vbd, .vdi).stringValue ?? nullRef
            let isDisk = try s.get(t.vbd, vbd, .type) == .string("Disk")
            var newVDI = vdi
            if isDisk, s.contains(t.vdi, vdi) {
                if case .snapshot(let ignored) = mode, ignored.contains(vdi) { continue }
                newVDI = try VDIHandlers.copyVDI(vdi, &s, t, snapshot: isSnapshot, sr: targetSR)
            }
            try copyRow(t.vbd, vbd, in: &s, changing: [
                .vm: .string(vm), .vdi: .string(newVDI), .currentlyAttached: .bool(false),
                .currentOperations: .emptyStructure, .device: .string(""),
            ])
        }
        for vif in try s.get(t.vm, source, .vifs).refList where s.contains(t.vif, vif) {
            var changes: [VIFField: Value] = [.vm: .string(vm), .currentlyAttached: .bool(false),
                                              .currentOperations: .emptyStructure]
            if !isSnapshot { changes[.mac] = .string(randomMAC()) }
            try copyRow(t.vif, vif, in: &s, changing: changes)
        }
        VMOperations.refresh(vm: vm, in: &s, tables: t)
        return vm
    }

    /// A copy of a row with a fresh uuid and the given changes; derived sets start empty.
    @discardableResult
    static func copyRow<Name>(_ table: TableFields<Name>, _ ref: String, in s: inout DatabaseState,
                              changing changes: [Name: Value]) throws(XapiError) -> String {
        var fields = try s.row(table, ref).fields
        let schema = s.schema(table)
        for field in schema.fields {
            if case .reverseSet = field.relation { fields[field.index] = .array([]) }
        }
        if let u = schema.uuidField { fields[u] = .string(Identifiers.uuid()) }
        for (name, value) in changes { fields[table[name]] = value }
        let copy = Identifiers.ref()
        try s.insert(table, ref: copy, fields: fields)
        return copy
    }

    static func randomMAC() -> String {
        var rng = SystemRandomNumberGenerator()
        let bytes = [0x02, 0x16, 0x3e] + (0..<3).map { _ in Int(rng.next() as UInt8) }
        return bytes.map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }.joined(separator: ":")
    }

    /// xen-api ocaml/xapi/xapi_vm.ml `provision`: the template stops being one, gets the disks its
    /// `other_config["disks"]` describes, and the install information is removed.
    static let provision: Handler = { call in
        let t = call.tables
        let vm = try call.string("vm")
        try await call.withVMOperation(vm, "provision") {
            try call.database.write { s throws(XapiError) in
                var otherConfig = try s.get(t.vm, vm, .otherConfig).structureValue ?? Structure()
                let disks = try ProvisionSpec.parse(otherConfig["disks"]?.stringValue ?? "<provision/>")
                try s.set(t.vm, vm, .isATemplate, .bool(false))
                let defaultSR = s.refs(t.pool).first.flatMap { try? s.get(t.pool, $0, .defaultSR).stringValue } ?? nullRef
                for disk in disks {
                    var sr = defaultSR
                    if !disk.sr.isEmpty { sr = try s.ref(uuid: disk.sr, in: t.sr) }
                    guard s.contains(t.sr, sr) else { throw .handleInvalid(class: "SR", ref: sr) }
                    let vdi = try s.create(t.vdi, [
                        .nameLabel: .string("\(try s.get(t.vm, vm, .nameLabel).stringValue ?? "") \(disk.device)"),
                        .sr: .string(sr), .virtualSize: .int(disk.size), .type: .string(disk.type),
                        .location: .string(Identifiers.uuid()), .managed: .bool(true), .otherConfig: .emptyStructure,
                    ])
                    try VDIHandlers.accountVirtualAllocation(sr, in: &s, t)
                    try s.create(t.vbd.table, DemoPool.vbdFields(vm: vm, vdi: vdi, userdevice: disk.device, type: "Disk",
                                                           mode: "RW", bootable: disk.bootable)
                                    + ["other_config": .structure(["owner": .string("true")])])
                }
                otherConfig["disks"] = nil
                try s.set(t.vm, vm, .otherConfig, .structure(otherConfig))
            }
        }
        return .emptyString
    }
}

/// The `<provision><disk device= size= sr= bootable= type=/></provision>` XML templates carry.
enum ProvisionSpec {
    struct Disk: Equatable {
        var device: String
        var size: Int64
        var sr: String
        var bootable: Bool
        var type: String
    }

    /// A deliberately small reader for this one shape: `<disk …/>` elements with quoted attributes.
    static func parse(_ xml: String) throws(XapiError) -> [Disk] {
        var disks: [Disk] = []
        var rest = Substring(xml)
        while let start = rest.range(of: "<disk") {
            guard let end = rest[start.upperBound...].firstIndex(of: ">") else {
                throw .invalidValue(field: "other_config:disks", value: xml)
            }
            var attributes: [String: String] = [:]
            var text = rest[start.upperBound..<end]
            while let eq = text.firstIndex(of: "=") {
                let name = text[..<eq].trimmingCharacters(in: .whitespaces)
                let afterEq = text[text.index(after: eq)...].drop { $0 == " " }
                guard let quote = afterEq.first, quote == "\"" || quote == "'",
                      let close = afterEq.dropFirst().firstIndex(of: quote)
                else { throw .invalidValue(field: "other_config:disks", value: xml) }
                attributes[name] = String(afterEq[afterEq.index(after: afterEq.startIndex)..<close])
                text = afterEq[afterEq.index(after: close)...]
            }
            guard let device = attributes["device"], let sizeText = attributes["size"], let size = Int64(sizeText) else {
                throw .invalidValue(field: "other_config:disks", value: xml)
            }
            disks.append(Disk(device: device, size: size, sr: attributes["sr"] ?? "",
                              bootable: attributes["bootable"] == "true", type: attributes["type"] ?? "system"))
            rest = rest[rest.index(after: end)...]
        }
        return disks
    }
}
