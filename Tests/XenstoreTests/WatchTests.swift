import Testing

@testable import Xenstore

@Suite struct WatchTests {
    @Test func writesFireAndReadsDoNot() {
        var h = Harness()
        let dom0 = h.connect(0)
        let dom1 = h.connect(1)
        _ = h.run(dom0, .mkdir("/a"))
        _ = h.run(dom0, .setPermissions("/a", Harness.perms("b0")))
        #expect(h.takeEvents(dom0) == [])
        _ = h.run(dom0, .watch("/a", token: "token"))
        #expect(h.takeEvents(dom0) == [event("/a", "token")])  // fires once at registration
        _ = h.write(dom0, "/a", "foo")
        #expect(h.takeEvents(dom0) == [event("/a", "token")])  // its own write
        _ = h.write(dom1, "/a", "foo")
        #expect(h.takeEvents(dom0) == [event("/a", "token")])  // a domU's write
        _ = h.read(dom0, "/a")
        _ = h.read(dom0, "/a/1")
        _ = h.read(dom1, "/a")
        _ = h.run(dom0, .mkdir("/a"))  // exists already: nothing changes
        #expect(h.takeEvents(dom0) == [])
    }

    @Test func matchingIsByWholeComponentsAndCoversDescendants() {
        var h = Harness()
        let dom0 = h.connect(0)
        _ = h.run(dom0, .watch("/probe/w", token: "w"))
        _ = h.run(dom0, .watch("/", token: "root"))
        _ = h.takeEvents(dom0)
        _ = h.write(dom0, "/probe/wz", "x")
        #expect(h.takeEvents(dom0) == [event("/probe/wz", "root")])
        _ = h.write(dom0, "/probe/w/x/y", "x")
        #expect(Set(h.takeEvents(dom0)) == [event("/probe/w/x/y", "w"), event("/probe/w/x/y", "root")])
        _ = h.run(dom0, .setPermissions("/probe/w/x", Harness.perms("r0")))
        #expect(Set(h.takeEvents(dom0)) == [event("/probe/w/x", "w"), event("/probe/w/x", "root")])
    }

    @Test func removalFiresPerDeletedNode() {
        var h = Harness()
        let dom0 = h.connect(0)
        _ = h.write(dom0, "/d/a/b", "1")
        _ = h.run(dom0, .watch("/d", token: "root"))
        _ = h.run(dom0, .watch("/d/a/b", token: "leaf"))
        _ = h.run(dom0, .watch("/d/a/absent", token: "absent"))
        _ = h.takeEvents(dom0)
        _ = h.run(dom0, .remove("/d"))
        // Subtree match at the removed root, exact match for each deleted descendant (C).
        #expect(h.takeEvents(dom0) == [event("/d/a/b", "leaf"), event("/d", "root")])
    }

    @Test func relativeWatchesReportRelativePaths() {
        var h = Harness()
        let dom0 = h.connect(0)
        _ = h.write(dom0, "/local/domain/0/name", "")
        _ = h.write(dom0, "/local/domain/0/device", "")
        _ = h.run(dom0, .watch("device", token: "token"))
        #expect(h.takeEvents(dom0) == [event("device", "token")])
        _ = h.write(dom0, "/local/domain/0/device/vbd", "hello")
        #expect(h.takeEvents(dom0) == [event("device/vbd", "token")])
        _ = h.run(dom0, .unwatch("device", token: "token"))
        _ = h.write(dom0, "/local/domain/0/device/vbd", "again")
        #expect(h.takeEvents(dom0) == [])
    }

    @Test func eventsNeedReadPermission() {
        var h = Harness()
        let dom0 = h.connect(0)
        let dom1 = h.connect(1)
        _ = h.run(dom1, .watch("/a", token: "token"))
        #expect(h.takeEvents(dom1) == [event("/a", "token")])
        _ = h.write(dom0, "/a", "hello")
        #expect(h.read(dom1, "/a") == .failure(.EACCES))
        #expect(h.takeEvents(dom1) == [])
        // Readable: delivered. Readable only through the parent: delivered.
        _ = h.run(dom0, .setPermissions("/a", Harness.perms("n0", "r1")))
        #expect(h.takeEvents(dom1) == [event("/a", "token")])
        _ = h.write(dom0, "/a/private", "x")
        _ = h.run(dom0, .setPermissions("/a/private", Harness.perms("n0")))
        #expect(h.takeEvents(dom1) == [event("/a/private", "token"), event("/a/private", "token")])
        // Neither the node nor its parent readable: nothing.
        _ = h.write(dom0, "/a/private/deeper", "x")
        #expect(h.takeEvents(dom1) == [])
        // Losing read access still reports the change that took it away (old permissions count).
        _ = h.run(dom0, .setPermissions("/a", Harness.perms("n0")))
        #expect(h.takeEvents(dom1) == [event("/a", "token")])
    }

    @Test func duplicatesQuotaAndReset() {
        var quotas = XenstoreQuotas()
        quotas.watchesPerDomain = 2
        var h = Harness(quotas: quotas)
        let dom3 = h.connect(3)
        #expect(h.run(dom3, .watch("/x", token: "a")) == .success(.ok))
        #expect(h.error(dom3, .watch("/x", token: "a")) == .EEXIST)
        #expect(h.run(dom3, .watch("/x", token: "b")) == .success(.ok))
        #expect(h.run(dom3, .watch("/y", token: "a")) == .success(.ok))  // count 2 is not above 2
        #expect(h.error(dom3, .watch("/z", token: "a")) == .E2BIG)
        #expect(h.error(dom3, .unwatch("/x", token: "zzz")) == .ENOENT)
        #expect(h.run(dom3, .resetWatches) == .success(.ok))
        #expect(h.run(dom3, .watch("/z", token: "a")) == .success(.ok))
        // dom0 has no watch quota.
        let dom0 = h.connect(0)
        for index in 0..<10 { #expect(h.run(dom0, .watch("/q\(index)", token: "t")) == .success(.ok)) }
    }

    @Test func introduceAndReleaseFireSpecialWatches() {
        var h = Harness()
        let dom0 = h.connect(0)
        let dom5 = h.connect(5)
        _ = h.run(dom0, .watch("@introduceDomain", token: "in"))
        _ = h.run(dom0, .watch("@releaseDomain", token: "out"))
        _ = h.run(dom5, .watch("@releaseDomain", token: "guest"))
        _ = h.takeEvents(dom0)
        _ = h.takeEvents(dom5)
        #expect(h.run(dom0, .introduce(domid: 7, port: 3)) == .success(.ok))
        #expect(h.takeEvents(dom0) == [event("@introduceDomain", "in")])
        #expect(h.run(dom0, .introduce(domid: 7, port: 4)) == .success(.ok))
        #expect(h.takeEvents(dom0) == [])  // re-introduce: no event
        #expect(h.run(dom0, .isIntroduced(7)) == .success(.bool(true)))
        _ = h.run(dom0, .release(7))
        #expect(h.takeEvents(dom0) == [event("@releaseDomain", "out")])
        #expect(h.takeEvents(dom5) == [])  // not granted read on @releaseDomain
        // Grant dom5 the special event, as SET_PERMS on the special path does.
        #expect(h.run(dom0, .setPermissions("@releaseDomain", Harness.perms("n0", "r5"))) == .success(.ok))
        #expect(h.run(dom0, .getPermissions("@releaseDomain")) == .success(.permissions(Harness.perms("n0", "r5"))))
        _ = h.run(dom0, .introduce(domid: 8, port: 3))
        _ = h.run(dom0, .release(8))
        #expect(h.takeEvents(dom5) == [event("@releaseDomain", "guest")])
        #expect(h.error(dom0, .release(8)) == .ENOENT)
        #expect(h.error(dom0, .release(0)) == .EINVAL)
        #expect(h.error(dom0, .resume(8)) == .ENOENT)
        #expect(h.error(dom0, .introduce(domid: 9, port: 0)) == .EINVAL)
        #expect(h.error(dom0, .getPermissions("@other")) == .EINVAL)
        #expect(h.error(dom0, .write("@introduceDomain", [])) == .EINVAL)
    }

    @Test func releaseClosesTheDomainsConnectionsAndRemovesItsNodes() {
        var h = Harness()
        let dom0 = h.connect(0)
        let guest = h.connect(7)
        _ = h.run(dom0, .introduce(domid: 7, port: 1))
        _ = h.run(dom0, .mkdir("/local/domain/7"))
        _ = h.run(dom0, .setPermissions("/local/domain/7", Harness.perms("n7")))
        _ = h.write(guest, "data/x", "1")
        _ = h.run(guest, .watch("data", token: "g"))
        _ = h.run(dom0, .watch("/local/domain/7/data", token: "d0"))
        _ = h.takeEvents(dom0)
        _ = h.run(dom0, .release(7))
        #expect(h.closed == [guest])
        #expect(h.read(dom0, "/local/domain/7") == .failure(.ENOENT))
        #expect(h.takeEvents(dom0).contains(event("/local/domain/7/data", "d0")))
        #expect(h.error(guest, .read("/")) == .ECONNRESET)
        #expect(h.state.domains.watchCounts[7] == nil)
    }

    /// RELEASE finds a domain's nodes through the per-owner index: wherever they are, however
    /// ownership moved, and not nodes whose ownership a failed transaction never changed.
    @Test func releaseRemovesExactlyTheNodesTheDomainOwns() {
        var h = Harness()
        let dom0 = h.connect(0)
        _ = h.run(dom0, .introduce(domid: 9, port: 1))
        for path in ["/local/domain/9", "/backend/vbd/9/51712/frontend-copy", "/other/kept", "/other/given-back"] {
            _ = h.run(dom0, .mkdir(path))
        }
        _ = h.run(dom0, .setPermissions("/local/domain/9", Harness.perms("n9")))
        _ = h.run(dom0, .setPermissions("/backend/vbd/9", Harness.perms("n9")))
        _ = h.run(dom0, .setPermissions("/other/given-back", Harness.perms("n9")))
        _ = h.run(dom0, .setPermissions("/other/given-back", Harness.perms("n0")))
        // Given inside a transaction that is then abandoned: the index must forget it.
        guard case .success(.transaction(let tx)) = h.run(dom0, .transactionStart) else {
            Issue.record("no transaction")
            return
        }
        _ = h.run(dom0, .setPermissions("/other/kept", Harness.perms("n9")), tx: tx)
        _ = h.run(dom0, .transactionEnd(commit: false), tx: tx)
        _ = h.run(dom0, .release(9))
        #expect(h.read(dom0, "/local/domain/9") == .failure(.ENOENT))
        #expect(h.read(dom0, "/backend/vbd/9") == .failure(.ENOENT))
        #expect(h.read(dom0, "/backend/vbd") == .success(""))
        #expect(h.read(dom0, "/other/kept") == .success(""))
        #expect(h.read(dom0, "/other/given-back") == .success(""))
    }
}
