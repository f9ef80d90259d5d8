import XapiDB

/// How much host memory a domain costs beyond its guest memory: xenopsd's memory model
/// (xen-api ocaml/xapi-idl/memory/memory.ml), per domain type, in MiB.
struct MemoryModel: Sendable {
    let extraInternalMiB: Int64
    let extraExternalMiB: Int64
    /// The PV-in-PVH shim's own memory, for a given static-max.
    let shimMiB: @Sendable (Int64) -> Int64

    static let hvm = MemoryModel(extraInternalMiB: 1, extraExternalMiB: 1, shimMiB: { _ in 0 })
    static let linux = MemoryModel(extraInternalMiB: 0, extraExternalMiB: 1, shimMiB: { _ in 0 })
    static let pvInPVH = MemoryModel(extraInternalMiB: 1, extraExternalMiB: 1, shimMiB: { 23 + $0 / 90 })

    /// memory_check.ml: HVM and PVH guests use the HVM model, PV guests Linux's.
    static func of(domainType: String) -> MemoryModel {
        switch domainType {
        case "pv": .linux
        case "pv_in_pvh": .pvInPVH
        default: .hvm
        }
    }

    /// Shadow (p2m and shadow page tables): 256 pages a vCPU plus two pages a MiB of static-max,
    /// rounded up to MiB, times the multiplier, at least 1.
    func shadowMiB(staticMaxMiB: Int64, vcpus: Int64, multiplier: Double) -> Int64 {
        let pages = 256 * vcpus + 2 * staticMaxMiB
        let mib = (pages + 255) / 256
        return max(1, Int64(Double(mib) * multiplier))
    }

    /// `overhead_mib`: the extras, shadow, 38 pages a vCPU rounded up to MiB, and the shim.
    func overheadMiB(staticMaxMiB: Int64, vcpus: Int64, multiplier: Double) -> Int64 {
        extraInternalMiB + extraExternalMiB + shadowMiB(staticMaxMiB: staticMaxMiB, vcpus: vcpus, multiplier: multiplier)
            + (38 * vcpus + 255) / 256 + shimMiB(staticMaxMiB)
    }
}

extension VMMemory {
    static let mib: Int64 = 1 << 20

    /// memory_check.ml `vm_compute_memory_overhead`: from static-max, `VCPUs_max`, the shadow
    /// multiplier and the domain type; bytes.
    static func overhead(_ vm: String, in s: DatabaseState, _ t: Tables) throws(XapiError) -> Int64 {
        let staticMax = try s.get(t.vm, vm, .memoryStaticMax).intValue ?? 0
        let vcpus = try s.get(t.vm, vm, .vcpusMax).intValue ?? 1
        let multiplier = try s.get(t.vm, vm, .hvmShadowMultiplier).doubleValue ?? 1
        let model = MemoryModel.of(domainType: try s.get(t.vm, vm, .domainType).stringValue ?? "hvm")
        let staticMaxMiB = (staticMax + mib - 1) / mib
        return model.overheadMiB(staticMaxMiB: staticMaxMiB, vcpus: vcpus, multiplier: multiplier) * mib
    }

    /// xapi_vm_helpers.ml `update_memory_overhead`: kept in `memory_overhead` whenever a figure
    /// it depends on changes.
    static func updateOverhead(_ vm: String, in s: inout DatabaseState, _ t: Tables) throws(XapiError) {
        try s.update(t.vm, vm, .memoryOverhead, .int(try overhead(vm, in: s, t)))
    }

    /// memory_check.ml `vm_compute_start_memory`: guest memory at dynamic-min (static-max for a
    /// PV-in-PVH guest, which cannot start ballooned down) plus the model's overhead; bytes.
    static func startMemory(_ vm: String, in s: DatabaseState, _ t: Tables) throws(XapiError) -> Int64 {
        let domainType = try s.get(t.vm, vm, .domainType).stringValue ?? "hvm"
        let guest = try s.get(t.vm, vm, domainType == "pv_in_pvh" ? .memoryStaticMax : .memoryDynamicMin).intValue ?? 0
        let guestMiB = ((guest + 1023) / 1024 + 1023) / 1024
        return guestMiB * mib + (try overhead(vm, in: s, t))
    }

    /// xapi_vm_helpers.ml `assert_enough_memory_available`: `HOST_NOT_ENOUGH_FREE_MEMORY` with
    /// what the VM needs and what the host has, not counting the VM's own reservation.
    static func assertEnoughFreeMemory(_ vm: String, on host: String, in s: DatabaseState, _ t: Tables) throws(XapiError) {
        let needed = try startMemory(vm, in: s, t)
        let available = try hostFreeMemory(host, in: s, t, ignoring: vm)
        if available < needed { throw .hostNotEnoughFreeMemory(needed: needed, available: available) }
    }

    /// memory_check.ml `host_compute_free_memory_with_maximum_compression`: what the host can
    /// give guests (total less its own overhead) less, for each VM resident or scheduled there,
    /// its dynamic-min and overhead: free memory if every balloon gave back all it could.
    static func hostFreeMemory(_ host: String, in s: DatabaseState, _ t: Tables, ignoring ignored: String? = nil) throws(XapiError) -> Int64 {
        let metrics = try s.get(t.host, host, .metrics).stringValue ?? nullRef
        let total = try s.get(t.hostMetrics, metrics, .memoryTotal).intValue ?? 0
        var available = total - (try s.get(t.host, host, .memoryOverhead).intValue ?? 0)
        let (residentOn, scheduled) = (t.vm[.residentOn], t.vm[.scheduledToBeResidentOn])
        for (ref, row) in s.rows(t.vm) where row.fields[residentOn] == .string(host)
            || (row.fields[scheduled] == .string(host) && ref != ignored) {
            available -= (row.fields[t.vm[.memoryDynamicMin]].intValue ?? 0) + (row.fields[t.vm[.memoryOverhead]].intValue ?? 0)
        }
        return max(0, available)
    }
}
