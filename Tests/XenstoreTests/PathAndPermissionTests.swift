import Testing

@testable import Xenstore

@Suite struct PathTests {
    @Test(arguments: ["/", "/a", "/a/b-c_d@e", "/local/domain/7/data/x", "/A-Z_0@9"])
    func validAbsolutePaths(path: String) throws {
        #expect(try XenstorePath.resolve(path, domid: 0, allowSpecial: false, pathMax: 2048).absolute == path)
    }

    @Test(arguments: ["", "/a/", "/a//b", "//", "/a b", "/a.b", "/a:b", "/ä", "@x", "/a\u{0}b"])
    func invalidPaths(path: String) {
        #expect(throws: XenstoreError.EINVAL) { try XenstorePath.resolve(path, domid: 0, allowSpecial: false, pathMax: 2048) }
    }

    @Test func relativePathsResolveAgainstTheCallersHome() throws {
        let resolved = try XenstorePath.resolve("data/x", domid: 7, allowSpecial: false, pathMax: 2048)
        #expect(resolved.absolute == "/local/domain/7/data/x")
        #expect(resolved.isRelative)
        #expect(try XenstorePath.resolve("x", domid: 0, allowSpecial: false, pathMax: 2048).absolute == "/local/domain/0/x")
    }

    @Test func specialPathsOnlyWhereAllowed() throws {
        #expect(try XenstorePath.resolve("@releaseDomain", domid: 0, allowSpecial: true, pathMax: 2048).isSpecial)
        #expect(throws: XenstoreError.EINVAL) { try XenstorePath.resolve("@releaseDomain", domid: 0, allowSpecial: false, pathMax: 2048) }
    }

    @Test func pathMaxCountsAfterTheDomainHome() throws {
        let long = String(repeating: "a", count: 2048)
        #expect(try XenstorePath.resolve("/local/domain/5/" + long, domid: 0, allowSpecial: false, pathMax: 2048).absolute.count > 2048)
        #expect(throws: XenstoreError.EINVAL) {
            try XenstorePath.resolve("/local/domain/5/" + long + "b", domid: 0, allowSpecial: false, pathMax: 2048)
        }
        #expect(throws: XenstoreError.EINVAL) { try XenstorePath.resolve("/" + long, domid: 0, allowSpecial: false, pathMax: 2048) }
    }

    @Test func parentsAndAncestors() {
        #expect(XenstorePath.parent(of: "/a/b") == "/a")
        #expect(XenstorePath.parent(of: "/a") == "/")
        var seen: [String] = []
        XenstorePath.forEachSelfAndAncestor("/a/b/c") { seen.append($0) }
        #expect(seen == ["/a/b/c", "/a/b", "/a", "/"])
    }
}

@Suite struct PermissionTests {
    @Test func parsesAndFormats() {
        #expect(XenstorePermission("r5") == XenstorePermission(.read, 5))
        #expect(XenstorePermission("b65535")?.description == "b65535")
        for bad in ["", "r", "x5", "r-1", "r65536", "r5x", "n 1"] { #expect(XenstorePermission(bad) == nil) }
    }

    @Test func ownerDefaultAndGrants() {
        let list = Harness.perms("n5", "r2", "b3")
        #expect(list.rights(for: Identity(domid: 5, privileged: false)) == .all)  // owner
        #expect(list.rights(for: Identity(domid: 2, privileged: false)) == .read)
        #expect(list.rights(for: Identity(domid: 3, privileged: false)) == [.read, .write])
        #expect(list.rights(for: Identity(domid: 9, privileged: false)) == [])  // default: n
        #expect(list.rights(for: Identity(domid: 0, privileged: true)) == .all)
        #expect(Harness.perms("r5").rights(for: Identity(domid: 9, privileged: false)) == .read)
        // SET_TARGET: dom9 acts with dom5's rights, owner included.
        #expect(list.rights(for: Identity(domid: 9, privileged: false, target: 5)) == .all)
    }
}
