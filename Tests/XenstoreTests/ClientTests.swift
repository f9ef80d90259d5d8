import Logging
import Synchronization
import Testing

@testable import Xenstore

/// The in-process API Xenops uses: same semantics as the socket, watches as AsyncSequences.
@Suite struct ClientTests {
    let store = XenstoreDaemon(logger: Logger(label: "test"))

    @Test func readWriteDirectoryPermissions() throws {
        let dom0 = store.connect()
        try dom0.write("/vm/1/name", "one")
        try dom0.mkdir("/vm/1/devices")
        #expect(try dom0.read("/vm/1/name") == "one")
        #expect(try dom0.directory("/vm/1") == ["name", "devices"])
        #expect(try dom0.exists("/vm/1/name"))
        #expect(try !dom0.exists("/vm/2"))
        try dom0.setPermissions("/vm/1", [XenstorePermission(.none, 0), XenstorePermission(.read, 5)])
        #expect(try dom0.getPermissions("/vm/1") == [XenstorePermission(.none, 0), XenstorePermission(.read, 5)])
        try dom0.write("/bin", bytes: [0, 1, 2, 0])
        #expect(try dom0.readBytes("/bin") == [0, 1, 2, 0])
        try dom0.rm("/vm/1")
        #expect(throws: XenstoreError.ENOENT) { try dom0.read("/vm/1/name") }
        #expect(try dom0.domainPath(of: 4) == "/local/domain/4")
    }

    @Test func guestConnectionsAreUnprivileged() throws {
        let dom0 = store.connect()
        try dom0.mkdir("/local/domain/3")
        try dom0.setPermissions("/local/domain/3", [XenstorePermission(.none, 3)])
        let guest = store.connect(domid: 3)
        try guest.write("data/updated", "1")
        #expect(try dom0.read("/local/domain/3/data/updated") == "1")
        #expect(throws: XenstoreError.EACCES) { try guest.write("/vm/x", "1") }
        #expect(throws: XenstoreError.EACCES) { try guest.introduceDomain(9) }
    }

    @Test func transactionHelperRetriesOnConflict() throws {
        let dom0 = store.connect()
        let other = store.connect()
        try dom0.write("/counter", "0")
        var attempts = 0
        try dom0.transaction { tx in
            attempts += 1
            let value = Int(try tx.read("/counter"))!
            if attempts == 1 { try other.write("/counter", "10") }  // a racing writer, once
            try tx.write("/counter", String(value + 1))
        }
        #expect(attempts == 2)
        #expect(try dom0.read("/counter") == "11")

        let tx = try dom0.startTransaction()
        try tx.write("/in-tx", "x")
        #expect(try tx.read("/in-tx") == "x")
        #expect(try !other.exists("/in-tx"))
        tx.abort()
        #expect(try !dom0.exists("/in-tx"))

        struct Failure: Error {}
        #expect(throws: Failure.self) { try dom0.transaction { tx in try tx.write("/never", "x"); throw Failure() } }
        #expect(try !dom0.exists("/never"))
    }

    @Test func watchStreamsEventsAndUnregistersOnCancel() async throws {
        let dom0 = store.connect()
        let writer = store.connect()
        let watch = try dom0.watch("/local/domain/7", token: "dom7")
        var iterator = watch.makeAsyncIterator()
        #expect(await iterator.next() == WatchEvent(path: "/local/domain/7", token: "dom7"))
        try writer.write("/local/domain/7/data/ts", "1")
        try writer.write("/local/domain/70", "not below")
        try writer.write("/local/domain/7/memory/target", "1024")
        #expect(await iterator.next() == WatchEvent(path: "/local/domain/7/data/ts", token: "dom7"))
        #expect(await iterator.next() == WatchEvent(path: "/local/domain/7/memory/target", token: "dom7"))
        #expect(throws: XenstoreError.EEXIST) { _ = try dom0.watch("/local/domain/7", token: "dom7") }

        // A consuming task that is cancelled unregisters its watch.
        let second = try dom0.watch("/other", token: "o")
        let task = Task {
            var count = 0
            for await _ in second { count += 1 }
            return count
        }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        #expect(await task.value >= 1)
        #expect(store.withState { $0.watches.contains(WatchKey(connection: dom0.id, path: "/other", token: "o")) } == false)
    }

    @Test func handlerWatchRunsInlineInCommitOrderUntilCancelled() throws {
        let dom0 = store.connect()
        let writer = store.connect()
        let seen = Mutex<[String]>([])
        let handle = try dom0.watch("/local/domain/8", token: "h") { event in
            #expect(event.token == "h")
            seen.withLock { $0.append(event.path) }
        }
        // Inline: the first event and each write's event are there when the call returns.
        #expect(seen.withLock { $0 } == ["/local/domain/8"])
        try writer.write("/local/domain/8/data/updated", "1")
        try writer.write("/local/domain/80", "not below")
        try writer.write("/local/domain/8/memory/target", "2")
        #expect(seen.withLock { $0 } == ["/local/domain/8", "/local/domain/8/data/updated", "/local/domain/8/memory/target"])
        #expect(throws: XenstoreError.EEXIST) { _ = try dom0.watch("/local/domain/8", token: "h") { _ in } }

        // A handler may call the store; the events that causes come after it returns, in order.
        let nested = Mutex<[String]>([])
        let chained = try dom0.watch("/chain", token: "c") { event in
            nested.withLock { $0.append(event.path) }
            if event.path == "/chain/a" { try? dom0.write("/chain/b", "from handler") }
        }
        try writer.write("/chain/a", "1")
        #expect(nested.withLock { $0 } == ["/chain", "/chain/a", "/chain/b"])
        chained.cancel()

        handle.cancel()
        handle.cancel()
        try writer.write("/local/domain/8/data/updated", "2")
        #expect(seen.withLock { $0.count } == 3)
        #expect(store.withState { $0.watches.contains(WatchKey(connection: dom0.id, path: "/local/domain/8", token: "h")) } == false)
        // The same watch can be registered again once cancelled.
        try dom0.watch("/local/domain/8", token: "h") { _ in }.cancel()
    }

    @Test func specialWatchesAndRelease() async throws {
        let dom0 = store.connect()
        let introduced = try dom0.watch("@introduceDomain")
        let released = try dom0.watch("@releaseDomain")
        var introducedEvents = introduced.makeAsyncIterator()
        var releasedEvents = released.makeAsyncIterator()
        #expect(await introducedEvents.next()?.path == "@introduceDomain")
        #expect(await releasedEvents.next()?.path == "@releaseDomain")

        try store.introduceDomain(12)
        #expect(await introducedEvents.next()?.path == "@introduceDomain")
        let guest = store.connect(domid: 12)
        let guestWatch = try guest.watch("@releaseDomain")  // not readable for it: only the initial event
        try store.markDomainShutdown(12)
        #expect(await releasedEvents.next()?.path == "@releaseDomain")
        try store.releaseDomain(12)
        #expect(await releasedEvents.next()?.path == "@releaseDomain")
        // The guest's connection is gone: its stream ends, its calls fail.
        var guestEvents: [WatchEvent] = []
        for await event in guestWatch { guestEvents.append(event) }
        #expect(guestEvents == [WatchEvent(path: "@releaseDomain", token: "")])
        #expect(throws: XenstoreError.ECONNRESET) { try guest.read("/") }
        #expect(try !dom0.isDomainIntroduced(12))
    }

    @Test func closeFinishesStreamsAndForgetsTheConnection() async throws {
        let before = store.withState { $0.connections.count }
        let client = store.connect(domid: 0)
        let watch = try client.watch("/x")
        client.close()
        var count = 0
        for await _ in watch { count += 1 }
        #expect(count == 1)  // the initial event, buffered before close
        #expect(throws: XenstoreError.ECONNRESET) { try client.write("/x", "1") }
        #expect(throws: XenstoreError.ECONNRESET) { _ = try client.watch("/y") }
        #expect(store.withState { $0.connections.count } == before)
    }

    /// Events from writers on many threads reach a watcher in commit order: each writer
    /// creates its nodes in sequence, so its events must arrive in that sequence.
    @Test func eventsKeepCommitOrderAcrossThreads() async throws {
        let watcher = store.connect()
        let watch = try watcher.watch("/order", token: "o")
        let writers = 4
        let perWriter = 300
        await withTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    let connection = store.connect()
                    for index in 0..<perWriter { try? connection.write("/order/w\(writer)/n\(index)", "") }
                }
            }
        }
        var next = [String: Int]()
        var received = 0
        var inOrder = true
        for await event in watch where event.path != "/order" {
            let parts = event.path.split(separator: "/")  // order, wN, nM
            let index = Int(parts[2].dropFirst())!
            if index != next[String(parts[1]), default: 0] { inOrder = false }
            next[String(parts[1])] = index + 1
            received += 1
            if received == writers * perWriter { break }
        }
        #expect(received == writers * perWriter)
        #expect(inOrder)
    }
}
