import Testing
import Xenops
import Xenstore

/// A VIF's static address and locking mode, as xenopsd writes them: at plug, and on a plugged
/// device when they change.
@Suite struct VIFAddressingTests {
    @Test func staticAddressIsWrittenAtPlugAndRewrittenWhenItChanges() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "44444444-0000-0000-0000-000000000001"
        var metadata = Harness.metadata(uuid, vbds: [])
        metadata.vifs[0].mac = "c2:00:00:00:00:01"
        metadata.vifs[0].ipv4 = .static(addresses: ["192.168.1.5/24"], gateway: "192.168.1.1")
        h.xenops.vm.importMetadata(metadata)
        let domid = try #require(await h.startRunning(uuid))
        let setting = "/local/domain/\(domid)/xenserver/device/vif/0/static-ip-setting"
        let x = h.dom0
        #expect(try x.read("\(setting)/mac") == "c2:00:00:00:00:01")
        #expect(try x.read("\(setting)/enabled") == "1")
        #expect(try x.read("\(setting)/address") == "192.168.1.5/24")
        #expect(try x.read("\(setting)/gateway") == "192.168.1.1")
        #expect(try x.read("\(setting)/enabled6") == "0")

        let id = DeviceID(vm: uuid, device: "0")
        #expect(await h.succeed(h.xenops.vif.setIPConfiguration(id, ipv6: false, .static(addresses: ["10.9.0.7/16"], gateway: nil))))
        #expect(try x.read("\(setting)/address") == "10.9.0.7/16")
        #expect(try !x.exists("\(setting)/gateway"))
        #expect(try h.xenops.vif.stat(id).config.ipv4 == .static(addresses: ["10.9.0.7/16"], gateway: nil))
        #expect(await h.succeed(h.xenops.vif.setIPConfiguration(id, ipv6: true, .static(addresses: ["fd00::7/64"], gateway: "fd00::1"))))
        #expect(try x.read("\(setting)/enabled6") == "1" && x.read("\(setting)/gateway6") == "fd00::1")
        #expect(await h.succeed(h.xenops.vif.setIPConfiguration(id, ipv6: false, .unspecified)))
        #expect(try x.read("\(setting)/enabled") == "0" && !x.exists("\(setting)/address"))
    }

    @Test func lockingModeGoesToTheDevicesPrivateData() async throws {
        let h = await Harness()
        defer { Task { await h.stop() } }
        let uuid = "44444444-0000-0000-0000-000000000002"
        h.xenops.vm.importMetadata(Harness.metadata(uuid, vbds: []))
        _ = try #require(await h.startRunning(uuid))
        let data = "/xapi/\(uuid)/private/vif/0"
        let x = h.dom0
        #expect(try x.read("\(data)/locking-mode") == "unlocked")
        let id = DeviceID(vm: uuid, device: "0")
        #expect(await h.succeed(h.xenops.vif.setLockingMode(id, .locked(ipv4: ["10.0.0.1", "10.0.0.2"], ipv6: []))))
        #expect(try x.read("\(data)/locking-mode") == "locked")
        #expect(try x.read("\(data)/ipv4-allowed") == "10.0.0.1,10.0.0.2")
        #expect(try x.read("\(data)/ipv6-allowed") == "")
        #expect(await h.succeed(h.xenops.vif.setLockingMode(id, .disabled)))
        #expect(try x.read("\(data)/locking-mode") == "disabled" && !x.exists("\(data)/ipv4-allowed"))

        // A device that is not plugged cannot take it: xenopsd's Device_not_connected.
        let shutdown = h.xenops.vm.shutdown(uuid)
        #expect(await h.succeed(shutdown))
        let record = try #require(await h.finish(h.xenops.vif.setLockingMode(id, .unlocked)))
        guard case .failed = record.state else {
            Issue.record("set_locking_mode on an unplugged VIF: \(record.state)")
            return
        }
    }
}
