public import XapiDB

/// The pool a fresh state directory starts with: what XenServer's first boot would leave plus a
/// few VMs — hosts with metrics, CPUs, NICs, a control domain and local storage each; an ISO
/// library; with several hosts, a shared NFS SR plugged on all of them that holds the VMs'
/// disks; networks with PIFs on every host, the usual templates, and `vms` halted VMs each with
/// a disk, an empty CD drive and a network interface.
public enum DemoPool {
    public struct Options: Sendable {
        public var vms: Int
        public var hostname: String
        public var address: String
        /// The uuids of the hosts the pool has (their inventories'), the master's first; one
        /// made up when empty.
        public var hosts: [String]

        public init(vms: Int, hostname: String = "xapi-swift", address: String = "127.0.0.1", hosts: [String] = []) {
            self.vms = vms
            self.hostname = hostname
            self.address = address
            self.hosts = hosts
        }

        var hostUUIDs: [String] { hosts.isEmpty ? [Identifiers.uuid()] : hosts }

        /// The n-th host's name: the first takes `hostname`, the others a number after it.
        func hostname(_ index: Int) -> String { index == 0 ? hostname : "\(hostname)-\(index + 1)" }
    }

    /// Builds the pool unless the database already has one, and adds the hosts it lacks to one it
    /// has (a state directory started again with more `--hosts`); returns whether it built one.
    @discardableResult
    public static func createIfEmpty(in api: XenAPI, options: Options) throws(XapiError) -> Bool {
        let t = api.tables
        return try api.database.write { s throws(XapiError) in
            guard s.count(t.pool) == 0 else {
                try addMissingHosts(&s, t, options)
                return false
            }
            try build(&s, t, options)
            return true
        }
    }

    static let gib: Int64 = 1 << 30
    static let mib: Int64 = 1 << 20

    /// What every host joins: the ISO library, the shared SR (with several hosts), the networks.
    struct PoolParts {
        let isoSR: String
        let sharedSR: String?
        let network: String
    }

    private static func build(_ s: inout DatabaseState, _ t: Tables, _ o: Options) throws(XapiError) {
        let now = Value.dateTime(.now())
        let uuids = o.hostUUIDs
        let hostMemory = max(64 * gib, Int64(o.vms) * (gib + 16 * mib) + 8 * gib)

        let isoSR = try s.create(t.sr.table, [
            "name_label": .string("XCP-ng Tools"), "name_description": .string("Guest tools ISOs"),
            "type": .string("iso"), "content_type": .string("iso"), "physical_size": .int(gib), "is_tools_sr": .bool(true),
            "other_config": .structure(["xenserver_tools_sr": .string("true")]),
        ])
        try s.create(t.vdi.table, [
            "name_label": .string("guest-tools.iso"), "SR": .string(isoSR), "virtual_size": .int(64 * mib),
            "physical_utilisation": .int(64 * mib), "type": .string("user"), "read_only": .bool(true),
            "location": .string("guest-tools.iso"), "is_tools_iso": .bool(true), "managed": .bool(true),
        ])
        let sharedSR = uuids.count > 1 ? try createSharedSR(&s, t) : nil
        // Networking: the management network on eth0 and the host-internal one.
        let network = try s.create(t.network.table, [
            "name_label": .string("Pool-wide network associated with eth0"), "bridge": .string("xenbr0"),
            "MTU": .int(1500), "other_config": .structure([:]),
        ])
        try s.create(t.network.table, [
            "name_label": .string("Host internal management network"), "bridge": .string("xenapi"),
            "MTU": .int(1500), "other_config": .structure(["is_guest_installer_network": .string("true"), "is_host_internal_management_network": .string("true")]),
        ])
        let parts = PoolParts(isoSR: isoSR, sharedSR: sharedSR, network: network)
        var hosts: [(host: String, localSR: String)] = []
        for (index, uuid) in uuids.enumerated() {
            hosts.append(try addHost(&s, t, uuid: uuid, hostname: o.hostname(index), address: o.address, memory: hostMemory, parts))
        }
        let master = hosts[0]
        let defaultSR = sharedSR ?? master.localSR
        try s.create(t.pool.table, [
            "name_label": .string(""), "master": .string(master.host), "default_SR": .string(defaultSR),
            "suspend_image_SR": .string(defaultSR), "crash_dump_SR": .string(defaultSR),
            "other_config": .structure(["memory-ratio-hvm": .string("0.25"), "memory-ratio-pv": .string("0.25")]),
            "cpu_info": .structure(["cpu_count": .string("8"), "socket_count": .string("1"), "vendor": .string("GenuineIntel")]),
        ])

        // Templates, as XenServer ships them (default templates cannot be destroyed).
        let provision = #"<provision><disk device="0" size="10737418240" sr="" bootable="true" type="system"/></provision>"#
        for (name, extra) in [
            ("Other install media", ["install-methods": Value.string("cdrom")]),
            ("Debian Bookworm 12", ["install-methods": .string("cdrom,nfs,http,ftp"), "disks": .string(provision),
                                    "debian-release": .string("bookworm")]),
            ("Windows 10 (64-bit)", ["install-methods": .string("cdrom"), "disks": .string(provision)]),
            ("CentOS Stream 9", ["install-methods": .string("cdrom,nfs,http,ftp"), "disks": .string(provision)]),
        ] {
            var otherConfig = Structure(extra.map { .init(key: $0.key, value: $0.value) }.sorted { $0.key < $1.key })
            otherConfig["default_template"] = .string("true")
            let template = try s.create(t.vm.table, vmFields(name: name, memory: 2 * gib, vcpus: 2) + [
                "is_a_template": .bool(true), "is_default_template": .bool(true), "other_config": .structure(otherConfig),
                "name_description": .string("Template that allows VM installation from \(name.lowercased())"),
                "metrics": .string(try s.create(t.vmMetrics.table, ["install_time": now, "last_updated": now])),
            ])
            VMOperations.refresh(vm: template, in: &s, tables: t)
        }

        // Ordinary VMs: a disk, an empty CD drive and one network interface each.
        let width = max(2, String(o.vms).count)
        for index in 1...max(1, o.vms) where o.vms > 0 {
            let number = String(index)
            let name = "demo-vm-" + String(repeating: "0", count: max(0, width - number.count)) + number
            let vm = try s.create(t.vm.table, vmFields(name: name, memory: gib, vcpus: 1) + [
                "metrics": .string(try s.create(t.vmMetrics.table, ["install_time": now, "last_updated": now])),
                "other_config": .structure(["mac_seed": .string(Identifiers.uuid())]),
            ])
            let disk = try s.create(t.vdi.table, [
                "name_label": .string("\(name) disk"), "SR": .string(defaultSR), "virtual_size": .int(10 * gib),
                "physical_utilisation": .int(2 * gib), "type": .string("system"), "managed": .bool(true),
                "location": .string(Identifiers.uuid()),
            ])
            try s.create(t.vbd.table, vbdFields(vm: vm, vdi: disk, userdevice: "0", type: "Disk", mode: "RW", bootable: true))
            try s.create(t.vbd.table, vbdFields(vm: vm, vdi: nullRef, userdevice: "3", type: "CD", mode: "RO", bootable: false))
            try s.create(t.vif.table, [
                "device": .string("0"), "network": .string(network), "VM": .string(vm), "MAC": .string(mac(index)),
                "MTU": .int(1500), "other_config": .structure([:]), "qos_algorithm_type": .string(""),
                "qos_algorithm_params": .structure([:]), "MAC_autogenerated": .bool(true),
                "allowed_operations": .array(["attach"].map(Value.string)),
            ])
            try VMMemory.updateOverhead(vm, in: &s, t)
            VMOperations.refresh(vm: vm, in: &s, tables: t)
        }
        for sr in [isoSR, defaultSR] { try VDIHandlers.accountVirtualAllocation(sr, in: &s, t) }
        for (host, _) in hosts { try HostOperations.refresh(host: host, in: &s, t) }
    }

    /// How every host reaches the shared SR (its PBDs' `device_config`).
    private static let sharedSRDevice: Structure = ["server": .string("nfs.demo"), "serverpath": .string("/export/xapi")]

    /// The SR every host of a pool of several sees: NFS, as a pool's shared storage usually is.
    private static func createSharedSR(_ s: inout DatabaseState, _ t: Tables) throws(XapiError) -> String {
        try s.create(t.sr.table, [
            "name_label": .string("NFS storage"), "name_description": .string("Shared storage on nfs.demo:/export/xapi"),
            "type": .string("nfs"), "content_type": .string("user"), "shared": .bool(true), "physical_size": .int(2048 * gib),
            "other_config": .structure([:]),
            "allowed_operations": .array(["vdi_create", "vdi_destroy", "vdi_resize", "vdi_clone", "vdi_snapshot"].map(Value.string)),
        ])
    }

    /// Hosts of `options` the pool lacks, added as members (a pool that gains its second host
    /// gains the shared SR too).
    private static func addMissingHosts(_ s: inout DatabaseState, _ t: Tables, _ o: Options) throws(XapiError) {
        let missing = o.hosts.enumerated().filter { (try? s.ref(uuid: $0.element, in: t.host)) == nil }
        guard !missing.isEmpty else { return }
        let srs = s.refs(t.sr).sorted()
        guard let isoSR = srs.first(where: { (try? s.get(t.sr, $0, .type))?.stringValue == "iso" }) else { return }
        let network = s.refs(t.network).sorted().first { (try? s.get(t.network, $0, .bridge))?.stringValue == "xenbr0" }
        guard let network else { return }
        var sharedSR = srs.first { (try? s.get(t.sr, $0, .type))?.stringValue == "nfs" && (try? s.get(t.sr, $0, .shared)) == .bool(true) }
        if sharedSR == nil {
            let shared = try createSharedSR(&s, t)
            for host in s.refs(t.host) {
                try s.create(t.pbd.table, ["host": .string(host), "SR": .string(shared), "currently_attached": .bool(true),
                                           "device_config": .structure(sharedSRDevice)])
            }
            sharedSR = shared
        }
        let master = XenAPI.localHost(in: s, tables: t)
        let metrics = (try? s.get(t.host, master, .metrics).stringValue) ?? nullRef
        let memory = (try? s.get(t.hostMetrics, metrics, .memoryTotal).intValue) ?? 64 * gib
        let parts = PoolParts(isoSR: isoSR, sharedSR: sharedSR, network: network)
        for (index, uuid) in missing {
            let (host, _) = try addHost(&s, t, uuid: uuid, hostname: o.hostname(index), address: o.address, memory: memory, parts)
            try HostOperations.refresh(host: host, in: &s, t)
        }
    }

    /// One host as its first boot leaves it in the pool: metrics and CPUs, its local SR and
    /// the pool's storage plugged, its management PIF on the pool's network, PCI devices and a
    /// GPU, its control domain.
    private static func addHost(_ s: inout DatabaseState, _ t: Tables, uuid: String, hostname: String, address: String,
                                memory hostMemory: Int64, _ parts: PoolParts) throws(XapiError) -> (host: String, localSR: String) {
        let now = Value.dateTime(.now())
        let host = Identifiers.ref()
        let dom0 = Identifiers.ref()
        let localSR = try s.create(t.sr.table, [
            "name_label": .string("Local storage"), "name_description": .string("Local storage on \(hostname)"),
            "type": .string("ext"), "content_type": .string("user"), "physical_size": .int(500 * gib),
            "other_config": .structure(["i18n-key": .string("local-storage")]),
            // Only what this server implements: SR.scan and PBD.plug/unplug are not there yet.
            "allowed_operations": .array(["vdi_create", "vdi_destroy", "vdi_resize", "vdi_clone", "vdi_snapshot"].map(Value.string)),
        ])
        let metrics = try s.create(t.hostMetrics.table, [
            // 64 GiB, or enough for every demo VM at once (1 GiB and its overhead each) beside
            // dom0: a host sized for its demo, so a boot storm of thousands of VMs fits.
            "memory_total": .int(hostMemory), "memory_free": .int(hostMemory - 4 * gib), "live": .bool(true), "last_updated": now,
        ])
        try s.create(t.host.table, [
            "uuid": .string(uuid),
            "name_label": .string(hostname), "name_description": .string("Default install"),
            "hostname": .string(hostname), "address": .string(address), "enabled": .bool(true),
            // What xapi reads from the host's DMI tables (what `VM.copy_bios_strings` copies).
            "bios_strings": .structure(["bios-vendor": .string("Dell Inc."), "bios-version": .string("2.19.1"),
                                        "system-manufacturer": .string("Dell Inc."), "system-product-name": .string("PowerEdge R650"),
                                        "system-version": .string(""), "system-serial-number": .string("4XK2QM3"),
                                        "baseboard-manufacturer": .string("Dell Inc."), "baseboard-product-name": .string("0Y2G81"),
                                        "baseboard-version": .string("A01"), "baseboard-serial-number": .string(".4XK2QM3.CNFCP0028Q00AP."),
                                        "baseboard-asset-tag": .string(""), "baseboard-location-in-chassis": .string(""),
                                        "enclosure-asset-tag": .string(""), "hp-rombios": .string(""),
                                        "oem-1": .string("Xen"), "oem-2": .string("MS_VM_CERT/SHA1/bdbeb6e0a816d43fa6d3fe8aaef04c2bad9d3e3d")]),
            "API_version_major": .int(2), "API_version_minor": .int(23), "API_version_vendor": .string("XenSource"),
            "software_version": .structure(["product_version": .string("8.3.0"), "platform_name": .string("XCP"),
                                            "platform_version": .string("3.4.0"), "xapi": .string("26.0"),
                                            "xen": .string("4.17.5"), "hostname": .string(hostname)]),
            "capabilities": .array(["xen-3.0-x86_64", "hvm-3.0-x86_32", "hvm-3.0-x86_64"].map(Value.string)),
            "sched_policy": .string("credit"), "metrics": .string(metrics), "control_domain": .string(dom0),
            "supported_bootloaders": .array(["pygrub", "eliloader"].map(Value.string)),
            "cpu_info": .structure(["cpu_count": .string("8"), "socket_count": .string("1"), "vendor": .string("GenuineIntel")]),
            "memory_overhead": .int(512 * mib), "edition": .string("xcp-ng"),
            "suspend_image_sr": .string(localSR), "crash_dump_sr": .string(localSR),
        ], ref: host)
        var plugged: [(String, Structure)] = [(localSR, ["device": .string("/dev/sda3")]),
                                              (parts.isoSR, ["location": .string("/opt/xensource/packages/iso")])]
        if let shared = parts.sharedSR { plugged.append((shared, sharedSRDevice)) }
        for (sr, config) in plugged {
            try s.create(t.pbd.table, ["host": .string(host), "SR": .string(sr),
                                       "device_config": .structure(config),
                                       "currently_attached": .bool(true)])
        }

        let pifMetrics = try s.create(t.pifMetrics, [
            "carrier": .bool(true), "vendor_name": .string("Intel Corporation"), "device_name": .string("82540EM Gigabit Ethernet"),
            "speed": .int(1000), "duplex": .bool(true), "pci_bus_path": .string("0000:00:03.0"), "last_updated": now,
        ])
        try s.create(t.pif.table, [
            "device": .string("eth0"), "network": .string(parts.network), "host": .string(host),
            "MAC": .string(HostNICs.interfaces(ofHost: uuid)[0].mac),
            "MTU": .int(1500), "VLAN": .int(-1), "metrics": .string(pifMetrics), "physical": .bool(true),
            "currently_attached": .bool(true), "ip_configuration_mode": .string("Static"), "IP": .string(address),
            "netmask": .string("255.255.255.0"), "gateway": .string(""), "management": .bool(true),
            "properties": .structure(["gro": .string("on")]),
        ])

        for n in 0..<8 {
            try s.create(t.hostCPU, [
                "host": .string(host), "number": .int(Int64(n)), "vendor": .string("GenuineIntel"), "speed": .int(2400),
                "modelname": .string("Intel(R) Xeon(R) CPU (simulated)"), "family": .int(6), "model": .int(85),
                "stepping": .string("4"), "flags": .string("fpu de tsc msr pae"), "utilisation": .double(0.01),
            ])
        }

        // PCI devices: the NIC behind eth0 and a GPU offered for pass-through.
        try s.create(t.pci, ["class_name": .string("Ethernet controller"), "vendor_name": .string("Intel Corporation"),
                             "device_name": .string("82540EM Gigabit Ethernet Controller"), "host": .string(host),
                             "pci_id": .string("0000:00:03.0"), "driver_name": .string("e1000")])
        let gpu = try s.create(t.pci, ["class_name": .string("VGA compatible controller"), "vendor_name": .string("NVIDIA Corporation"),
                                       "device_name": .string("GA102GL [A10]"), "host": .string(host),
                                       "pci_id": .string("0000:00:02.0"), "driver_name": .string("nvidia")])
        let groupName = "Group of NVIDIA Corporation GA102GL [A10] GPUs"
        let groupTable = s.table("GPU_group")
        // One group and one pass-through type for the pool's GPUs, made with the first host.
        var gpuGroup = s.refs(groupTable).sorted().first
        var passthrough = s.refs(s.table("VGPU_type")).sorted().first
        if gpuGroup == nil || passthrough == nil {
            let group = try s.create(groupTable, ["name_label": .string(groupName), "GPU_types": .array([.string("10de/2236")])])
            let type = try s.create(s.table("VGPU_type"), ["vendor_name": .string("NVIDIA Corporation"),
                                                           "model_name": .string("passthrough"), "implementation": .string("passthrough"),
                                                           "max_heads": .int(0)])
            try s.set(t.gpuGroup, group, .supportedVGPUTypes, .array([.string(type)]))
            try s.set(t.gpuGroup, group, .enabledVGPUTypes, .array([.string(type)]))
            (gpuGroup, passthrough) = (group, type)
        }
        try s.create(t.pgpu, ["PCI": .string(gpu), "GPU_group": .string(gpuGroup ?? nullRef), "host": .string(host),
                                       "supported_VGPU_types": .array([.string(passthrough ?? nullRef)]),
                                       "enabled_VGPU_types": .array([.string(passthrough ?? nullRef)])])

        // The control domain.
        let dom0Metrics = try s.create(t.vmMetrics.table, [
            "memory_actual": .int(4 * gib), "VCPUs_number": .int(8), "start_time": now, "install_time": now,
            "last_updated": now, "current_domain_type": .string("pv"), "state": .array([.string("running")]),
        ])
        try s.create(t.vm.table, vmFields(name: "Control domain on host: \(hostname)", memory: 4 * gib, vcpus: 8) + [
            "name_description": .string("The domain which manages physical devices and manages other domains"),
            "is_control_domain": .bool(true), "power_state": .string("Running"), "domid": .int(0),
            "resident_on": .string(host), "metrics": .string(dom0Metrics), "domain_type": .string("pv"),
        ], ref: dom0)
        try s.create(t.console.table, ["protocol": .string("rfb"), "location": .string("https://\(address)/console?ref=\(dom0)"),
                                 "VM": .string(dom0), "other_config": .structure([:])])
        return (host, localSR)
    }

    /// The constructor fields of an HVM VM with sensible values.
    static func vmFields(name: String, memory: Int64, vcpus: Int64) -> [String: Value] {
        [
            "name_label": .string(name), "user_version": .int(1), "is_a_template": .bool(false),
            "affinity": .string(nullRef), "memory_static_max": .int(memory), "memory_dynamic_max": .int(memory),
            "memory_dynamic_min": .int(memory), "memory_static_min": .int(memory / 2), "memory_target": .int(memory),
            "VCPUs_params": .structure([:]), "VCPUs_max": .int(vcpus), "VCPUs_at_startup": .int(vcpus),
            "actions_after_shutdown": .string("destroy"), "actions_after_reboot": .string("restart"),
            "actions_after_crash": .string("restart"), "PV_bootloader": .string(""), "PV_kernel": .string(""),
            "PV_ramdisk": .string(""), "PV_args": .string(""), "PV_bootloader_args": .string(""),
            "PV_legacy_args": .string(""), "HVM_boot_policy": .string("BIOS order"),
            "HVM_boot_params": .structure(["order": .string("cd")]),
            "platform": .structure(["acpi": .string("1"), "apic": .string("true"), "pae": .string("true"),
                                    "viridian": .string("true"), "nx": .string("true"), "device-model": .string("qemu-upstream-compat")]),
            "PCI_bus": .string(""), "other_config": .structure([:]), "recommendations": .string(""),
            "domid": .int(-1), "domain_type": .string("hvm"), "guest_metrics": .string(nullRef),
            "resident_on": .string(nullRef),
        ]
    }

    static func vbdFields(vm: String, vdi: String, userdevice: String, type: String, mode: String, bootable: Bool) -> [String: Value] {
        [
            "VM": .string(vm), "VDI": .string(vdi), "userdevice": .string(userdevice), "bootable": .bool(bootable),
            "mode": .string(mode), "type": .string(type), "empty": .bool(vdi == nullRef), "unpluggable": .bool(type == "CD"),
            "other_config": .structure([:]), "qos_algorithm_type": .string(""), "qos_algorithm_params": .structure([:]),
            "allowed_operations": .array((type == "CD" ? ["attach", "insert"] : ["attach"]).map(Value.string)),
        ]
    }

    /// A locally administered unicast MAC derived from `n`.
    static func mac(_ n: Int) -> String {
        let bytes = [0x02, 0x16, 0x3e, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]
        return bytes.map { b in
            let h = String(b, radix: 16)
            return b < 16 ? "0" + h : h
        }.joined(separator: ":")
    }
}

extension Dictionary where Key == String, Value == XapiDB.Value {
    static func + (lhs: Self, rhs: Self) -> Self { lhs.merging(rhs) { $1 } }
}
