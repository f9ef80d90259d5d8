import Foundation
import Testing
import Synchronization
import Timing
@testable import XapiDB

@Suite struct EventFromTests {
    let db = Database()
    var t: Tables { Tables(db) }

    func events(since token: EventToken, _ classes: [String]) -> EventBatch {
        let subscription = Subscription(classes, model: db.model)
        return db.read { $0.collectEvents(since: token, subscription: subscription) }
    }

    func ops(_ batch: EventBatch) -> [String] {
        batch.events.map { e in
            let s = e.structureValue!
            return "\(s["class"]!.stringValue!) \(s["operation"]!.stringValue!)"
        }
    }

    @Test func coalescesToOneEventPerObject() throws {
        let t = self.t
        let (kept, gone) = try db.write { s throws in
            let kept = try s.make(t.vm)
            let gone = try s.make(t.vm)
            return (kept, gone)
        }
        let start = EventToken(generation: db.generation, messageGeneration: 0)
        let (created, createdAndDeleted) = try db.write { s throws in
            try s.set(t.vm, kept, "name_label", .string("one"))
            try s.set(t.vm, kept, "name_label", .string("two"))
            try s.set(t.vm, gone, "name_label", .string("bye"))
            try s.delete(t.vm, gone)
            let created = try s.make(t.vm)
            try s.set(t.vm, created, "name_label", .string("new"))
            let createdAndDeleted = try s.make(t.vm)
            try s.delete(t.vm, createdAndDeleted)
            return (created, createdAndDeleted)
        }
        let batch = events(since: start, ["VM"])
        #expect(ops(batch) == ["vm add", "vm mod", "vm del"])
        let byRef = Dictionary(uniqueKeysWithValues: batch.events.map { ($0.structureValue!["ref"]!.stringValue!, $0.structureValue!) })
        #expect(byRef[created]?["snapshot"]?.structureValue?["name_label"] == .string("new"))
        #expect(byRef[kept]?["snapshot"]?.structureValue?["name_label"] == .string("two"))
        #expect(byRef[gone]?["snapshot"] == nil)
        #expect(byRef[createdAndDeleted] == nil)
        let keptID = try #require(byRef[kept]?["id"]?.stringValue.flatMap { Int64($0) })
        #expect(keptID > start.generation && keptID < batch.token.generation)
        // The token is the newest generation among reported objects (xapi's `last`): the
        // create+delete pair at the end reported nothing.
        #expect(batch.token.generation == db.generation - 2)
        // Nothing new: no events and the same token.
        let again = events(since: batch.token, ["vm"])
        #expect(again.events.isEmpty && again.token == batch.token)
    }

    @Test func subscriptionsSelectClassesAndObjects() throws {
        let t = self.t
        let (vm, other) = try db.write { s throws in (try s.make(t.vm), try s.make(t.vm)) }
        let mark = EventToken(generation: db.generation, messageGeneration: 0)
        try db.write { s throws in
            try s.set(t.vm, vm, "name_label", .string("x"))
            try s.set(t.vm, other, "name_label", .string("y"))
            _ = try s.make(t.sr)
            _ = try s.make(t.session)
        }
        #expect(events(since: mark, ["vm/\(vm)"]).events.count == 1)
        #expect(events(since: mark, ["SR"]).events.count == 1)
        #expect(events(since: mark, ["*"]).events.count == 3)    // sessions never generate events
        #expect(events(since: mark, ["nonsense"]).events.isEmpty)
        #expect(events(since: mark, ["session"]).events.isEmpty)
    }

    @Test func aClassSubscriptionReadsOnlyItsClassesLogs() throws {
        let t = self.t
        let vm = try db.write { s throws in try s.make(t.vm) }
        let start = EventToken(generation: db.generation, messageGeneration: 0)
        try db.write { s throws in
            // A storm of changes to another class, around one change to the VM.
            for i in 0..<50 { _ = try s.make(t.vdi); if i == 25 { try s.set(t.vm, vm, "name_label", .string("x")) } }
            _ = try s.make(t.vbd)
        }
        let state = db.read { $0 }
        let vmEntries = state.changeLog.entries(after: start.generation, in: [t.vm])
        #expect(vmEntries.map(\.ref) == [vm])
        let two = state.changeLog.entries(after: start.generation, in: [t.vm, t.vbd])
        #expect(two.count == 2)
        #expect(two.map(\.generation) == two.map(\.generation).sorted())
        #expect(state.changeLog.entries(after: start.generation, in: nil).count == 52)
        #expect(ops(events(since: start, ["vm"])) == ["vm mod"])
    }

    @Test func changedObjectsNamesLiveObjectsOfTheSubscribedClassesOnly() throws {
        let t = self.t
        let (vm, gone) = try db.write { s throws in (try s.make(t.vm), try s.make(t.vm)) }
        let start = db.generation
        let vbd = try db.write { s throws -> String in
            try s.set(t.vm, vm, "name_label", .string("changed"))
            try s.delete(t.vm, gone)
            _ = try s.make(t.vdi)
            return try s.make(t.vbd)
        }
        let subscription = Subscription(["vm", "vbd"], model: db.model)
        let changed = db.read { $0.changedObjects(after: start, subscription: subscription) }
        #expect(changed.map(\.ref) == [vm, vbd])
        let now = db.generation
        #expect(db.read { $0.changedObjects(after: now, subscription: subscription) }.isEmpty)
    }

    @Test func compactionKeepsThePerClassLogsInStep() throws {
        let t = self.t
        let vm = try db.write { s throws in try s.make(t.vm) }
        // Enough superseded entries to compact: only the latest change per object survives.
        for i in 0..<5000 { try db.write { s throws in try s.set(t.vm, vm, "name_label", .string("\(i)")) } }
        let state = db.read { $0 }
        #expect(state.changeLog.count < 5000)
        let entries = state.changeLog.entries(after: 0, in: [t.vm])
        #expect(entries.filter { state.isLive($0) }.map(\.ref) == [vm])
        #expect(entries.count < 5000)
    }

    @Test func firstCallReportsEverythingAsAdd() throws {
        let t = self.t
        try db.write { s throws in
            for _ in 0..<5 { _ = try s.make(t.vm) }
            let vm = try s.make(t.vm)
            try s.set(t.vm, vm, "name_label", .string("z"))
        }
        let batch = events(since: .beginning, ["*"])
        #expect(ops(batch) == Array(repeating: "vm add", count: 6))
    }

    @Test func messagesHaveTheirOwnGeneration() throws {
        let t = self.t
        let message = try db.write { s throws in try s.make(t.message, ["name": .string("ALERT")]) }
        let batch = events(since: .beginning, ["message/whatever"])
        #expect(ops(batch) == ["message add"])
        #expect(batch.events[0].structureValue!["id"] == .string("0"))
        #expect(batch.token.messageGeneration == db.read { $0.messageGeneration })
        #expect(batch.token.generation == 0)
        try db.write { s throws in try s.delete(t.message, message) }
        #expect(ops(events(since: batch.token, ["message"])) == ["message del"])
    }

    @Test func validRefCountsCoverEveryTable() throws {
        let t = self.t
        try db.write { s throws in _ = try s.make(t.vm); _ = try s.make(t.session) }
        let counts = db.read { $0.validRefCounts() }
        #expect(counts["vm"] == .int32(1))
        #expect(counts["session"] == .int32(1))
        #expect(counts["vdi"] == .int32(0))
        #expect(counts["event"] == nil)
    }
}

extension Database {
    /// Returns once `count` event calls are parked: a wait on the state the test needs, not
    /// on time, so a loaded machine only makes it slower.
    func untilParked(_ count: Int) async {
        while parkedEventCalls < count { await Task.yield() }
    }
}

/// Parked calls on a manual clock: deadlines pass when the test moves time, never by sleeping.
@Suite(.timeLimit(.minutes(1))) struct EventWaitTests {
    let clock = ManualClock()
    let db: Database
    var t: Tables { Tables(db) }

    init() { db = Database(clock: clock) }

    @Test func aMatchingChangeWakesAParkedCall() async throws {
        let t = self.t
        let (session, vm) = try db.write { s throws in (try s.make(t.session), try s.make(t.vm)) }
        let mark = db.generation
        let subscription = Subscription(["vm"], model: db.model)
        async let reason = db.waitForChange(session: session, subscription: subscription, after: mark,
                                            deadline: clock.now + .seconds(10))
        await db.untilParked(1)
        try db.write { s throws in _ = try s.make(t.sr) }        // not of interest
        // Still parked: the change of no interest was delivered and did not wake it.
        #expect(db.parkedEventCalls == 1)
        try db.write { s throws in try s.set(t.vm, vm, "name_label", .string("x")) }
        #expect(await reason == .changed)
        #expect(db.parkedEventCalls == 0)
    }

    @Test func timesOutAndCancels() async throws {
        let t = self.t
        let session = try db.write { s throws in try s.make(t.session) }
        let subscription = Subscription(["vm"], model: db.model)
        let generation = db.generation
        let waiting = Task { [clock, db] in
            await db.waitForChange(session: session, subscription: subscription, after: generation,
                                   deadline: clock.now + .milliseconds(200))
        }
        await db.untilParked(1)
        await clock.waitForSleepers(dueWithin: .milliseconds(200))
        clock.advance(by: .milliseconds(199))
        // Not yet due: the call stays parked however long the machine takes meanwhile.
        #expect(db.parkedEventCalls == 1)
        clock.advance(by: .milliseconds(1))
        #expect(await waiting.value == .timedOut)
        let task = Task { await db.waitForChange(session: session, subscription: subscription, after: db.generation, deadline: nil) }
        await db.untilParked(1)
        task.cancel()
        #expect(await task.value == .cancelled)
        #expect(db.parkedEventCalls == 0)
    }

    @Test func deletingTheSessionWakesItsCalls() async throws {
        let t = self.t
        let session = try db.write { s throws in try s.make(t.session) }
        db.registerEvents(session: session, classes: ["vm"])
        let subscription = Subscription(["*"], model: db.model)
        async let from = db.waitForChange(session: session, subscription: subscription, after: db.generation, deadline: nil)
        let next = Task { () async -> XapiError? in
            do throws(XapiError) { _ = try await db.nextEvents(session: session); return nil } catch { return error }
        }
        await db.untilParked(2)
        try db.write { s throws in try s.delete(t.session, session) }
        #expect(await from == .sessionInvalid)
        #expect(await next.value == .sessionInvalid(session))
    }
}

@Suite struct EventNextTests {
    let db = Database()
    var t: Tables { Tables(db) }

    @Test func deliversOneModPerFieldWriteAfterRegistration() async throws {
        let t = self.t
        let (session, vm) = try db.write { s throws in (try s.make(t.session), try s.make(t.vm)) }
        await #expect(throws: XapiError.sessionNotRegistered(handle: "trackid=" + MD5.hex(of: session))) {
            try await db.nextEvents(session: session)
        }
        db.registerEvents(session: session, classes: ["VM"])
        try db.write { s throws in
            try s.set(t.vm, vm, "name_label", .string("a"))
            try s.set(t.vm, vm, "name_description", .string("b"))
            _ = try s.make(t.vbd, ["VM": .string(vm)])
        }
        let events = try await db.nextEvents(session: session)
        let ops = events.map { $0.structureValue!["operation"]!.stringValue! }
        #expect(ops == ["mod", "mod", "mod"])    // two field writes, then VM.VBDs changed by the VBD
        let first = events[0].structureValue!
        #expect(first["snapshot"]?.structureValue?["name_label"] == .string("a"))
        #expect(first["snapshot"]?.structureValue?["name_description"] == .string(""))
        #expect(first["class"] == .string("vm"))
        #expect(events.map { Int64($0.structureValue!["id"]!.stringValue!)! } == events.indices.map { Int64($0) + Int64(events[0].structureValue!["id"]!.stringValue!)! })
    }

    @Test func deletionsCarryThePreDeleteSnapshot() async throws {
        let t = self.t
        let (session, vm) = try db.write { s throws in (try s.make(t.session), try s.make(t.vm, ["name_label": .string("gone")])) }
        db.registerEvents(session: session, classes: ["vm"])
        try db.write { s throws in try s.delete(t.vm, vm) }
        let events = try await db.nextEvents(session: session)
        #expect(events.count == 1)
        #expect(events[0].structureValue!["operation"] == .string("del"))
        #expect(events[0].structureValue!["snapshot"]?.structureValue?["name_label"] == .string("gone"))
    }

    @Test func overflowReportsEventsLostOnceAndMemoryStaysBounded() async throws {
        let t = self.t
        let (session, vm) = try db.write { s throws in (try s.make(t.session), try s.make(t.vm)) }
        db.setNextQueueLimit(bytes: 200_000)
        db.registerEvents(session: session, classes: ["vm"])
        for i in 0..<2000 {
            try db.write { s throws in try s.set(t.vm, vm, "name_label", .string("flood \(i)")) }
        }
        let queued = db.read { $0.events.next.bytes }
        #expect(queued <= 200_000)
        await #expect(throws: XapiError.eventsLost) { try await db.nextEvents(session: session) }
        try db.write { s throws in try s.set(t.vm, vm, "name_label", .string("after")) }
        let events = try await db.nextEvents(session: session)
        #expect(events.count == 1)
    }

    @Test func eventsNobodyWantsAreNotQueued() throws {
        let t = self.t
        let session = try db.write { s throws in try s.make(t.session) }
        db.registerEvents(session: session, classes: ["SR"])
        try db.write { s throws in _ = try s.make(t.vm) }
        #expect(db.read { $0.events.next.entries.count } == 0)
        db.unregisterEvents(session: session, classes: ["SR"])
        try db.write { s throws in _ = try s.make(t.sr) }
        #expect(db.read { $0.events.next.entries.count } == 0)
    }

    @Test func aParkedNextWakesOnlyForItsClasses() async throws {
        let t = self.t
        let (session, vm) = try db.write { s throws in (try s.make(t.session), try s.make(t.vm)) }
        let other = try db.write { s throws in try s.make(t.session) }
        db.registerEvents(session: session, classes: ["vm"])
        db.registerEvents(session: other, classes: ["sr"])
        let task = Task { try await db.nextEvents(session: session) }
        await db.untilParked(1)
        try db.write { s throws in _ = try s.make(t.sr) }
        #expect(db.parkedEventCalls == 1)
        try db.write { s throws in try s.set(t.vm, vm, "name_label", .string("v")) }
        let events = try await task.value
        #expect(events.count == 1)
    }
}
