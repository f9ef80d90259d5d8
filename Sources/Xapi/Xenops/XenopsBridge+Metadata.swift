import Logging
import Synchronization
import XapiDB
import Xenops

extension XenopsBridge {
    /// Pushes a VM's configuration and devices to Xenops (xapi's `Xenopsd_metadata.push`).
    func push(_ metadata: VMMetadata) {
        pushed.withLock { $0[metadata.vm.id] = metadata }
        _ = xenops.vm.importMetadata(metadata)
    }

    /// The VM's metadata left this xenopsd (a migration away): the next push here is not a repeat.
    func forgetPushed(_ uuid: String) {
        _ = pushed.withLock { $0.removeValue(forKey: uuid) }
    }

    /// xapi's `events_from_xapi`: a change to a running VM's record (its actions after
    /// shutdown, its devices…) is pushed to Xenops, so the next guest-initiated shutdown or
    /// reboot follows the configuration the database shows.
    func runMetadataSync() async {
        let subscription = Subscription(["vm", "vbd", "vif"], model: database.model)
        let t = tables
        var scanned = database.generation
        while !Task.isCancelled {
            let changed = database.read { s -> [String] in
                var vms = Set<String>()
                for (table, ref) in s.changedObjects(after: scanned, subscription: subscription) {
                    let vm: String? = switch table {
                    case t.vm.table: ref
                    case t.vbd.table: try? s.get(t.vbd, ref, .vm).stringValue
                    case t.vif.table: try? s.get(t.vif, ref, .vm).stringValue
                    default: nil
                    }
                    if let vm { vms.insert(vm) }
                }
                scanned = s.generation
                return Array(vms)
            }
            for vm in changed { syncMetadata(vm) }
            // Anything but a change means the database's waits are closed (shutdown): asking
            // again would answer at once, a loop that would take a core until cancellation.
            guard await database.waitForChange(session: "", subscription: subscription, after: scanned, deadline: nil) == .changed
            else { return }
        }
    }

    func syncMetadata(_ vm: String) {
        let t = tables
        let metadata = database.read { s -> VMMetadata? in
            guard s.contains(t.vm, vm), isResidentHere((try? s.get(t.vm, vm, .uuid).stringValue) ?? "", in: s) else { return nil }
            let power = (try? s.get(t.vm, vm, .powerState).stringValue) ?? ""
            guard power == "Running" || power == "Paused" else { return nil }
            return try? XenopsMetadata.build(vm: vm, in: s, tables: t)
        }
        guard let metadata, pushed.withLock({ $0[metadata.vm.id] }) != metadata else { return }
        logger.debug("pushing changed metadata", metadata: ["vm": "\(metadata.vm.id)"])
        push(metadata)
    }
}
