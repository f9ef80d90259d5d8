public import XapiDB

/// A storage driver this server simulates, as SM's driver query describes one: its identity, the
/// features it reports (`NAME` or `NAME/VERSION`) and its device-config keys. xapi learns its
/// drivers from the plugins it finds at start (xen-api ocaml/xapi/xapi_sm.ml) and gates VDI and SR
/// operations on their features (ocaml/xapi/xapi_vdi.ml `check_sm_feature_error`); the SM records
/// here come from the same list, so a feature is only reported where the simulation implements it.
struct StorageDriver: Sendable {
    let type: String
    let name: String
    let description: String
    let vendor: String
    let copyright: String
    let version: String
    let filename: String
    let reportedFeatures: [String]
    let configuration: [String: String]
    /// Granularity of virtual sizes: VHD-based drivers round a size up to whole 2 MiB blocks.
    let sizeGranularity: Int64

    /// `features` as SM records hold them: name → version, 1 where the driver names none.
    var features: [String: Int64] {
        Dictionary(reportedFeatures.map { entry in
            let parts = entry.split(separator: "/", maxSplits: 1)
            return (String(parts[0]), parts.count == 2 ? Int64(parts[1]) ?? 1 : 1)
        }, uniquingKeysWith: max)
    }

    func has(_ feature: String) -> Bool { features[feature] != nil }

    /// `size` rounded up to the driver's granularity.
    func rounded(_ size: Int64) -> Int64 {
        let (blocks, rest) = size.quotientAndRemainder(dividingBy: sizeGranularity)
        return (blocks + (rest > 0 ? 1 : 0)) * sizeGranularity
    }

    /// Local VHD files on an ext filesystem (SM's EXTSR), the demo host's local storage.
    static let ext = StorageDriver(
        type: "ext", name: "Local EXT3 VHD",
        description: "SR plugin which represents disks as VHD files stored on a local EXT3 filesystem, created inside an LVM volume",
        vendor: "Citrix Systems Inc", copyright: "(C) 2008 Citrix Systems Inc", version: "1.0",
        filename: "/opt/xensource/sm/EXTSR",
        reportedFeatures: ["SR_PROBE", "SR_UPDATE", "VDI_CREATE", "VDI_DELETE", "VDI_ATTACH", "VDI_DETACH",
                           "VDI_UPDATE", "VDI_CLONE", "VDI_SNAPSHOT", "VDI_RESIZE", "VDI_GENERATE_CONFIG",
                           "VDI_ACTIVATE", "VDI_DEACTIVATE", "THIN_PROVISIONING"],
        configuration: ["device": "local device path (required) (e.g. /dev/sda3)"],
        sizeGranularity: 2 << 20)

    /// A library of ISO images (SM's ISOSR): read-only disks that cannot be resized or cloned.
    static let iso = StorageDriver(
        type: "iso", name: "ISO", description: "Handles CD images stored as files in iso format",
        vendor: "Citrix Systems Inc", copyright: "(C) 2008 Citrix Systems Inc", version: "1.0",
        filename: "/opt/xensource/sm/ISOSR",
        reportedFeatures: ["VDI_CREATE", "VDI_DELETE", "VDI_ATTACH", "VDI_DETACH", "SR_SCAN", "SR_ATTACH", "SR_DETACH"],
        configuration: ["location": "path to mount (required)"],
        sizeGranularity: 1)

    static let all: [StorageDriver] = [.ext, .iso]

    static func named(_ type: String) -> StorageDriver? { all.first { $0.type == type } }
}

extension XenAPI {
    /// As xapi at start: one `SM` record per driver, created or brought up to date, and records
    /// of drivers this server no longer has removed.
    public func registerStorageDrivers() throws(XapiError) {
        let t = tables
        try database.write { s throws(XapiError) in
            var existing: [String: String] = [:]
            for (ref, row) in s.rows(t.sm) {
                guard let type = row.fields[t.sm[.type]].stringValue else { continue }
                if StorageDriver.named(type) == nil || existing[type] != nil {
                    try s.delete(t.sm, ref)
                } else {
                    existing[type] = ref
                }
            }
            for driver in StorageDriver.all {
                let fields: [SMField: Value] = [
                    .nameLabel: .string(driver.name), .nameDescription: .string(driver.description),
                    .type: .string(driver.type), .vendor: .string(driver.vendor), .copyright: .string(driver.copyright),
                    .version: .string(driver.version), .requiredAPIVersion: .string("1.0"),
                    .configuration: .structure(Structure(driver.configuration.sorted { $0.key < $1.key }
                        .map { .init(key: $0.key, value: .string($0.value)) })),
                    .capabilities: .array(driver.features.keys.sorted().map(Value.string)),
                    .features: .structure(Structure(driver.features.sorted { $0.key < $1.key }
                        .map { .init(key: $0.key, value: .int($0.value)) })),
                    .driverFilename: .string(driver.filename),
                ]
                if let ref = existing[driver.type] {
                    for (field, value) in fields { try s.update(t.sm, ref, field, value) }
                } else {
                    try s.create(t.sm.table, Dictionary(uniqueKeysWithValues: fields.map { ($0.key.rawValue, $0.value) }))
                }
            }
        }
    }
}
