import XapiDB

/// The network interfaces dom0 sees on the simulated host, as xcp-networkd reports them to xapi
/// (`Net.Interface`: device, MAC, MTU; biosdevname's position for the bridge's name): four
/// Intel ports, eth0 the management one. `PIF.scan` and `PIF.introduce` read them.
enum HostNICs {
    struct Interface: Sendable {
        let device: String
        let mac: String
        let mtu: Int64
        let position: Int

        /// xapi_pif.ml `bridge_naming_convention`: `xenbr<position>`.
        var bridge: String { "xenbr\(position)" }
    }

    static let interfaces: [Interface] = (0..<4).map { n in
        Interface(device: "eth\(n)", mac: "a0:36:9f:5c:1e:" + (n < 16 ? "0" : "") + String(n, radix: 16), mtu: 1500, position: n)
    }

    static func named(_ device: String) -> Interface? { interfaces.first { $0.device == device } }
}
