/// One entry of a node's access list, e.g. `r5` ("dom5 may read").
///
/// In a list, the first entry names the owner and its letter is the access of every domain not
/// listed; later entries grant per-domain access (docs/misc/xenstore.txt).
public struct XenstorePermission: Sendable, Hashable, CustomStringConvertible {
    public enum Access: Sendable, Hashable {
        case none, read, write, both

        var letter: Character {
            switch self {
            case .none: "n"
            case .read: "r"
            case .write: "w"
            case .both: "b"
            }
        }

        var rights: Rights {
            switch self {
            case .none: []
            case .read: .read
            case .write: .write
            case .both: [.read, .write]
            }
        }
    }

    public var domid: UInt32
    public var access: Access

    public init(_ access: Access, _ domid: UInt32) {
        self.access = access
        self.domid = domid
    }

    /// Parses the wire form (`n0`, `r5`, `w6`, `b7`); the domid is strict decimal ≤ 65535.
    public init?(_ text: some StringProtocol) {
        var utf8 = text.utf8.makeIterator()
        switch utf8.next() {
        case UInt8(ascii: "n"): access = .none
        case UInt8(ascii: "r"): access = .read
        case UInt8(ascii: "w"): access = .write
        case UInt8(ascii: "b"): access = .both
        default: return nil
        }
        guard let id = parseDomid(text.utf8.dropFirst()) else { return nil }
        domid = id
    }

    public var description: String { "\(access.letter)\(domid)" }
}

/// Strict decimal domid (0…65535), as master C's `parse_domid`; anything else is rejected.
func parseDomid(_ bytes: some Collection<UInt8>) -> UInt32? {
    guard !bytes.isEmpty, bytes.count <= 5 else { return nil }
    var value: UInt32 = 0
    for byte in bytes {
        guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
        value = value * 10 + UInt32(byte - UInt8(ascii: "0"))
    }
    return value <= 65535 ? value : nil
}

/// What a caller may do to a node. `owner` is never sent on the wire; it gates SET_PERMS.
struct Rights: OptionSet, Sendable {
    let rawValue: UInt8
    static let read = Rights(rawValue: 1)
    static let write = Rights(rawValue: 2)
    static let owner = Rights(rawValue: 4)
    static let all: Rights = [.read, .write, .owner]
}

/// Who is asking: the permission rule needs the domid, whether it is privileged, and the domain
/// it was given the rights of with SET_TARGET (device-model stubdomains).
struct Identity: Sendable {
    var domid: UInt32
    var privileged: Bool
    var target: UInt32?
}

extension Array where Element == XenstorePermission {
    /// Effective rights, C's `perm_for_conn`: privileged callers, the owner and the owner's
    /// SET_TARGET delegate get everything; otherwise the first matching later entry; otherwise
    /// the owner entry's letter is the default.
    func rights(for who: Identity) -> Rights {
        guard let ownerEntry = first else { return [] }
        if who.privileged || ownerEntry.domid == who.domid || (who.target != nil && ownerEntry.domid == who.target) {
            return .all
        }
        for entry in dropFirst() where entry.domid == who.domid || (who.target != nil && entry.domid == who.target) {
            return entry.access.rights
        }
        return ownerEntry.access.rights
    }
}
