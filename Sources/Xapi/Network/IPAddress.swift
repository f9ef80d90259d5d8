import XapiDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// IP address checks as xapi makes them (xen-api ocaml/xapi/helpers.ml): an address is what
/// `inet_pton` reads for its family; a CIDR is an address, `/` and a prefix length the family allows.
enum IPFamily: Sendable {
    case ipv4, ipv6

    private var af: Int32 { self == .ipv4 ? AF_INET : AF_INET6 }
    private var bits: Int { self == .ipv4 ? 32 : 128 }

    func isAddress(_ text: String) -> Bool {
        var buffer = (UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &buffer) { inet_pton(af, text, $0.baseAddress) == 1 }
    }

    /// The address and prefix length of `a.b.c.d/n` (or its IPv6 form), nil if it is not one.
    func parseCIDR(_ text: String) -> (address: String, prefix: Int)? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, isAddress(String(parts[0])), parts[1].allSatisfy(\.isASCII),
              let prefix = Int(parts[1]), (0...bits).contains(prefix) else { return nil }
        return (String(parts[0]), prefix)
    }

    /// `assert_is_valid_ip`.
    func assertAddress(_ text: String, field: String) throws(XapiError) {
        guard isAddress(text) else { throw .invalidIPAddressSpecified(field: field) }
    }

    /// `assert_is_valid_cidr`.
    func assertCIDR(_ text: String, field: String) throws(XapiError) {
        guard parseCIDR(text) != nil else { throw .invalidCIDRAddressSpecified(field: field) }
    }

    /// `assert_is_valid_ip_addr`: an address, or a CIDR.
    func assertAddressOrCIDR(_ text: String, field: String) throws(XapiError) {
        guard isAddress(text) || parseCIDR(text) != nil else { throw .invalidIPAddressSpecified(field: field) }
    }
}
