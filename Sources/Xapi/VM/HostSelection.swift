import XapiDB

/// Where a VM starts when the client does not say (xen-api ocaml/xapi/xapi_vm_helpers.ml
/// `choose_host_for_vm_no_wlb` and ocaml/xapi/vm_placement.ml): the hosts the VM can run on are
/// ranked in categories tried in turn — its affinity host, hosts that fit every guest at
/// static-max, at dynamic-max, then any that fit with guests ballooned down — and within a
/// category one is drawn at random, biased towards the roomiest, so that VMs spread over the
/// pool. The master is valued at half unless the pool's `coordinator_bias` is off. When no host
/// passes with `assert_can_boot_here`'s memory check, the categories are tried again without it,
/// as xapi's second pass does (that check and the categories' sums can disagree); a VM that
/// fits nowhere even ballooned down gets `NO_HOSTS_AVAILABLE`.
enum HostSelection {
    /// A host as placement sees it: sums over its resident and scheduled guests and the VM.
    struct Summary {
        let host: String
        let isMaster: Bool
        var staticMaxSum: Int64 = 0
        var dynamicMinSum: Int64 = 0
        var dynamicMaxSum: Int64 = 0
        var available: Int64

        /// vm_placement.ml `possible_host_category`: the compression ratio, in thousandths.
        var possibleValue: Int64 {
            if available >= dynamicMaxSum { return 1000 }
            if available < dynamicMinSum { return -1 }
            return 1000 * (available - dynamicMinSum) / (dynamicMaxSum - dynamicMinSum)
        }
    }

    typealias Category = (Summary) -> Int64

    static func choose(_ vm: String, in s: DatabaseState, _ t: Tables,
                       random: () -> Double = { Double.random(in: 0..<1) }) throws(XapiError) -> String {
        let summaries = try summarise(vm, in: s, t)
        let affinity = try s.get(t.vm, vm, .affinity).stringValue ?? nullRef
        let pool = s.refs(t.pool).first ?? nullRef
        let masterBias = (try? s.get(t.pool, pool, .coordinatorBias)) != .bool(false)
        func biased(_ category: @escaping Category) -> Category {
            { summary in
                let value = category(summary)
                return summary.isMaster && masterBias ? (value - 1) / 2 : value
            }
        }
        let categories: [Category] = [
            { $0.host == affinity ? $0.possibleValue : -1 },
            biased { $0.available - $0.staticMaxSum },
            biased { $0.available - $0.dynamicMaxSum },
            { $0.possibleValue },
        ]
        for memoryCheck in [true, false] {
            var hosts = summaries
            for category in categories where !hosts.isEmpty {
                let valued = hosts.map { ($0, category($0)) }
                var inside = valued.filter { $0.1 >= 0 }.sorted { $0.1 > $1.1 }.map(\.0)
                hosts = valued.filter { $0.1 < 0 }.map(\.0)
                while !inside.isEmpty {
                    // vm_placement.ml `biased_random_fn`: squared, so the roomiest are likelier.
                    let x = random()
                    let index = min(inside.count - 1, Int(x * x * Double(inside.count)))
                    let candidate = inside.remove(at: index)
                    if canRun(vm, on: candidate.host, memoryCheck: memoryCheck, in: s, t) { return candidate.host }
                }
            }
        }
        throw .noHostsAvailable
    }

    /// xapi_vm_helpers.ml `vm_can_run_on_host`: enabled (but for a control domain), live, not
    /// being evacuated, and every check of `assert_can_boot_here`.
    static func canRun(_ vm: String, on host: String, memoryCheck: Bool, in s: DatabaseState, _ t: Tables) -> Bool {
        guard let current = (try? s.get(t.host, host, .currentOperations))?.structureValue,
              !current.contains(where: { $0.value.stringValue == "evacuate" }) else { return false }
        return (try? Placement.assertCanBootHere(vm, on: host, memoryCheck: memoryCheck, in: s, t)) != nil
    }

    /// vm_placement.ml `summarise_host_snapshot` for every host, with the VM among its guests.
    static func summarise(_ vm: String, in s: DatabaseState, _ t: Tables) throws(XapiError) -> [Summary] {
        let master = XenAPI.localHost(in: s, tables: t)
        var byHost: [String: Summary] = [:]
        for host in s.refs(t.host).sorted() {
            let metrics = try s.get(t.host, host, .metrics).stringValue ?? nullRef
            let total = s.contains(t.hostMetrics, metrics) ? (try s.get(t.hostMetrics, metrics, .memoryTotal).intValue ?? 0) : 0
            byHost[host] = Summary(host: host, isMaster: host == master,
                                   available: total - (try s.get(t.host, host, .memoryOverhead).intValue ?? 0))
        }
        let (residentOn, scheduled) = (t.vm[.residentOn], t.vm[.scheduledToBeResidentOn])
        func add(_ row: [Value], to host: String) {
            guard var summary = byHost[host] else { return }
            summary.staticMaxSum += row[t.vm[.memoryStaticMax]].intValue ?? 0
            summary.dynamicMinSum += row[t.vm[.memoryDynamicMin]].intValue ?? 0
            summary.dynamicMaxSum += row[t.vm[.memoryDynamicMax]].intValue ?? 0
            summary.available -= row[t.vm[.memoryOverhead]].intValue ?? 0
            byHost[host] = summary
        }
        for (ref, row) in s.rows(t.vm) where ref != vm {
            for field in [residentOn, scheduled] {
                if let host = row.fields[field].stringValue, host != nullRef { add(row.fields, to: host) }
            }
        }
        let fields = try s.row(t.vm, vm).fields
        for host in byHost.keys { add(fields, to: host) }
        return byHost.values.sorted { $0.host < $1.host }
    }
}
