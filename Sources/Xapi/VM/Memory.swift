import XapiDB

/// A VM's five memory figures, as xapi checks them together (xen-api
/// ocaml/xapi/vm_memory_constraints.ml and xapi_vm_memory_constraints.ml).
struct MemoryConstraints: Equatable {
    var staticMin, dynamicMin, target, dynamicMax, staticMax: Int64

    /// static-min ≤ dynamic-min ≤ dynamic-max ≤ static-max (`are_valid`).
    var areValid: Bool { staticMin <= dynamicMin && dynamicMin <= dynamicMax && dynamicMax <= staticMax }

    /// Valid, and the dynamic range pinned at static-max (`are_valid_and_pinned_at_static_max`).
    var arePinnedAtStaticMax: Bool { staticMin <= dynamicMin && dynamicMin == dynamicMax && dynamicMax == staticMax }

    init(staticMin: Int64, dynamicMin: Int64, target: Int64, dynamicMax: Int64, staticMax: Int64) {
        (self.staticMin, self.dynamicMin, self.target, self.dynamicMax, self.staticMax) = (staticMin, dynamicMin, target, dynamicMax, staticMax)
    }

    init(_ vm: String, in s: DatabaseState, _ t: Tables) throws(XapiError) {
        func figure(_ field: VMField) throws(XapiError) -> Int64 { try s.get(t.vm, vm, field).intValue ?? 0 }
        self.init(staticMin: try figure(.memoryStaticMin), dynamicMin: try figure(.memoryDynamicMin), target: try figure(.memoryTarget),
                  dynamicMax: try figure(.memoryDynamicMax), staticMax: try figure(.memoryStaticMax))
    }

    /// `assert_valid_for_current_context`: a control domain, or a guest with nested
    /// virtualisation, must be pinned at static-max (`MEMORY_CONSTRAINT_VIOLATION_MAXPIN` with
    /// the reason); any other VM needs only the order (`MEMORY_CONSTRAINT_VIOLATION_ORDER`).
    /// Dynamic memory control is a feature every host here has.
    func assertValid(for vm: String, in s: DatabaseState, _ t: Tables) throws(XapiError) {
        if try s.get(t.vm, vm, .isControlDomain) == .bool(true) {
            guard arePinnedAtStaticMax else { throw .memoryConstraintViolationMaxpin(reason: "control domain") }
        } else if try VMMemory.hasNestedVirt(vm, in: s, t) {
            guard arePinnedAtStaticMax else { throw .memoryConstraintViolationMaxpin(reason: "nested virt") }
        } else if !areValid {
            throw .memoryConstraintViolationOrder
        }
    }

    func store(_ vm: String, in s: inout DatabaseState, _ t: Tables) throws(XapiError) {
        try s.update(t.vm, vm, .memoryStaticMin, .int(staticMin))
        try s.update(t.vm, vm, .memoryDynamicMin, .int(dynamicMin))
        try s.update(t.vm, vm, .memoryTarget, .int(target))
        try s.update(t.vm, vm, .memoryDynamicMax, .int(dynamicMax))
        try s.update(t.vm, vm, .memoryStaticMax, .int(staticMax))
    }
}

/// The VM memory setters (xen-api ocaml/xapi/xapi_vm.ml, as message_forwarding.ml routes them):
/// each runs as its VM operation, whose power-state rules come first, then the constraints.
/// Static changes are for halted VMs (a running control domain takes them and is marked
/// `requires_reboot`); the dynamic range also applies to a running VM.
enum VMMemory {
    static let setLimits: Handler = { call in
        let (staticMin, staticMax) = (try call.int("static_min"), try call.int("static_max"))
        let (dynamicMin, dynamicMax) = (try call.int("dynamic_min"), try call.int("dynamic_max"))
        try await limits(call, staticMin: staticMin, staticMax: staticMax, dynamicMin: dynamicMin, dynamicMax: dynamicMax)
        return .emptyString
    }

    /// `set_memory`: static-max and the whole dynamic range at one value.
    static let setMemory: Handler = { call in
        let value = try call.int("value")
        let vm = try call.string("self")
        let staticMin = try call.database.read { s throws(XapiError) in try s.get(call.tables.vm, vm, .memoryStaticMin).intValue ?? 0 }
        try await limits(call, staticMin: staticMin, staticMax: value, dynamicMin: value, dynamicMax: value)
        return .emptyString
    }

    /// xapi_vm.ml `set_memory_limits`: all four at once, the target at dynamic-min.
    static func limits(_ call: Call, staticMin: Int64, staticMax: Int64, dynamicMin: Int64, dynamicMax: Int64) async throws {
        let vm = try call.string("self")
        let t = call.tables
        try await call.withVMOperation(vm, "changing_memory_limits") {
            try call.database.write { s throws(XapiError) in
                let constraints = MemoryConstraints(staticMin: staticMin, dynamicMin: dynamicMin, target: dynamicMin,
                                                    dynamicMax: dynamicMax, staticMax: staticMax)
                try constraints.assertValid(for: vm, in: s, t)
                try constraints.store(vm, in: &s, t)
                try updateOverhead(vm, in: &s, t)
                try markControlDomainForReboot(vm, in: &s, t)
            }
        }
    }

    /// xapi_vm.ml `set_memory_static_range`; `set_memory_static_min`/`max` keep the other end.
    static func staticRange(_ call: Call, min: Int64?, max: Int64?) async throws -> Value {
        let vm = try call.string("self")
        let t = call.tables
        try await call.withVMOperation(vm, "changing_static_range") {
            try call.database.write { s throws(XapiError) in
                var constraints = try MemoryConstraints(vm, in: s, t)
                if let min { constraints.staticMin = min }
                if let max { constraints.staticMax = max }
                try constraints.assertValid(for: vm, in: s, t)
                try s.update(t.vm, vm, .memoryStaticMin, .int(constraints.staticMin))
                try s.update(t.vm, vm, .memoryStaticMax, .int(constraints.staticMax))
                try updateOverhead(vm, in: &s, t)
                try markControlDomainForReboot(vm, in: &s, t)
            }
        }
        return .emptyString
    }

    /// xapi_vm.ml `set_memory_dynamic_range`: the target follows dynamic-min. On a running VM the
    /// new range goes to Xenops, which sets the balloon target the guest follows.
    static func dynamicRange(_ call: Call, min: Int64?, max: Int64?) async throws -> Value {
        let vm = try call.string("self")
        let t = call.tables
        try await call.withVMOperation(vm, "changing_dynamic_range") {
            let running = try call.database.write { s throws(XapiError) -> Bool in
                var constraints = try MemoryConstraints(vm, in: s, t)
                if let min { constraints.dynamicMin = min }
                if let max { constraints.dynamicMax = max }
                constraints.target = constraints.dynamicMin
                try constraints.assertValid(for: vm, in: s, t)
                try s.update(t.vm, vm, .memoryTarget, .int(constraints.target))
                try s.update(t.vm, vm, .memoryDynamicMin, .int(constraints.dynamicMin))
                try s.update(t.vm, vm, .memoryDynamicMax, .int(constraints.dynamicMax))
                return try s.get(t.vm, vm, .powerState) == .string("Running")
            }
            if running { try await Lifecycle.setMemoryDynamicRange(call, vm: vm) }
        }
        return .emptyString
    }

    /// A running control domain takes new static figures at its next boot.
    private static func markControlDomainForReboot(_ vm: String, in s: inout DatabaseState, _ t: Tables) throws(XapiError) {
        if try s.get(t.vm, vm, .isControlDomain) == .bool(true), try s.get(t.vm, vm, .powerState) == .string("Running") {
            try s.update(t.vm, vm, .requiresReboot, .bool(true))
        }
    }

    /// xapi_vm_lifecycle.ml `nested_virt`: the running domain's metrics, else the platform key.
    static func hasNestedVirt(_ vm: String, in s: DatabaseState, _ t: Tables) throws(XapiError) -> Bool {
        if try s.get(t.vm, vm, .powerState) != .string("Halted"),
           let metrics = try s.get(t.vm, vm, .metrics).stringValue, s.contains(t.vmMetrics, metrics) {
            return try s.get(t.vmMetrics, metrics, .nestedVirt) == .bool(true)
        }
        let value = try s.get(t.vm, vm, .platform).structureValue?["nested-virt"]?.stringValue?.lowercased()
        return value == "1" || value == "true"
    }
}
