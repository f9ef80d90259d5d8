/// A request to the store, independent of how it arrived (socket frame or in-process call).
/// Paths are as the client wrote them (possibly relative); the store resolves them.
enum XenstoreRequest: Sendable {
    case read(String)
    case write(String, [UInt8])
    case mkdir(String)
    case remove(String)
    case directory(String)
    /// DIRECTORY_PART: a byte offset into the NUL-separated child list.
    case directoryPart(String, offset: Int)
    case getPermissions(String)
    case setPermissions(String, [XenstorePermission])
    case watch(String, token: String)
    case unwatch(String, token: String)
    case transactionStart
    case transactionEnd(commit: Bool)
    case introduce(domid: UInt32, port: Int)
    case release(UInt32)
    case isIntroduced(UInt32)
    case getDomainPath(UInt32)
    case resume(UInt32)
    case setTarget(UInt32, target: UInt32)
    case resetWatches
    case control([String])
    /// A frame of a known type whose arguments do not parse. It still goes through the
    /// privilege and transaction checks first, so errors come in C's order (EACCES, ENOENT,
    /// then EINVAL).
    case malformed(privileged: Bool, ignoresTransaction: Bool)

    /// Privileged-only types (C's `XS_FLAG_PRIV`); others get EACCES.
    var isPrivileged: Bool {
        switch self {
        case .control, .introduce, .release, .isIntroduced, .resume, .setTarget: true
        case .malformed(let privileged, _): privileged
        default: false
        }
    }

    /// WATCH and UNWATCH ignore the header's transaction id (`XS_FLAG_NOTID`).
    var ignoresTransaction: Bool {
        switch self {
        case .watch, .unwatch: true
        case .malformed(_, let ignores): ignores
        default: false
        }
    }
}

/// A successful answer.
enum XenstoreReply: Sendable, Equatable {
    case ok
    case value([UInt8])
    case names([String])
    case permissions([XenstorePermission])
    case transaction(UInt32)
    case bool(Bool)
    /// A string answer the wire sends NUL-terminated (domain path, CONTROL output).
    case text(String)
    /// An answer already in wire form (DIRECTORY_PART).
    case raw([UInt8])
}
