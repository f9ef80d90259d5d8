/// A request path after validation and resolution against the caller's home directory.
///
/// Relative paths are resolved against `/local/domain/<domid>` (as both reference daemons do for
/// every caller, including dom0 on the socket); watches remember that they were relative so that
/// their events can be reported relative again.
struct ResolvedPath: Sendable, Hashable {
    /// Absolute node path (`/a/b`) or special name (`@releaseDomain`).
    let absolute: String
    /// The caller wrote a relative path.
    let isRelative: Bool

    var isSpecial: Bool { absolute.utf8.first == UInt8(ascii: "@") }
}

/// Path rules of xenstore (docs/misc/xenstore.txt; C `is_valid_nodename`, `canonicalize`).
enum XenstorePath {
    /// `XENSTORE_ABS_PATH_MAX`.
    static let absoluteMax = 3072
    /// `XENSTORE_REL_PATH_MAX`, also the cap on special names.
    static let relativeMax = 2048

    static func home(of domid: UInt32) -> String { "/local/domain/\(domid)" }

    /// Validates `raw` and makes it absolute.
    ///
    /// - Parameters:
    ///   - allowSpecial: only WATCH, UNWATCH, GET_PERMS and SET_PERMS accept `@name`.
    ///   - pathMax: the path-max quota, counted after a leading `/local/domain/<id>/` as C 4.17
    ///     does for every caller.
    static func resolve(
        _ raw: String, domid: UInt32, allowSpecial: Bool, pathMax: Int
    ) throws(XenstoreError) -> ResolvedPath {
        let bytes = raw.utf8
        guard let first = bytes.first else { throw .EINVAL }
        if first == UInt8(ascii: "@") {
            guard allowSpecial, bytes.count <= relativeMax, validCharacters(bytes) else { throw .EINVAL }
            return ResolvedPath(absolute: raw, isRelative: false)
        }
        let relative = first != UInt8(ascii: "/")
        let absolute = relative ? home(of: domid) + "/" + raw : raw
        guard isValidNodeName(absolute, pathMax: pathMax) else { throw .EINVAL }
        return ResolvedPath(absolute: absolute, isRelative: relative)
    }

    static func isValidNodeName(_ path: String, pathMax: Int) -> Bool {
        let bytes = path.utf8
        guard bytes.first == UInt8(ascii: "/"), bytes.count <= absoluteMax else { return false }
        if bytes.count > 1 && bytes.last == UInt8(ascii: "/") { return false }
        var previousSlash = false
        for byte in bytes {
            let slash = byte == UInt8(ascii: "/")
            if slash && previousSlash { return false }
            previousSlash = slash
        }
        guard bytes.count <= localDomainPrefixLength(bytes) + pathMax else { return false }
        return validCharacters(bytes)
    }

    /// Length of a leading `/local/domain/<1-5 digits>/`, or 0 (C's `sscanf("/local/domain/%5u/%n")`).
    private static func localDomainPrefixLength(_ bytes: String.UTF8View) -> Int {
        let prefix = "/local/domain/".utf8
        guard bytes.starts(with: prefix) else { return 0 }
        var index = bytes.index(bytes.startIndex, offsetBy: prefix.count)
        var digits = 0
        while index != bytes.endIndex, digits < 5, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
            digits += 1
            index = bytes.index(after: index)
        }
        guard digits > 0, index != bytes.endIndex, bytes[index] == UInt8(ascii: "/") else { return 0 }
        return prefix.count + digits + 1
    }

    private static func validCharacters(_ bytes: String.UTF8View) -> Bool {
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "/"), UInt8(ascii: "_"), UInt8(ascii: "@"):
                continue
            default:
                return false
            }
        }
        return true
    }

    /// Parent of an absolute path other than `/`; the parent of `/x` is `/`.
    static func parent(of path: String) -> String {
        let bytes = path.utf8
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")), slash != bytes.startIndex else { return "/" }
        return String(path[..<slash])
    }

    /// Last component of an absolute path other than `/`.
    static func basename(of path: String) -> String {
        let bytes = path.utf8
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return path }
        return String(path[bytes.index(after: slash)...])
    }

    static func child(of parent: String, named name: String) -> String {
        parent == "/" ? "/" + name : parent + "/" + name
    }

    /// Calls `body` with `path` and each of its ancestors, nearest first, ending with `/`.
    static func forEachSelfAndAncestor(_ path: String, _ body: (String) -> Void) {
        body(path)
        var current = path
        while current != "/" {
            current = parent(of: current)
            body(current)
        }
    }
}
