import XapiDB

/// Where each VM of a host would go if it were evacuated (xen-api ocaml/xapi/xapi_host.ml
/// `compute_evacuation_plan_no_wlb`): the targets are the pool's other enabled hosts; a VM that
/// cannot boot on every one of them (a disk or network only its host has), or may not migrate
/// now, blocks with that error; the others are packed onto the targets by the memory they
/// need, each on the target with the most room left (xapi's failover planner also packs by
/// memory), and one that fits nowhere blocks with `HOST_NOT_ENOUGH_FREE_MEMORY`.
struct EvacuationPlan {
    private(set) var moves: [(vm: String, host: String)] = []
    private(set) var blockers: [(vm: String, error: XapiError)] = []

    init(host: String, in s: DatabaseState, _ t: Tables) throws(XapiError) {
        guard s.contains(t.host, host) else { throw .handleInvalid(class: "host", ref: host) }
        let vms = try HostHandlers.residentGuests(host, in: s, t)
        var targets: [String] = []
        for other in s.refs(t.host).sorted() where other != host {
            if try s.get(t.host, other, .enabled) == .bool(true) { targets.append(other) }
        }
        guard !targets.isEmpty else {
            blockers = vms.map { ($0, XapiError.noHostsAvailableFor(vm: $0)) }
            return
        }
        var errors: [String: XapiError] = [:]
        for vm in vms {
            for target in targets {
                do {
                    try Placement.assertCanBootHere(vm, on: target, memoryCheck: false, in: s, t)
                } catch {
                    errors[vm] = error
                    break
                }
            }
            if let error = VMOperations.check("pool_migrate", vm: vm, strict: true, in: s, tables: t) { errors[vm] = error }
        }
        var room: [String: Int64] = [:]
        for target in targets { room[target] = try VMMemory.hostFreeMemory(target, in: s, t) }
        var needs: [(vm: String, bytes: Int64)] = []
        for vm in vms where errors[vm] == nil { needs.append((vm, try VMMemory.startMemory(vm, in: s, t))) }
        for (vm, bytes) in needs.sorted(by: { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.vm < $1.vm }) {
            guard let target = targets.max(by: { room[$0]! < room[$1]! }), room[target]! >= bytes else {
                errors[vm] = .hostNotEnoughFreeMemoryFor(vm: vm)
                continue
            }
            room[target]! -= bytes
            moves.append((vm, target))
        }
        blockers = vms.compactMap { vm in errors[vm].map { (vm, $0) } }
    }
}
