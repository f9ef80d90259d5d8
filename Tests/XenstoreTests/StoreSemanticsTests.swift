import Testing

@testable import Xenstore

/// The scenarios of oxenstored's (mirage ocaml-xenstore-server's) unit tests, with C xenstored
/// 4.17's answers where the two differ (noted per test).
@Suite struct StoreSemanticsTests {
    // Differs from the OCaml test: a domU reading an absent /a under a dom0-only root gets
    // EACCES, not ENOENT — C's errno_from_parents hides existence from those who cannot read.
    @Test func implicitCreateIsHiddenFromDomU() {
        var h = Harness()
        let dom0 = h.connect(0)
        let domU = h.connect(1)
        #expect(h.read(dom0, "/a") == .failure(.ENOENT))
        #expect(h.read(domU, "/a") == .failure(.EACCES))
        #expect(h.write(dom0, "/a/b", "hello") == .success(.ok))
        #expect(h.read(domU, "/a/b") == .failure(.EACCES))
        #expect(h.read(dom0, "/a") == .success(""))  // the implicit parent exists, empty
        #expect(h.read(domU, "/a") == .failure(.EACCES))
        #expect(h.error(domU, .write("/a/c", [])) == .EACCES)  // no write on the closest ancestor
        #expect(h.read(dom0, "/a/c") == .failure(.ENOENT))
    }

    @Test func directoryKeepsCreationOrder() {
        var h = Harness()
        let dom0 = h.connect(0)
        _ = h.write(dom0, "/a/1", "")
        _ = h.write(dom0, "/a/2/foo", "")
        _ = h.write(dom0, "/a/3", "")
        _ = h.write(dom0, "/a/0", "")
        #expect(h.run(dom0, .directory("/a")) == .success(.names(["1", "2", "3", "0"])))
    }

    @Test func setPermsThenGetPerms() {
        var h = Harness()
        let dom0 = h.connect(0)
        _ = h.write(dom0, "/foo", "")
        let acl = Harness.perms("r5", "w2", "b3")
        #expect(h.run(dom0, .setPermissions("/foo", acl)) == .success(.ok))
        #expect(h.run(dom0, .getPermissions("/foo")) == .success(.permissions(acl)))
    }

    // Differs from the OCaml test, where the owner may hand the node to another domain: C
    // answers EPERM to an unprivileged owner change; only dom0 may change owners.
    @Test func setPermsOwnerRules() {
        var h = Harness()
        let dom0 = h.connect(0)
        let dom2 = h.connect(2)
        let dom5 = h.connect(5)
        _ = h.write(dom0, "/foo", "")
        _ = h.run(dom0, .setPermissions("/foo", Harness.perms("r5", "w2", "b3")))
        // dom2 may write /foo but does not own it.
        #expect(h.write(dom2, "/foo", "x") == .success(.ok))
        #expect(h.error(dom2, .setPermissions("/foo", Harness.perms("r2", "w5"))) == .EACCES)
        // The owner may change grants, not the owner.
        #expect(h.run(dom5, .setPermissions("/foo", Harness.perms("n5", "r2"))) == .success(.ok))
        #expect(h.error(dom5, .setPermissions("/foo", Harness.perms("n2"))) == .EPERM)
        #expect(h.run(dom0, .setPermissions("/foo", Harness.perms("n2"))) == .success(.ok))
        #expect(h.run(dom2, .setPermissions("/foo", Harness.perms("n2", "r5"))) == .success(.ok))
        // Too many entries from an unprivileged domain.
        #expect(h.error(dom2, .setPermissions("/foo", Harness.perms("n2", "r1", "r3", "r4", "r5", "r6"))) == .ENOSPC)
    }

    @Test func mkdirInsideATransaction() {
        var h = Harness()
        let dom0 = h.connect(0)
        #expect(h.read(dom0, "/a/b") == .failure(.ENOENT))
        let tx = h.start(dom0)
        #expect(h.run(dom0, .mkdir("/bench/local/domain/0"), tx: tx) == .success(.ok))
        #expect(h.run(dom0, .setPermissions("/bench/local/domain/0", Harness.perms("r5")), tx: tx) == .success(.ok))
        #expect(h.read(dom0, "/bench/local/domain/0", tx: tx) == .success(""))
        #expect(h.run(dom0, .transactionEnd(commit: true), tx: tx) == .success(.ok))
        #expect(h.run(dom0, .getPermissions("/bench/local/domain/0")) == .success(.permissions(Harness.perms("r5"))))
    }

    @Test func emptyValuesAndRemoval() {
        var h = Harness()
        let dom0 = h.connect(0)
        #expect(h.write(dom0, "/a", "") == .success(.ok))
        #expect(h.read(dom0, "/a") == .success(""))
        #expect(h.run(dom0, .remove("/a/b")) == .success(.ok))  // absent, parent exists
        #expect(h.error(dom0, .remove("/x/y")) == .ENOENT)  // absent parent
        #expect(h.error(dom0, .remove("/")) == .EINVAL)
        _ = h.write(dom0, "/a/b/c", "1")
        #expect(h.run(dom0, .remove("/a")) == .success(.ok))
        #expect(h.read(dom0, "/a/b/c") == .failure(.ENOENT))
        #expect(h.run(dom0, .directory("/")) == .success(.names(["tool"])))
    }

    @Test func setTargetGrantsTheTargetsRights() {
        var h = Harness()
        let dom0 = h.connect(0)
        let dom7 = h.connect(7)
        _ = h.write(dom0, "/foo", "bar")
        _ = h.run(dom0, .setPermissions("/foo", Harness.perms("r5", "w2", "b3")))
        #expect(h.error(dom7, .write("/foo", Array("bar".utf8))) == .EACCES)
        #expect(h.error(dom0, .setTarget(7, target: 5)) == .ENOENT)  // both must be introduced
        _ = h.run(dom0, .introduce(domid: 5, port: 1))
        _ = h.run(dom0, .introduce(domid: 7, port: 1))
        #expect(h.error(dom7, .setTarget(7, target: 5)) == .EACCES)  // privileged only
        #expect(h.run(dom0, .setTarget(7, target: 5)) == .success(.ok))
        #expect(h.write(dom7, "/foo", "bar") == .success(.ok))
    }

    @Test func domainsAreIsolated() {
        var h = Harness()
        let dom0 = h.connect(0)
        let dom5 = h.connect(5)
        let dom6 = h.connect(6)
        for domid in [5, 6] {
            _ = h.run(dom0, .mkdir("/local/domain/\(domid)"))
            _ = h.run(dom0, .setPermissions("/local/domain/\(domid)", Harness.perms("n\(domid)")))
        }
        #expect(h.write(dom5, "data/secret", "5") == .success(.ok))
        #expect(h.run(dom5, .getPermissions("data/secret")) == .success(.permissions(Harness.perms("n5"))))
        #expect(h.read(dom6, "/local/domain/5/data/secret") == .failure(.EACCES))
        #expect(h.read(dom6, "/local/domain/5/data/absent") == .failure(.EACCES))
        #expect(h.error(dom6, .write("/local/domain/5/x", [])) == .EACCES)
        #expect(h.error(dom6, .remove("/local/domain/5/data")) == .EACCES)
        #expect(h.error(dom6, .directory("/local/domain/5")) == .EACCES)
        #expect(h.read(dom5, "/local/domain/5/data/absent") == .failure(.ENOENT))
        #expect(h.error(dom5, .introduce(domid: 9, port: 1)) == .EACCES)
        #expect(h.error(dom5, .control(["help"])) == .EACCES)
        #expect(h.read(dom0, "/local/domain/5/data/secret") == .success("5"))
    }
}

@Suite struct TransactionTests {
    @Test func transactionsAreIsolated() {
        var h = Harness()
        let dom0 = h.connect(0)
        let tx = h.start(dom0)
        #expect(h.write(dom0, "/foo", "bar", tx: tx) == .success(.ok))
        #expect(h.read(dom0, "/foo", tx: tx) == .success("bar"))
        #expect(h.read(dom0, "/foo") == .failure(.ENOENT))
        #expect(h.run(dom0, .transactionEnd(commit: true), tx: tx) == .success(.ok))
        #expect(h.read(dom0, "/foo") == .success("bar"))
    }

    @Test func independentTransactionsCoalesce() {
        var h = Harness()
        let dom0 = h.connect(0)
        _ = h.run(dom0, .mkdir("/a/b"))
        _ = h.run(dom0, .mkdir("/1/2"))
        let tx1 = h.start(dom0)
        let tx2 = h.start(dom0)
        #expect(h.write(dom0, "/a/b", "foo", tx: tx1) == .success(.ok))
        #expect(h.write(dom0, "/1/2", "foo", tx: tx2) == .success(.ok))
        #expect(h.run(dom0, .transactionEnd(commit: true), tx: tx1) == .success(.ok))
        #expect(h.run(dom0, .transactionEnd(commit: true), tx: tx2) == .success(.ok))
        #expect(h.read(dom0, "/a/b") == .success("foo"))
        #expect(h.read(dom0, "/1/2") == .success("foo"))
    }

    /// Two transactions adding devices under one backend directory: only written, never read,
    /// so both commit (the parent's child list is merged by the replay).
    @Test func deviceCreatingTransactionsCoalesce() {
        var h = Harness()
        let dom0 = h.connect(0)
        _ = h.run(dom0, .mkdir("/local/domain/0/backend/vbd"))
        _ = h.run(dom0, .mkdir("/local/domain/1/device/vbd"))
        _ = h.run(dom0, .mkdir("/local/domain/2/device/vbd"))
        let tx1 = h.start(dom0)
        let tx2 = h.start(dom0)
        _ = h.write(dom0, "/local/domain/0/backend/vbd/1/51712", "hello", tx: tx1)
        _ = h.write(dom0, "/local/domain/1/device/vbd/51712", "there", tx: tx1)
        _ = h.write(dom0, "/local/domain/0/backend/vbd/2/51712", "hello", tx: tx2)
        _ = h.write(dom0, "/local/domain/2/device/vbd/51712", "there", tx: tx2)
        #expect(h.run(dom0, .transactionEnd(commit: true), tx: tx1) == .success(.ok))
        #expect(h.run(dom0, .transactionEnd(commit: true), tx: tx2) == .success(.ok))
        #expect(h.read(dom0, "/local/domain/0/backend/vbd/1/51712") == .success("hello"))
        #expect(h.read(dom0, "/local/domain/0/backend/vbd/2/51712") == .success("hello"))
        #expect(h.run(dom0, .directory("/local/domain/0/backend/vbd")) == .success(.names(["1", "2"])))
    }

    @Test func transactionsReallyConflict() {
        var h = Harness()
        let dom0 = h.connect(0)
        _ = h.run(dom0, .mkdir("/a"))
        let tx = h.start(dom0)
        #expect(h.run(dom0, .directory("/a"), tx: tx) == .success(.names([])))
        _ = h.write(dom0, "/a/b", "hello")  // changes /a, which the transaction read
        _ = h.write(dom0, "/a/b", "there", tx: tx)
        #expect(h.error(dom0, .transactionEnd(commit: true), tx: tx) == .EAGAIN)
        #expect(h.read(dom0, "/a/b") == .success("hello"))
        // The transaction is gone after EAGAIN.
        #expect(h.error(dom0, .transactionEnd(commit: true), tx: tx) == .ENOENT)
    }

    @Test func readModifyWriteConflictAndRepeatableReads() {
        var h = Harness()
        let dom0 = h.connect(0)
        let other = h.connect(0)
        _ = h.write(dom0, "/t", "a")
        let tx = h.start(dom0)
        #expect(h.read(dom0, "/t", tx: tx) == .success("a"))
        _ = h.write(other, "/t", "b")
        #expect(h.read(dom0, "/t", tx: tx) == .success("a"))  // what it read stays
        _ = h.write(dom0, "/t", "c", tx: tx)
        #expect(h.read(dom0, "/t", tx: tx) == .success("c"))
        #expect(h.error(dom0, .transactionEnd(commit: true), tx: tx) == .EAGAIN)
        #expect(h.read(dom0, "/t") == .success("b"))
        // Reading an absent node counts too: creating it meanwhile conflicts.
        let tx2 = h.start(dom0)
        #expect(h.read(dom0, "/new", tx: tx2) == .failure(.ENOENT))
        _ = h.write(other, "/new", "x")
        #expect(h.read(dom0, "/new", tx: tx2) == .failure(.ENOENT))
        #expect(h.error(dom0, .transactionEnd(commit: true), tx: tx2) == .EAGAIN)
    }

    @Test func watchesFireOnlyOnCommit() {
        var h = Harness()
        let dom0 = h.connect(0)
        let watcher = h.connect(0)
        _ = h.run(watcher, .watch("/a", token: "t"))
        #expect(h.takeEvents(watcher) == [event("/a", "t")])
        let tx = h.start(dom0)
        _ = h.write(dom0, "/a/x", "1", tx: tx)
        _ = h.write(dom0, "/a/y", "1", tx: tx)
        #expect(h.takeEvents(watcher) == [])
        _ = h.run(dom0, .transactionEnd(commit: true), tx: tx)
        #expect(h.takeEvents(watcher) == [event("/a/x", "t"), event("/a/y", "t")])
        let aborted = h.start(dom0)
        _ = h.write(dom0, "/a/z", "1", tx: aborted)
        _ = h.run(dom0, .transactionEnd(commit: false), tx: aborted)
        #expect(h.takeEvents(watcher) == [])
        #expect(h.read(dom0, "/a/z") == .failure(.ENOENT))
    }

    @Test func transactionErrorsAndLimits() {
        var quotas = XenstoreQuotas()
        quotas.transactionNodes = 3
        var h = Harness(quotas: quotas)
        let dom0 = h.connect(0)
        let domU = h.connect(4)
        #expect(h.error(dom0, .read("/"), tx: 99) == .ENOENT)  // unknown id
        let tx = h.start(dom0)
        #expect(h.error(dom0, .transactionStart, tx: tx) == .EBUSY)  // no nesting
        // WATCH ignores the transaction id entirely.
        #expect(h.run(dom0, .watch("/w", token: "k"), tx: 12345) == .success(.ok))
        var started = 0
        while case .success = h.run(domU, .transactionStart) { started += 1 }
        #expect(started == 11)  // C 4.17: more than 10 open ⇒ ENOSPC
        // Transaction-nodes quota for unprivileged domains.
        _ = h.run(dom0, .mkdir("/local/domain/4"))
        _ = h.run(dom0, .setPermissions("/local/domain/4", Harness.perms("n4")))
        let other = h.connect(4)
        let small = h.start(other)
        #expect(h.write(other, "a", "1", tx: small) == .success(.ok))
        #expect(h.error(other, .write("b/c/d", []), tx: small) == .ENOSPC)
        let reader = h.start(other)
        for name in ["x", "y", "z"] { #expect(h.read(other, name, tx: reader) == .failure(.ENOENT)) }
        #expect(h.read(other, "x", tx: reader) == .failure(.ENOENT))  // already counted
        #expect(h.error(other, .read("w"), tx: reader) == .ENOSPC)
        #expect(h.error(dom0, .read("/w"), tx: tx) == .ENOENT)  // dom0 is exempt
    }
}
