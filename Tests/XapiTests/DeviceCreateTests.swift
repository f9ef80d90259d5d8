import Testing
@testable import Xapi
@testable import XapiDB
import Xenops

/// Issue 20's device calls, as Ansible's `xenserver_guest` and XenCenter's New VM wizard make them.
@Suite struct DeviceCreateTests {
    private func vbdRecord(vm: String, vdi: String, userdevice: String, type: String = "Disk", mode: String = "RW",
                           empty: Bool = false) -> Value {
        .structure([
            "VM": .string(vm), "VDI": .string(vdi), "userdevice": .string(userdevice), "bootable": .bool(false),
            "mode": .string(mode), "type": .string(type), "unpluggable": .bool(true), "empty": .bool(empty),
            "other_config": .structure(Structure()), "qos_algorithm_type": .string(""), "qos_algorithm_params": .structure(Structure()),
        ])
    }

    private func vifRecord(vm: String, network: String, device: String, mac: String = "") -> Value {
        .structure([
            "device": .string(device), "network": .string(network), "VM": .string(vm), "MAC": .string(mac), "MTU": .int(1500),
            "other_config": .structure(Structure()), "qos_algorithm_type": .string(""), "qos_algorithm_params": .structure(Structure()),
        ])
    }

    private func newDisk(_ h: Harness, readOnly: Bool = false) async throws -> String {
        let sr = try await h.value("pool.get_default_SR", try await h.value("pool.get_all").arrayValue![0]).stringValue!
        return try await h.value("VDI.create", .structure([
            "name_label": .string("extra"), "name_description": .string(""), "SR": .string(sr), "virtual_size": .int(1 << 30),
            "type": .string("user"), "sharable": .bool(false), "read_only": .bool(readOnly), "other_config": .structure(Structure()),
        ])).stringValue!
    }

    @Test func theServersClockAnswersInXapisFormats() async throws {
        let h = try await Harness()
        let host = h.api.localHost()
        guard case .dateTime(let utc) = try await h.value("host.get_servertime", .string(host)) else { Issue.record("no dateTime"); return }
        #expect(abs(utc.secondsSinceEpoch - DateTime.now().secondsSinceEpoch) <= 2)
        #expect(utc.description.hasSuffix("Z"))
        guard case .dateTime(let local) = try await h.value("host.get_server_localtime", .string(host)) else { Issue.record("no dateTime"); return }
        #expect(!local.description.hasSuffix("Z") && local.description.count == 17)
        #expect(await h.error("host.get_servertime", .string("OpaqueRef:nope")) == ["HANDLE_INVALID", "host", "OpaqueRef:nope"])
    }

    @Test func allowedDevicesLeaveOutEveryReadingOfTheUsedOnes() async throws {
        let h = try await Harness()
        let vm = try await h.vms()[0]           // HVM: a disk at userdevice 0, a CD at 3, a VIF at 0
        let disks = try await h.value("VM.get_allowed_VBD_devices", .string(vm)).arrayValue!.compactMap(\.stringValue)
        #expect(Array(disks.prefix(3)) == ["1", "2", "4"])
        #expect(disks.count == 253 && disks.last == "254")
        let vifs = try await h.value("VM.get_allowed_VIF_devices", .string(vm)).arrayValue!.compactMap(\.stringValue)
        #expect(vifs == (1...15).map(String.init))
    }

    @Test func vbdCreateResolvesAutodetectAndRefusesClashes() async throws {
        let h = try await Harness()
        let vm = try await h.vms()[0]
        let vdi = try await newDisk(h)
        let vbd = try await h.value("VBD.create", vbdRecord(vm: vm, vdi: vdi, userdevice: "autodetect")).stringValue!
        #expect(try await h.value("VBD.get_userdevice", .string(vbd)) == .string("1"))
        let other = try await newDisk(h)
        // "xvdb" and "hdb" are readings of position 1; "3" is the CD.
        for taken in ["1", "xvdb", "hdb", "3"] {
            #expect(await h.error("VBD.create", vbdRecord(vm: vm, vdi: other, userdevice: taken)) == ["DEVICE_ALREADY_EXISTS", taken])
        }
        #expect(await h.error("VBD.create", vbdRecord(vm: vm, vdi: other, userdevice: "bogus")) == ["INVALID_DEVICE", "bogus"])
        #expect(await h.error("VBD.create", vbdRecord(vm: vm, vdi: other, userdevice: "5", type: "CD")) == ["VBD_CDS_MUST_BE_READONLY"])
        #expect(await h.error("VBD.create", vbdRecord(vm: vm, vdi: nullRef, userdevice: "5", empty: true))
            == ["VBD_NOT_REMOVABLE_MEDIA", "in constructor"])
        let readOnly = try await newDisk(h, readOnly: true)
        #expect(await h.error("VBD.create", vbdRecord(vm: vm, vdi: readOnly, userdevice: "5")) == ["VDI_READONLY", readOnly])
        // Floppies: the first free drive letter on an HVM guest; none on a PV one.
        let floppy = try await h.value("VBD.create", vbdRecord(vm: vm, vdi: other, userdevice: "autodetect", type: "Floppy")).stringValue!
        #expect(try await h.value("VBD.get_userdevice", .string(floppy)) == .string("fda"))
        let pv = try await h.vms()[1]
        try h.api.database.write { s throws(XapiError) in try s.set(h.api.tables.vm, pv, .domainType, .string("pv")) }
        #expect(await h.error("VBD.create", vbdRecord(vm: pv, vdi: other, userdevice: "autodetect", type: "Floppy"))
            == ["NOT_IMPLEMENTED", "VBD of type 'floppy' is not supported on PV domain"])
        let freeAfter = try await h.value("VM.get_allowed_VBD_devices", .string(vm)).arrayValue!.compactMap(\.stringValue)
        #expect(freeAfter.first == "2")
        #expect(h.api.referenceFaults().isEmpty)
    }

    @Test func vifCreateDerivesTheMACFromTheVMsSeed() async throws {
        let h = try await Harness()
        let vm = try await h.vms()[0]
        let network = try await h.value("VIF.get_network", try await h.value("VM.get_VIFs", .string(vm)).arrayValue![0]).stringValue!
        let seed = try await h.value("VM.get_other_config", .string(vm)).structureValue!["mac_seed"]!.stringValue!
        let vif = try await h.value("VIF.create", vifRecord(vm: vm, network: network, device: "2")).stringValue!
        let record = try await h.value("VIF.get_record", .string(vif)).structureValue!
        #expect(record["MAC"] == .string(VIFAddress.mac(device: 2, seed: seed)))
        #expect(record["MAC_autogenerated"] == .bool(true))
        #expect(await h.error("VIF.create", vifRecord(vm: vm, network: network, device: "2")) == ["DEVICE_ALREADY_EXISTS", "2"])
        #expect(await h.error("VIF.create", vifRecord(vm: vm, network: network, device: "-1")) == ["INVALID_DEVICE", "-1"])
        #expect(await h.error("VIF.create", vifRecord(vm: vm, network: network, device: "4", mac: "zz:00:00:00:00:00"))
            == ["MAC_INVALID", "zz:00:00:00:00:00"])
        let given = try await h.value("VIF.create", vifRecord(vm: vm, network: network, device: "4", mac: "02:00:00:00:00:04")).stringValue!
        #expect(try await h.value("VIF.get_MAC_autogenerated", .string(given)) == .bool(false))
    }

    /// The MAC xapi derives for device 0 of a seed: MD5 once over the seed, the bytes taken as
    /// xapi's `gen_mac` takes them (a fixed vector, computed from the algorithm independently).
    @Test func theDerivedMACIsLocallyAdministeredAndStable() {
        let mac = VIFAddress.mac(device: 0, seed: "seed")
        #expect(mac == VIFAddress.mac(device: 0, seed: "seed"))
        #expect(mac != VIFAddress.mac(device: 1, seed: "seed"))
        let first = UInt8(mac.prefix(2), radix: 16)!
        #expect(first & 0x02 == 0x02 && first & 0x01 == 0)
        #expect(VIFAddress.isValidMAC(mac))
    }

    @Test func deviceNumbersReadAsXapiReadsThem() {
        #expect(DeviceNumber(userdevice: "0", hvm: true) == DeviceNumber(bus: .ide, disk: 0))
        #expect(DeviceNumber(userdevice: "4", hvm: true) == DeviceNumber(bus: .xen, disk: 4))
        #expect(DeviceNumber(userdevice: "0", hvm: false) == DeviceNumber(bus: .xen, disk: 0))
        #expect(DeviceNumber(userdevice: "xvdb", hvm: true) == DeviceNumber(bus: .xen, disk: 1))
        #expect(DeviceNumber(userdevice: "hdc", hvm: false) == DeviceNumber(bus: .ide, disk: 2))
        #expect(DeviceNumber(userdevice: "d3p2", hvm: false) == DeviceNumber(bus: .xen, disk: 3, partition: 2))
        #expect(DeviceNumber(userdevice: "autodetect", hvm: false) == nil)
        #expect(DeviceNumber(userdevice: "-1", hvm: false) == nil)
        #expect(DeviceNumber.interpretations(of: "1") == [DeviceNumber(bus: .ide, disk: 1), DeviceNumber(bus: .xen, disk: 1)])
    }
}
