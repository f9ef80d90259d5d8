/// Domain identities the store knows about. dom0 is introduced at start (C's `dom0_init`);
/// guests are introduced by INTRODUCE and forgotten by RELEASE.
struct DomainTable: Sendable {
    struct Domain: Sendable {
        var port: Int
        /// SET_TARGET: this domain acts with the rights of `target` (device-model stubdomains).
        var target: UInt32?
        /// Set when the guest shut down (fires @releaseDomain once); RESUME clears it.
        var shutdown = false
    }

    /// `DOMID_SELF`: IS_DOMAIN_INTRODUCED answers T for it.
    static let domidSelf: UInt32 = 0x7FF0

    var introduced: [UInt32: Domain] = [0: Domain(port: 1)]
    /// Who receives `@introduceDomain` / `@releaseDomain` events (SET_PERMS on the special path).
    var introducePermissions = [XenstorePermission(.none, 0)]
    var releasePermissions = [XenstorePermission(.none, 0)]
    /// Watches per domain, for the watch quota (C counts per domain).
    var watchCounts: [UInt32: Int] = [:]

    static let introduceDomain = "@introduceDomain"
    static let releaseDomain = "@releaseDomain"

    func specialPermissions(_ name: String) -> [XenstorePermission]? {
        switch name {
        case Self.introduceDomain: introducePermissions
        case Self.releaseDomain: releasePermissions
        default: nil
        }
    }

    mutating func setSpecialPermissions(_ name: String, _ permissions: [XenstorePermission]) {
        if name == Self.introduceDomain { introducePermissions = permissions } else { releasePermissions = permissions }
    }

    /// Drops grants naming a released domain, as C's `remove_domid_from_perm` (the owner entry stays).
    mutating func forget(_ domid: UInt32) {
        introduced[domid] = nil
        introducePermissions = [introducePermissions[0]] + introducePermissions.dropFirst().filter { $0.domid != domid }
        releasePermissions = [releasePermissions[0]] + releasePermissions.dropFirst().filter { $0.domid != domid }
    }
}
