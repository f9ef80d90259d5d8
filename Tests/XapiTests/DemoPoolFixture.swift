import Logging
@testable import Xapi
@testable import XapiDB

/// An API without hypervisors over a demo pool of several hosts, for rules that only read and
/// write the database (placement, evacuation plans).
struct DemoPoolFixture {
    let api: XenAPI
    let t: Tables
    /// The hosts in the order their uuids were given: the master first.
    let hosts: [String]

    init(hosts count: Int, vms: Int) throws {
        api = XenAPI(database: Database(), configuration: XapiConfiguration(password: "pw"), logger: Logger(label: "test"))
        let uuids = (0..<count).map { _ in Identifiers.uuid() }
        try DemoPool.createIfEmpty(in: api, options: .init(vms: vms, hosts: uuids))
        t = api.tables
        let tables = t
        hosts = api.database.read { s in uuids.map { try! s.ref(uuid: $0, in: tables.host) } }
    }

    /// The ordinary VMs (not templates, not control domains), by ref.
    func guests() -> [String] {
        let t = t
        return api.database.read { s in
            s.refs(t.vm).filter { (try? s.get(t.vm, $0, .isATemplate)) == .bool(false) && (try? s.get(t.vm, $0, .isControlDomain)) == .bool(false) }.sorted()
        }
    }
}
