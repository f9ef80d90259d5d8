public import XapiDB

/// Which VM operations are valid when, in xapi's order of checks (xen-api
/// ocaml/xapi/xapi_vm_lifecycle.ml `check_operation_error`): blocked → power state → concurrent
/// operations → template → snapshot → provision/revert → mobility → control domain → guest
/// features → devices. The first failing check is the error; `allowed_operations` lists every
/// operation whose strict check passes, minus the ones xapi never lists.
public enum VMOperations {
    /// Every `vm_operations` value, in datamodel order.
    static let all = Datamodel.xapi.class(named: "VM")!.enums["vm_operations"]!

    /// xapi's `ignored_ops`: valid calls that never appear in `allowed_operations`.
    static let ignored: Set<String> = [
        "create_template", "power_state_reset", "csvm", "get_boot_record", "send_sysrq", "send_trigger",
        "query_services", "shutdown", "call_plugin", "changing_memory_live", "awaiting_memory_live",
        "changing_memory_limits", "changing_shadow_memory_live", "changing_VCPUs", "assert_operation_valid",
        "data_source_op", "update_allowed_operations", "import", "reverting",
    ]

    /// Operations a control domain may undergo.
    static let controlDomainOperations: Set<String> = [
        "data_source_op", "changing_memory_live", "awaiting_memory_live", "metadata_export",
        "changing_dynamic_range", "changing_memory_limits", "changing_static_range", "start", "start_on",
        "changing_VCPUs", "destroy",
    ]

    /// The power states in which `op` may start (xapi's `allowed_power_states`), in xapi's order.
    static func allowedPowerStates(_ op: String, isControlDomain: Bool, isSnapshot: Bool) -> [String] {
        switch op {
        case "import": return []
        case "changing_VCPUs", "changing_static_range", "changing_memory_limits":
            return isControlDomain ? ["Halted", "Running"] : ["Halted"]
        case "changing_shadow_memory", "changing_NVRAM", "make_into_template", "provision", "start", "start_on",
             "create_vtpm":
            return ["Halted"]
        case "unpause": return ["Paused"]
        case "csvm", "resume", "resume_on": return ["Suspended"]
        case "awaiting_memory_live", "call_plugin", "clean_reboot", "clean_shutdown", "changing_memory_live",
             "changing_shadow_memory_live", "changing_VCPUs_live", "data_source_op", "pause", "pool_migrate",
             "send_sysrq", "send_trigger", "snapshot_with_quiesce", "sysprep", "suspend":
            return ["Running"]
        case "changing_dynamic_range": return ["Halted", "Running"]
        case "clone", "copy": return isSnapshot ? ["Halted", "Suspended"] : ["Halted"]
        case "create_template", "destroy", "export": return ["Halted", "Suspended"]
        case "hard_reboot": return ["Paused", "Running"]
        case "checkpoint", "get_boot_record", "shutdown", "hard_shutdown": return ["Paused", "Suspended", "Running"]
        case "migrate_send": return ["Halted", "Suspended", "Running"]
        default: return ["Halted", "Paused", "Suspended", "Running"]
        }
    }

    /// xapi's `is_allowed_concurrently`.
    static func isAllowedConcurrently(_ op: String, with current: [String]) -> Bool {
        for group in [["clone", "copy", "export"], ["snapshot", "checkpoint"], ["get_boot_record"]]
            where group.contains(op) && current.allSatisfy(group.contains) {
            return true
        }
        switch op {
        case "hard_shutdown": return !current.contains("hard_shutdown")
        case "hard_reboot": return !current.contains { $0 == "hard_shutdown" || $0 == "hard_reboot" }
        default:
            let pairs: [([String], String)] = [(["snapshot_with_quiesce"], "snapshot"), (["migrate_send"], "metadata_export"),
                                               (["migrate_send"], "clean_shutdown"), (["migrate_send"], "clean_reboot")]
            return pairs.contains { $0.0 == current && $0.1 == op }
        }
    }

    /// The first reason `op` cannot run on `vm` now, or nil. `strict` asks for the guest
    /// features an operation needs the guest's help for (used for `allowed_operations`).
    public static func check(_ op: String, vm: String, strict: Bool, in s: DatabaseState, tables: Tables) -> XapiError? {
        guard let row = try? s.row(tables.vm, vm) else { return .handleInvalid(class: "VM", ref: vm) }
        func field(_ name: VMField) -> Value { row.fields[tables.vm[name]] }
        let powerState = field(.powerState).stringValue ?? "Halted"
        let isTemplate = field(.isATemplate).boolValue ?? false
        let isSnapshot = field(.isASnapshot).boolValue ?? false
        let isControlDomain = field(.isControlDomain).boolValue ?? false
        let current = field(.currentOperations).structureValue ?? Structure()
        let otherConfig = field(.otherConfig).structureValue ?? Structure()
        let platform = field(.platform).structureValue ?? Structure()

        if let reason = field(.blockedOperations).structureValue?[op] {
            return .operationBlocked(ref: vm, code: reason.stringValue ?? "")
        }
        let states = allowedPowerStates(op, isControlDomain: isControlDomain, isSnapshot: isSnapshot)
        if !states.contains(powerState) {
            return .vmBadPowerState(vm: vm, expected: states.map { $0.lowercased() }, actual: powerState.lowercased())
        }
        if !current.isEmpty, !isAllowedConcurrently(op, with: current.members.compactMap(\.value.stringValue)) {
            let running = current.members
            if running.count == 1 {
                return .otherOperationInProgress(class: "VM", ref: vm, operation: running[0].value.stringValue ?? "", task: running[0].key)
            }
            return .otherOperationInProgress(class: "VM", ref: vm,
                                             operation: "{" + running.compactMap(\.value.stringValue).joined(separator: ",") + "}",
                                             task: "{" + running.map(\.key).joined(separator: ",") + "}")
        }
        if isTemplate, !isSnapshot {
            let isDefault = (field(.isDefaultTemplate).boolValue ?? false) || isTrue(otherConfig["default_template"])
            let templateOperations: Set<String> = ["changing_dynamic_range", "changing_static_range", "changing_memory_limits",
                                                   "changing_shadow_memory", "changing_VCPUs", "changing_NVRAM", "clone",
                                                   "copy", "export", "metadata_export", "provision"]
            if !templateOperations.contains(op), !((op == "destroy" || op == "migrate_send") && !isDefault) {
                return .vmIsTemplate(vm: vm, operation: op)
            }
        }
        if isSnapshot, !["revert", "clone", "copy", "export", "destroy", "hard_shutdown", "metadata_export"].contains(op) {
            return .vmIsSnapshot(vm: vm, operation: op)
        }
        if op == "provision", !isTemplate { return .provisionOnlyAllowedOnTemplate }
        if op == "revert", !isSnapshot { return .onlyRevertSnapshot }
        let mobilityOps: Set<String> = ["suspend", "checkpoint", "pool_migrate", "migrate_send"]
        if mobilityOps.contains(op), strict, isTrue(platform["nomigrate"]) || isTrue(platform["nested-virt"]) {
            return .vmIsImmobile(vm: vm)
        }
        if isControlDomain, !controlDomainOperations.contains(op) {
            return .operationNotAllowed("This operation is not allowed on a control domain")
        }
        if let error = checkFeature(op, vm: vm, powerState: powerState, strict: strict, row: row, in: s, tables: tables) {
            return error
        }
        if op == "snapshot_with_quiesce" { return .vmSnapshotWithQuiesceNotSupported(vm: vm) }
        if mobilityOps.contains(op), !field(.attachedPCIs).refList.isEmpty { return .vmHasPCIAttached(vm: vm) }
        if !field(.vgpus).refList.isEmpty {
            let blocked = op == "migrate_send" ? powerState != "Halted"
                : op == "checkpoint" ? powerState != "Suspended"
                : op == "pool_migrate" || op == "suspend"
            if blocked { return .vmHasVGPU(vm: vm) }
        }
        if ["suspend", "snapshot", "checkpoint", "migrate_send", "pool_migrate"].contains(op), !field(.vusbs).refList.isEmpty {
            return .vmHasVUSBs(vm: vm)
        }
        if op == "query_services", !isTrue(otherConfig["is_system_domain"]) { return .notSystemDomain(vm: vm) }
        if op == "create_vtpm", case let vtpms = field(.vtpms).refList, !vtpms.isEmpty {
            return .vtpmMaxAmountReached(count: vtpms.count)
        }
        return nil
    }

    /// xapi's `check_op_for_feature`: live HVM guests without PV drivers must advertise the
    /// features clean shutdown/reboot and suspend rely on.
    private static func checkFeature(_ op: String, vm: String, powerState: String, strict: Bool, row: Row,
                                     in s: DatabaseState, tables: Tables) -> XapiError? {
        let isLive = powerState == "Running" || powerState == "Paused"
        let guestMetrics = row.fields[tables.vm[.guestMetrics]].stringValue ?? nullRef
        let other = (try? s.get(tables.vmGuestMetrics, guestMetrics, .other))?.structureValue ?? Structure()
        let drivers = (try? s.get(tables.vmGuestMetrics, guestMetrics, .pvDriversVersion))?.structureValue ?? Structure()
        let metrics = row.fields[tables.vm[.metrics]].stringValue ?? nullRef
        let domainType = (try? s.get(tables.vmMetrics, metrics, .currentDomainType))?.stringValue ?? "unspecified"
        let bootedPV = ["pv", "pv_in_pvh", "pvh"].contains(domainType)
        let hasDrivers = drivers["major"] != nil && drivers["minor"] != nil
        let implicitSupport = !isLive || bootedPV || hasDrivers
        func lacks(_ feature: String) -> Bool { other[feature] != .string("1") }
        if ["suspend", "checkpoint", "pool_migrate", "migrate_send"].contains(op), isLive {
            if let reason = other["data-cant-suspend-reason"]?.stringValue { return .vmNonSuspendable(vm: vm, reason: reason) }
            if !implicitSupport, strict, lacks("feature-suspend") { return .vmLacksFeature(vm: vm) }
            return nil
        }
        if implicitSupport { return nil }
        switch op {
        case "clean_shutdown" where strict && lacks("feature-shutdown") && lacks("feature-poweroff"):
            return .vmLacksFeature(vm: vm)
        case "clean_reboot" where strict && lacks("feature-shutdown") && lacks("feature-reboot"):
            return .vmLacksFeature(vm: vm)
        case "changing_VCPUs_live" where lacks("feature-vcpu-hotplug"):
            return .vmLacksFeature(vm: vm)
        default:
            return nil
        }
    }

    /// xapi's `update_allowed_operations`: every listable operation whose strict check passes,
    /// among those this server implements (`VMOperationMessages`).
    public static func allowed(vm: String, in s: DatabaseState, tables: Tables) -> [String] {
        all.filter {
            !ignored.contains($0) && VMOperationMessages.implemented.contains($0)
                && check($0, vm: vm, strict: true, in: s, tables: tables) == nil
        }
    }

    /// Recomputes and stores `allowed_operations` (only written when it changed).
    public static func refresh(vm: String, in s: inout DatabaseState, tables: Tables) {
        guard s.contains(tables.vm, vm) else { return }
        let allowed = Value.array(allowed(vm: vm, in: s, tables: tables).map(Value.string))
        try? s.update(tables.vm, vm, .allowedOperations, allowed)
    }

    private static func isTrue(_ value: Value?) -> Bool {
        guard let text = value?.stringValue?.lowercased() else { return false }
        return text == "1" || text == "true"
    }
}
