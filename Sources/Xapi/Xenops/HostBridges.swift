import Synchronization
public import Wire
public import XapiDB
public import Xenops

/// A host whose xenopsd runs in this process: its identity (the inventory's
/// `INSTALLATION_UUID`, which its `host` row carries) and its Xenops.
public struct SimulatedHost: Sendable {
    public let uuid: String
    public let xenops: Xenops
    /// Where its xenstore listens for clients, if it does (named in `GET /diagnostics`).
    public let xenstoreSocket: String?

    public init(uuid: String, xenops: Xenops, xenstoreSocket: String? = nil) {
        self.uuid = uuid
        self.xenops = xenops
        self.xenstoreSocket = xenstoreSocket
    }
}

/// xapi's link to every xenopsd of the pool this process runs: one bridge, and so one events
/// loop, per host (xapi runs an events loop on each host against that host's xenopsd). A host
/// is found by its uuid; the first is the one that stands for the master when the database
/// has no host of its uuid.
public final class HostBridges: Sendable {
    public let all: [XenopsBridge]
    private let byUUID: [String: XenopsBridge]

    init(_ all: [XenopsBridge]) {
        self.all = all
        byUUID = Dictionary(all.map { ($0.hostUUID, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The bridge of the xenopsd on `host`, nil when no xenopsd of this process runs there.
    func bridge(onHost host: String, in s: DatabaseState, _ t: Tables) -> XenopsBridge? {
        guard s.contains(t.host, host) else { return nil }
        if let uuid = try? s.get(t.host, host, .uuid).stringValue, let bridge = byUUID[uuid] { return bridge }
        if let first = all.first, first.standsForMaster, first.host(in: s) == host { return first }
        return nil
    }

    /// As `bridge(onHost:in:_:)`, but `HOST_OFFLINE` when no xenopsd of this process runs there.
    func requireBridge(onHost host: String, in s: DatabaseState, _ t: Tables) throws(XapiError) -> XenopsBridge {
        guard let bridge = bridge(onHost: host, in: s, t) else { throw .hostOffline(host: host) }
        return bridge
    }

    /// `GET /diagnostics`: the first host's document at the top (as before there were several),
    /// and every host's under `hosts`, each with its uuid, its ref and its xenstore's socket.
    public func diagnostics(in database: Database, _ t: Tables) -> JSON {
        let documents: [JSON] = all.map { bridge in
            let host = database.read { s in bridge.host(in: s) }
            var members: [JSON.Member] = [.init("uuid", .string(bridge.hostUUID)), .init("ref", host.map(JSON.string) ?? .null),
                                          .init("xenstore_socket", bridge.xenstoreSocket.map(JSON.string) ?? .null)]
            if case .object(let engine) = bridge.diagnostics() { members += engine }
            return .object(members)
        }
        guard case .object(let first)? = documents.first else { return .object([]) }
        return .object(first.filter { !["uuid", "ref", "xenstore_socket"].contains($0.key) } + [.init("hosts", .array(documents))])
    }

    /// The hosts with a xenopsd in this process, as database refs (those whose row exists).
    func hosts(in s: DatabaseState) -> [String] {
        all.compactMap { $0.host(in: s) }
    }
}

extension HostBridges {
    /// `body` as foreground work for VM `uuid` (`XenopsBridge.foreground`): its lane is served
    /// first on every host's events loop (a migration's VM has signals on two), and the
    /// PriorityGate — one per process, since the simulated hosts share its CPUs — holds other
    /// VMs' background work back.
    func foreground<R>(vm uuid: String, _ body: () async throws -> R) async rethrows -> R {
        guard let first = all.first else { return try await body() }
        let lane = LaneKey.vm(uuid)
        for bridge in all { bridge.lanes.focus(lane) }
        defer { for bridge in all { bridge.lanes.unfocus(lane) } }
        return try await first.xenops.priority.foreground(key: uuid, body)
    }
}
