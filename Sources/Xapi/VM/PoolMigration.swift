import XapiDB
import Xenops

/// `VM.pool_migrate`: a running VM moved live to another host of the pool (xen-api
/// ocaml/xapi/message_forwarding.ml `pool_migrate` and ocaml/xapi/xapi_vm_migrate.ml): the
/// operation recorded, the destination's room held (`assert_can_boot_here`, so a disabled or
/// dead host, a disk the destination cannot see, or too little memory is refused before
/// anything moves), then xenopsd's `VM_migrate` between the two hosts' xenopsds while the
/// source's events loop ignores the VM (`with_suppressed`); inside that window the VM becomes
/// the destination's (`pool_migrate_complete`: `resident_on` moved, its state refreshed behind
/// a barrier there), so when the suppression lifts the source's refresh finds it gone and writes
/// nothing. A migration to the host the VM is on is a localhost migration, as in xapi.
enum PoolMigration {
    static let poolMigrate: Handler = { call in
        let t = call.tables
        let (vm, host) = (try call.string("vm"), try call.string("host"))
        try Lifecycle.requireXenops(call)
        let bridges = call.api.bridges
        // message_forwarding.ml names both in its log line first: a wrong ref of either fails there.
        try call.database.read { s throws(XapiError) in
            _ = try s.row(t.vm, vm)
            _ = try s.row(t.host, host)
        }
        try await call.withVMOperation(vm, "pool_migrate") {
            let (uuid, source, destination, metadata) = try call.database.write { s throws(XapiError) in
                let from = try s.get(t.vm, vm, .residentOn).stringValue ?? nullRef
                try Placement.reserve(vm, on: host, in: &s, t)
                return (try s.get(t.vm, vm, .uuid).stringValue ?? "", try bridges.requireBridge(onHost: from, in: s, t),
                        try bridges.requireBridge(onHost: host, in: s, t), try XenopsMetadata.build(vm: vm, in: s, tables: t))
            }
            defer { try? call.database.write { s throws(XapiError) in try Placement.release(vm, in: &s, t) } }
            await destination.waitUntilRunning()
            try await source.withSuppressed(vm: uuid) {
                source.push(metadata)
                try await source.sync(source.xenops.vm.migrate(uuid, to: destination.xenops), xapiTask: call.task, vm: vm)
                source.forgetPushed(uuid)
                // pool_migrate_complete, on the destination.
                try Lifecycle.setResident(call, vm, on: host)
                await destination.refresh(vm: uuid)
            }
        }
        return .emptyString
    }
}
