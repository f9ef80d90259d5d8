import Wire
import Foundation
import Logging
import Testing
import Timing
@testable import Xenops

private let a = Dynamic.vm("a")
private let b = Dynamic.vm("b")
private let c = Dynamic.vm("c")
private let logger = Logger(label: "updates-test")

private func table(clock: any ServerClock = SystemClock()) -> Updates { Updates(clock: clock, logger: logger) }

/// Reference §7, statements 1–11 (xenopsd's `updates_test.ml`), 12 and 20–22, plus the ways this
/// table does better than xenopsd's.
@Suite struct UpdatesTests {
    @Test func s01_addThenGetReturnsIt() async {
        let updates = table()
        updates.add(a)
        let batch = await updates.get(from: nil, timeout: .zero)
        #expect(batch.updates == [a])
        #expect(batch.barriers.isEmpty)
    }

    @Test func s02_emptyTableReturnsNothing() async {
        let batch = await table().get(from: nil, timeout: .zero)
        #expect(batch.updates.isEmpty && batch.barriers.isEmpty)
        #expect(batch.next == 0)
    }

    @Test func s03_removedIdIsNotReturned() async {
        let updates = table()
        updates.add(a)
        updates.remove(a)
        #expect(await updates.get(from: nil, timeout: .zero).updates.isEmpty)
    }

    @Test func s04_getTimesOutAfterItsTimeout() async {
        let clock = ManualClock()
        let updates = table(clock: clock)
        let reader = Task { await updates.get(from: nil, timeout: .seconds(1)) }
        await clock.waitForSleepers(1)
        clock.advance(by: .milliseconds(999))
        #expect(updates.statistics.waitingReaders == 1)
        clock.advance(by: .milliseconds(1))
        let batch = await reader.value
        #expect(batch.isEmpty)
        #expect(batch.next == 0)
        #expect(updates.statistics.waitingReaders == 0)
    }

    /// The same on the real clock. The exact bound (after 1 s, before 2 s) is the manual-clock
    /// test above; here the upper bound allows for a loaded machine running every suite at once.
    @Test func s04_getTimesOutOnTheRealClock() async {
        let updates = table()
        let start = ContinuousClock.now
        let batch = await updates.get(from: nil, timeout: .seconds(1))
        let elapsed = ContinuousClock.now - start
        #expect(batch.isEmpty)
        #expect(elapsed >= .seconds(1) && elapsed < .seconds(10))
    }

    @Test func s05_blockedGetSeesAConcurrentAddWithinATenthOfASecond() async {
        // Started concurrently: whichever wins, the reader gets [a] at once.
        let raced = table()
        let racing = Task { await raced.get(from: nil, timeout: .seconds(5)) }
        raced.add(a)
        #expect(await racing.value.updates == [a])

        // Parked first: the add itself resumes it, with its batch.
        let clock = ManualClock()
        let updates = table(clock: clock)
        let reader = Task { await updates.get(from: nil, timeout: .seconds(5)) }
        await clock.waitForSleepers(1)
        let start = ContinuousClock.now
        updates.add(a)
        let elapsed = ContinuousClock.now - start
        #expect(updates.statistics.waitingReaders == 0)
        #expect(updates.statistics.wakeups == 1)
        #expect(elapsed < .milliseconds(100))
        #expect(await reader.value.updates == [a])
    }

    @Test func s06_barrierSnapshotAndCoalescedOrder() async {
        let updates = table()
        updates.add(a)
        updates.add(b)
        updates.injectBarrier(1) { _ in true }
        updates.add(a)
        updates.add(c)
        let batch = await updates.get(from: nil, timeout: .seconds(1))
        #expect(batch.barriers == [UpdatesBatch.Barrier(id: 1, updates: [a, b])])
        #expect(batch.updates == [b, a, c])
    }

    @Test func s07_removedBarrierIsGoneButUpdatesStay() async {
        let updates = table()
        updates.add(a)
        updates.add(b)
        updates.injectBarrier(1) { _ in true }
        updates.add(a)
        updates.add(c)
        updates.removeBarrier(1)
        let batch = await updates.get(from: nil, timeout: .seconds(1))
        #expect(batch.barriers.isEmpty)
        #expect(batch.updates == [b, a, c])
    }

    @Test func s08_tokenReturnsOnlyLaterChanges() async {
        let updates = table()
        updates.add(a)
        let first = await updates.get(from: nil, timeout: .zero)
        #expect(first.updates == [a])
        updates.add(b)
        let second = await updates.get(from: first.next, timeout: .zero)
        #expect(second.updates == [b])
    }

    @Test func s09_filterKeepsMatchingIds() async {
        let updates = table()
        updates.add(a)
        updates.add(b)
        updates.filter { $0 == a }
        #expect(await updates.get(from: nil, timeout: .zero).updates == [a])
    }

    @Test func s10_dumpFormat() {
        let updates = table()
        updates.add(a)
        updates.injectBarrier(1) { _ in true }
        let dump = updates.dump()
        #expect(dump.updates == [UpdatesDump.Entry(stamp: 1, id: a)])
        #expect(dump.barriers == [UpdatesDump.Barrier(id: 1, eventID: 2, entries: [UpdatesDump.Entry(stamp: 1, id: a)])])
        #expect(dump.json.text == #"{"updates":[{"id":1,"v":"[\"Vm\",\"a\"]"}],"barriers":[[1,2,[{"id":1,"v":"[\"Vm\",\"a\"]"}]]]}"#)
    }

    @Test func s11_lastIDAsToken() async {
        let updates = table()
        updates.add(a)
        updates.add(b)
        let token = updates.lastID
        updates.add(c)
        #expect(await updates.get(from: token, timeout: .zero).updates == [c])
    }

    @Test func s12_barriersComeBackInInjectionOrder() async {
        let updates = table()
        updates.add(a)
        for id in 1...3 { updates.injectBarrier(id) { _ in true } }
        let batch = await updates.get(from: nil, timeout: .seconds(1))
        #expect(batch.barriers.map(\.id) == [1, 2, 3])
    }

    @Test func s20_lastIDCountsEveryMutationAndGetFromItBlocks() async {
        let clock = ManualClock()
        let updates = table(clock: clock)
        updates.add(a)
        #expect(updates.lastID == 1)
        updates.remove(a)
        #expect(updates.lastID == 2)
        updates.injectBarrier(7) { _ in true }
        #expect(updates.lastID == 3)
        updates.removeBarrier(7)
        #expect(updates.lastID == 4)
        updates.filter { _ in true }
        #expect(updates.lastID == 5)
        let token = updates.lastID
        let reader = Task { await updates.get(from: token, timeout: .seconds(30)) }
        await clock.waitForSleepers(1)
        #expect(updates.statistics.waitingReaders == 1)
        updates.add(b)
        let batch = await reader.value
        #expect(batch.updates == [b])
        #expect(batch.next == 6)
    }

    @Test func s21_seenBarrierNeverReturnsAndEmptySnapshotStillUnblocks() async {
        let updates = table()
        updates.add(a)
        let first = await updates.get(from: nil, timeout: .zero)
        // Unseen barrier whose entries are all older than the token: returned, empty.
        updates.injectBarrier(1) { _ in true }
        let second = await updates.get(from: first.next, timeout: .seconds(1))
        #expect(second.barriers == [UpdatesBatch.Barrier(id: 1, updates: [])])
        #expect(second.updates.isEmpty)
        // Seen: not again.
        let third = await updates.get(from: second.next, timeout: .zero)
        #expect(third.barriers.isEmpty)
    }

    @Test func s21_barrierInjectedWhileReaderWaitsWakesIt() async {
        let clock = ManualClock()
        let updates = table(clock: clock)
        updates.add(a)
        let token = updates.lastID
        let reader = Task { await updates.get(from: token, timeout: .seconds(30)) }
        await clock.waitForSleepers(1)
        updates.injectBarrier(9) { _ in true }
        let batch = await reader.value
        #expect(batch.barriers == [UpdatesBatch.Barrier(id: 9, updates: [])])
    }

    @Test func s22_tokenAfterBarrierOnlyResultIsItsEventID() async {
        let updates = table()
        updates.add(a)
        let first = await updates.get(from: nil, timeout: .zero)
        updates.injectBarrier(1) { _ in true }
        let eventID = updates.dump().barriers[0].eventID
        let second = await updates.get(from: first.next, timeout: .zero)
        #expect(second.next == eventID)
    }

    @Test func stopsAtTheFirstTooOldBarrier() async {
        let updates = table()
        updates.add(a)
        updates.injectBarrier(1) { _ in true }  // event id 2
        updates.add(b)
        updates.injectBarrier(2) { _ in true }  // event id 4
        let batch = await updates.get(from: 2, timeout: .zero)
        #expect(batch.barriers.map(\.id) == [2])
        #expect(batch.barriers[0].updates == [b])
        #expect(batch.updates == [b])
        #expect(batch.next == 4)
    }

    // MARK: beyond xenopsd

    @Test func vmBarrierSnapshotHoldsTheVMAndItsDevicesButNoTasksOrOtherVMs() async {
        let updates = table()
        let disk = Dynamic.vbd(DeviceID(vm: "a", device: "xvda"))
        let nic = Dynamic.vif(DeviceID(vm: "a", device: "0"))
        updates.add(a)
        updates.add(.task("5"))
        updates.add(disk)
        updates.add(b)
        updates.add(nic)
        updates.injectBarrier(1, vm: "a")
        let batch = await updates.get(from: nil, timeout: .zero)
        #expect(batch.barriers == [UpdatesBatch.Barrier(id: 1, updates: [a, disk, nic])])
        updates.remove(disk)
        updates.injectBarrier(2, vm: "a")
        let again = await updates.get(from: nil, timeout: .zero)
        #expect(again.barriers.last == UpdatesBatch.Barrier(id: 2, updates: [a, nic]))
    }

    @Test func removeWakesNobodyAndAddWakesOnlyReadersItHelps() async {
        let clock = ManualClock()
        let updates = table(clock: clock)
        updates.add(a)
        let current = updates.lastID
        let reader = Task { await updates.get(from: current, timeout: .seconds(30)) }
        // A reader holding a token from the future gains nothing from the next add.
        let future = Task { await updates.get(from: current + 100, timeout: .seconds(30)) }
        while updates.statistics.waitingReaders < 2 { await Task.yield() }
        updates.remove(a)
        updates.removeBarrier(3)
        #expect(updates.statistics.wakeups == 0)
        #expect(updates.statistics.waitingReaders == 2)
        updates.add(b)
        #expect(await reader.value.updates == [b])
        #expect(updates.statistics.wakeups == 1)
        #expect(updates.statistics.waitingReaders == 1)
        future.cancel()
        #expect(await future.value.isEmpty)
        #expect(updates.statistics.waitingReaders == 0)
    }

    @Test func cancelledReaderReturnsEmptyWithItsToken() async {
        let updates = table()
        updates.add(a)
        let token = updates.lastID
        let reader = Task { await updates.get(from: token, timeout: nil) }
        reader.cancel()
        let batch = await reader.value
        #expect(batch.isEmpty)
        #expect(batch.next == token)
    }

    @Test func manyReadersAllWakeOnOneAdd() async {
        let clock = ManualClock()
        let updates = table(clock: clock)
        let readers = (0..<50).map { _ in Task { await updates.get(from: 0, timeout: .seconds(30)) } }
        while updates.statistics.waitingReaders < 50 { await Task.yield() }
        updates.add(a)
        for reader in readers { #expect(await reader.value.updates == [a]) }
        #expect(updates.statistics.wakeups == 50)
        // Every reader's timeout went with it.
        #expect(updates.scheduler.pendingCount == 0)
    }

    @Test func barriersAreBounded() async {
        let updates = Updates(clock: SystemClock(), barrierLimit: 3, logger: logger)
        updates.add(a)
        for id in 1...5 { updates.injectBarrier(id, vm: "a") }
        #expect(updates.statistics.barriers == 3)
        let batch = await updates.get(from: nil, timeout: .zero)
        #expect(batch.barriers.map(\.id) == [3, 4, 5])
    }

    @Test func coalescingKeepsTheTableAtOneEntryPerId() {
        let updates = table()
        for _ in 0..<10_000 {
            updates.add(a)
            updates.add(b)
        }
        #expect(updates.statistics.entries == 2)
        #expect(updates.dump().updates.map(\.stamp) == [19_999, 20_000])
    }
}

/// The stamp index against a plain model, under random adds, overwrites and removals.
@Suite struct StampLogTests {
    @Test(arguments: [1, 2, 3])
    func matchesAModel(seed: UInt64) {
        var generator = SplitMix(seed: seed)
        var recorder = UpdateRecorder()
        var model: [Dynamic: Int] = [:]
        var next = 1
        let ids = (0..<700).map { Dynamic.vm("vm\($0)") }
        for step in 0..<20_000 {
            let id = ids[Int(generator.next() % UInt64(ids.count))]
            if generator.next() % 4 == 0 {
                recorder.remove(id)
                model[id] = nil
            } else {
                recorder.add(id)
                model[id] = next
            }
            next += 1
            if step % 997 == 0 {
                let from = Int(generator.next() % UInt64(next))
                let expected = model.filter { $0.value > from }.sorted { $0.value < $1.value }.map(\.key)
                #expect(recorder.get(from: from).updates == expected)
            }
        }
        let all = model.sorted { $0.value < $1.value }.map(\.key)
        #expect(recorder.get(from: 0).updates == all)
        #expect(recorder.count == model.count)
    }
}

struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
