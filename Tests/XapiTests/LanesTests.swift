import Testing
@testable import Xapi
@testable import XapiDB
import Xenops

/// The parallel events loop's lanes: order per VM, urgent lanes first, and a worker always left
/// for urgent work while the others hold background items.
@Suite struct LanesTests {
    func vm(_ n: Int) -> String { "vm:\(n)" }

    @Test func aFocusedLaneIsServedFirstAndNotAsBackground() async {
        let lanes = Lanes(workers: 4)
        for n in 0..<3 { lanes.push(.update(.vm("\(n)")), lane: vm(n)) }
        lanes.focus(vm(2))
        let first = await lanes.next()
        #expect(first?.lane == vm(2))
        #expect(first?.urgent == true)
        let second = await lanes.next()
        #expect(second?.lane == vm(0))
        #expect(second?.urgent == false)
        lanes.unfocus(vm(2))
        lanes.finished(vm(2))
        lanes.push(.update(.vm("2")), lane: vm(2))
        let third = await lanes.next()
        #expect(third?.lane == vm(1))
    }

    @Test func oneWorkerStaysFreeForUrgentLanes() async {
        let lanes = Lanes(workers: 2)
        for n in 0..<3 { lanes.push(.update(.vm("\(n)")), lane: vm(n)) }
        // The one background slot is taken by the first worker…
        let first = await lanes.next()
        #expect(first?.lane == vm(0))
        // …so the second waits, background lanes ready or not, until an urgent one comes.
        let second = Task { await lanes.next() }
        try? await Task.sleep(for: .milliseconds(20))
        lanes.push(.wake(1), lane: vm(2), urgent: true)
        let taken = await second.value
        #expect(taken?.lane == vm(2))
        #expect(taken?.urgent == true)
        // The wake-up waits behind its lane's earlier signal, served as urgent too.
        #expect(taken?.item == .update(.vm("2")))
        lanes.finished(vm(0))
        lanes.close()
    }
}
