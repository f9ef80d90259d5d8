import XapiDB

/// The network interfaces dom0 sees on a simulated host, as xcp-networkd reports them to xapi
/// (`Net.Interface`: device, MAC, MTU; biosdevname's position for the bridge's name): four
/// Intel ports, eth0 the management one, their MACs told apart by the host's uuid.
/// `PIF.scan` and `PIF.introduce` read them.
enum HostNICs {
    struct Interface: Sendable {
        let device: String
        let mac: String
        let mtu: Int64
        let position: Int

        /// xapi_pif.ml `bridge_naming_convention`: `xenbr<position>`.
        var bridge: String { "xenbr\(position)" }
    }

    static func interfaces(ofHost uuid: String) -> [Interface] {
        // Intel's prefix, then two bytes and a nibble of the host's uuid, then the port.
        let hex = Array(uuid.lowercased().filter(\.isHexDigit)) + Array(repeating: "0", count: 5)
        let prefix = "a0:36:9f:\(hex[0])\(hex[1]):\(hex[2])\(hex[3]):\(hex[4])"
        return (0..<4).map { n in
            Interface(device: "eth\(n)", mac: prefix + String(n, radix: 16), mtu: 1500, position: n)
        }
    }

    static func named(_ device: String, onHost uuid: String) -> Interface? {
        interfaces(ofHost: uuid).first { $0.device == device }
    }

    /// The NICs of the host `host` (a database ref).
    static func interfaces(of host: String, in s: DatabaseState, _ t: Tables) throws(XapiError) -> [Interface] {
        interfaces(ofHost: try s.get(t.host, host, .uuid).stringValue ?? "")
    }
}
