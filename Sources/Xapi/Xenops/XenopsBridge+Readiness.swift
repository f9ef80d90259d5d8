import Logging
import Synchronization
import XapiDB
import Xenops

extension XenopsBridge {
    func markRunning() {
        let waiters = readiness.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.running = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the events loop runs (lifecycle calls need it to see their barriers).
    public func waitUntilRunning() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = readiness.withLock { state -> Bool in
                if state.running { return true }
                state.waiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// After a restart no simulated domain survives: VMs the database still shows as running or
    /// paused on this host are halted, as xapi's resync would find them (xenopsd knows nothing).
    func resyncAfterRestart() {
        let t = tables
        database.write { s in
            guard let host = host(in: s) else { return }
            for vm in (try? s.get(t.host, host, .residentVMs).refList) ?? [] {
                guard let row = try? s.row(t.vm, vm) else { continue }
                let state = row.fields[t.vm[.powerState]].stringValue ?? "Halted"
                let controlDomain = row.fields[t.vm[.isControlDomain]].boolValue ?? false
                guard !controlDomain, state == "Running" || state == "Paused" else { continue }
                let uuid = row.fields[t.vm[.uuid]].stringValue ?? ""
                if xenops.vm.exists(uuid) { continue }
                try? PowerStates.forceReset(vm, to: "Halted", in: &s, tables: t)
            }
        }
    }
}
