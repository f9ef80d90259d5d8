/// A xenstore failure, named after the errno string that travels on the wire (`xsd_errors[]` in
/// `xs_wire.h`), so the socket front end can send `rawValue` as-is and in-process callers see the
/// same names a C client would.
public enum XenstoreError: String, Error, Sendable, Hashable, CaseIterable {
    case EINVAL
    case EACCES
    case EEXIST
    case EISDIR
    case ENOENT
    case ENOMEM
    case ENOSPC
    case EIO
    case ENOTEMPTY
    case ENOSYS
    case EROFS
    case EBUSY
    case EAGAIN
    case EISCONN
    case E2BIG
    case EPERM
    /// The connection was closed (by `close()`, by RELEASE of its domain, or by shutdown). Never
    /// sent on the wire: a socket client sees its connection reset instead.
    case ECONNRESET
}
