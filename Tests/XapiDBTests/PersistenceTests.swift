import Foundation
import Logging
import Synchronization
import Testing
@testable import XapiDB

@Suite struct PersistenceTests {
    func temporaryPath() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xapidb-\(Identifiers.uuid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent("state.db").path
    }

    @Test func restartRestoresRefsUUIDsRelationsAndGenerations() async throws {
        let path = try temporaryPath()
        let first = Database()
        let t = Tables(first)
        let persister = Persister(database: first, store: try SQLiteStore(path: path), logger: Logger(label: "test"))
        #expect(try await persister.load() == 0)
        let loop = Task { await persister.run() }
        let (vm, vbd, gone) = try first.write { s throws in
            let vm = try s.make(t.vm, ["name_label": .string("kept")])
            let vbd = try s.make(t.vbd, ["VM": .string(vm)])
            let gone = try s.make(t.vm)
            _ = try s.make(t.session)                     // sessions are not persisted
            return (vm, vbd, gone)
        }
        try first.write { s throws in try s.delete(t.vm, gone) }
        await first.waitUntilDurable()
        let generation = first.generation
        persister.stop()
        await loop.value

        let second = Database()
        let restored = try await Persister(database: second, store: try SQLiteStore(path: path), logger: Logger(label: "test")).load()
        #expect(restored == 2)
        let vmRecord = try second.read { s throws in try s.record(t.vm, vm) }
        #expect(vmRecord["name_label"] == .string("kept"))
        #expect(vmRecord["VBDs"] == .array([.string(vbd)]))
        #expect(try second.read { s throws in try s.ref(uuid: vmRecord["uuid"]!.stringValue!, in: t.vm) } == vm)
        #expect(second.read { $0.contains(t.vm, gone) } == false)
        #expect(second.read { $0.count(t.session) } == 0)
        #expect(second.generation == generation)
        let batch = second.read { $0.collectEvents(since: .beginning, subscription: Subscription(["vm"], model: second.model)) }
        #expect(batch.events.count == 1)
    }

    /// A derived set is recomputed from its children at load, whatever was stored for it:
    /// stored sets naming a gone child, or lacking a live one, cannot come back.
    @Test func derivedSetsAreRecomputedAtLoad() throws {
        let t = Tables(Database())
        let vm = Identifiers.ref(), first = Identifiers.ref(), second = Identifiers.ref()
        func object(_ className: String, _ ref: String, created: Int64, _ record: Structure) -> PersistenceBatch.Object {
            .init(className: className, ref: ref, created: created, modified: created, record: record)
        }
        let database = Database()
        let restored = database.restore([
            object("VM", vm, created: 1, ["uuid": .string(Identifiers.uuid()), "VBDs": .array([.string("OpaqueRef:gone"), .string(second)])]),
            object("VBD", second, created: 3, ["uuid": .string(Identifiers.uuid()), "VM": .string(vm)]),
            object("VBD", first, created: 2, ["uuid": .string(Identifiers.uuid()), "VM": .string(vm)]),
        ], generation: 3)
        #expect(restored == 3)
        #expect(try database.read { s throws in try s.get(t.vm, vm, "VBDs") } == .array([.string(first), .string(second)]))
        #expect(database.read { $0.integrityFaults() }.isEmpty)
    }

    @Test func durabilityWaitsForTheFlush() async throws {
        let path = try temporaryPath()
        let db = Database()
        let t = Tables(db)
        let persister = Persister(database: db, store: try SQLiteStore(path: path), logger: Logger(label: "test"))
        _ = try await persister.load()
        let scope = WriteScope()
        try WriteScope.$current.withValue(scope) { try db.write { s throws in _ = try s.make(t.vm) } }
        #expect(scope.generation > 0)
        let finished = Atomic(false)
        let waiter = Task {
            await db.waitUntilDurable(upTo: scope.generation)
            finished.store(true, ordering: .releasing)
        }
        // No persister runs yet: the waiter must park, not return.
        while db.durability.parkedCount == 0 { await Task.yield() }
        let stillWaiting = !finished.load(ordering: .acquiring)
        #expect(stillWaiting)
        // A call that wrote nothing does not wait behind the pending write.
        let readScope = WriteScope()
        _ = WriteScope.$current.withValue(readScope) { db.read { $0.count(t.vm) } }
        #expect(readScope.generation == 0)
        await db.waitUntilDurable(upTo: readScope.generation)
        let stillWaitingAfterRead = !finished.load(ordering: .acquiring)
        #expect(stillWaitingAfterRead)

        let loop = Task { await persister.run() }
        await waiter.value
        let done = finished.load(ordering: .acquiring)
        #expect(done)
        persister.stop()
        await loop.value
        let stored = try await SQLiteStore(path: path).load()
        #expect(stored.objects.count == 1)
    }
}
