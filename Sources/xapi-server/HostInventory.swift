import Foundation
import Xapi
import XapiDB

/// The identities of the hosts this process simulates, kept as each XenServer host keeps its
/// own in `/etc/xensource-inventory` (`INSTALLATION_UUID`): one line `host-<n>=<uuid>` per
/// host in the state directory, so that a restart finds each host's row again. The first is
/// the master's; a state directory from before there were several hosts takes its master's
/// uuid from the database. Entries beyond `--hosts` are kept, so a pool started again with
/// more hosts finds its old members.
struct HostInventory {
    let uuids: [String]

    init(path: String?, database: Database, hosts: Int) throws {
        var kept: [Int: String] = [:]
        if let path, let text = try? String(contentsOfFile: path, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, parts[0].hasPrefix("host-"), let n = Int(parts[0].dropFirst(5)), n >= 1,
                      !parts[1].isEmpty else { continue }
                kept[n] = parts[1]
            }
        }
        let before = kept
        if kept[1] == nil, let master = XenAPI.masterUUID(in: database) { kept[1] = master }
        for n in 1...hosts where kept[n] == nil { kept[n] = Identifiers.uuid() }
        uuids = (1...hosts).map { kept[$0]! }
        if let path, kept != before {
            let text = kept.keys.sorted().map { "host-\($0)=\(kept[$0]!)\n" }.joined()
            guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw InventoryError.cannotWrite(path)
            }
        }
    }

    /// A member's xenstore socket, beside the master's: `xenstored.sock` → `xenstored-2.sock`.
    static func memberSocket(_ master: String, index: Int) -> String {
        let url = URL(fileURLWithPath: master)
        let ext = url.pathExtension
        let base = url.deletingPathExtension().lastPathComponent + "-\(index + 1)"
        return url.deletingLastPathComponent().appendingPathComponent(ext.isEmpty ? base : base + "." + ext).path
    }

    enum InventoryError: Error, CustomStringConvertible {
        case cannotWrite(String)
        var description: String {
            switch self {
            case .cannotWrite(let path): "cannot write the host inventory \(path)"
            }
        }
    }
}
