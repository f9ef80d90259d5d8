/// Operation → atomic steps (xen-api ocaml/xenopsd/lib/xenops_server.ml, `atomics_of_operation`). Lists of zero or
/// one step are never wrapped in a combinator.
extension Engine {
    private func serial(_ name: String, _ vm: String, _ atoms: [Atomic]) -> [Atomic] {
        atoms.count > 1 ? [.serial(vm: vm, description: "\(name) VM=\(vm)", atoms)] : atoms
    }

    private func parallel(_ name: String, _ vm: String, _ atoms: [Atomic]) -> [Atomic] {
        atoms.count > 1 ? [.parallel(vm: vm, description: "\(name) VM=\(vm)", atoms)] : atoms
    }

    private func nestedParallel(_ name: String, _ vm: String, _ atoms: [Atomic]) -> [Atomic] {
        atoms.count > 1 ? [.nestedParallel(vm: vm, description: "\(name) VM=\(vm)", atoms)] : atoms
    }

    /// Read-write VBDs before read-only ones: a VDI attached read-only cannot later be attached
    /// read-write (xenopsd's `vbd_plug_sets`).
    private func plugSets(_ vm: String) -> (readWrite: [VBDConfig], readOnly: [VBDConfig]) {
        let vbds = metadata.devices(vm, VBDConfig.self)
        return (vbds.filter { $0.mode == .readWrite }, vbds.filter { $0.mode == .readOnly })
    }

    func atomics(of operation: Operation) throws(XenopsError) -> [Atomic] {
        switch operation {
        case .vmStart(let id, let force):
            _ = try metadata.vm(id)
            let (rw, ro) = plugSets(id)
            func plug(_ kind: String, _ vbds: [VBDConfig]) -> [Atomic] {
                nestedParallel("VBDs.activate_epoch_and_plug \(kind)", id, vbds.flatMap { vbd in
                    serial("VBD.activate_epoch_and_plug \(kind)", id, [.vbdSetActive(vbd.id, true), .vbdPlug(vbd.id)])
                })
            }
            let vifs = metadata.devices(id, VIFConfig.self).flatMap { vif in
                serial("VIF.activate_and_plug", id, [.vifSetActive(vif.id, true), .vifPlug(vif.id)])
            }
            let vgpus = serial("VGPUs.activate & PCI.plug (SRIOV)", id,
                               nestedParallel("VGPUs.activate", id, metadata.devices(id, VGPUConfig.self).map { .vgpuSetActive($0.id, true) }))
            return [.vmCreate(id), .vmBuild(id, force: force)]
                + parallel("Devices.plug (no qemu)", id,
                           serial("VBDs.acticate_epoch_and_plug RW+RO", id, plug("RW", rw) + plug("RO", ro)) + vifs + vgpus)
                + [.vmCreateDeviceModel(id, saveState: false)]
                + metadata.devices(id, PCIConfig.self).map { .pciPlug($0.id) }
                // From here the domain is survivable.
                + [.vmSetDomainActionRequest(id, nil)]

        case .vmShutdown(let id, let timeout):
            let devices: [Atomic] = metadata.devices(id, VBDConfig.self).map { .vbdUnplug($0.id, force: true) }
                + metadata.devices(id, VIFConfig.self).map { .vifUnplug($0.id, force: true) }
                + metadata.devices(id, PCIConfig.self).map { .pciUnplug($0.id) }
            return (timeout.map { [.vmShutdownDomain(id, .poweroff, timeout: $0)] } ?? [])
                // CA-315450: pause before the device model goes, in case the guest is still running.
                + [.bestEffort(.vmPause(id)), .vmDestroyDeviceModel(id)]
                + parallel("Devices.unplug", id, devices)
                + [.vmDestroy(id)]

        case .vmPoweroff(let id, let timeout):
            let deactivate: [Atomic] = metadata.devices(id, VBDConfig.self).map { .vbdSetActive($0.id, false) }
                + metadata.devices(id, VIFConfig.self).map { .vifSetActive($0.id, false) }
                + metadata.devices(id, VGPUConfig.self).map { .vgpuSetActive($0.id, false) }
            return try atomics(of: .vmShutdown(id, timeout: timeout))
                + parallel("Devices.deactivate", id, deactivate)

        case .vmReboot(let id, let timeout):
            return (timeout.map { [.vmShutdownDomain(id, .reboot, timeout: $0)] } ?? [])
                + (try atomics(of: .vmShutdown(id, timeout: nil)))
                + (try atomics(of: .vmStart(id, force: false)))
                + [.vmUnpause(id)]

        case .vmSuspend(let id):
            return [.vmSave(id)] + (try atomics(of: .vmShutdown(id, timeout: nil)))

        case .vmResume(let id):
            return [.vmCreate(id), .vmRestore(id)]
                + (try atomics(of: .vmRestoreDevices(id)))
                + [.vmSetDomainActionRequest(id, nil)]

        case .vmRestoreDevices(let id):
            let (rw, ro) = plugSets(id)
            func plug(_ kind: String, _ vbds: [VBDConfig]) -> [Atomic] {
                parallel("VBDs.activate_and_plug \(kind)", id, vbds.flatMap { vbd in
                    serial("VBD.activate_and_plug \(kind)", id, [.vbdSetActive(vbd.id, true), .vbdPlug(vbd.id)])
                })
            }
            let vifs = parallel("VIFs.activate_and_plug", id, metadata.devices(id, VIFConfig.self).flatMap { vif in
                serial("VIF.activate_and_plug", id, [.vifSetActive(vif.id, true), .vifPlug(vif.id)])
            })
            return plug("RW", rw) + plug("RO", ro) + vifs
                + parallel("VGPUs.activate", id, metadata.devices(id, VGPUConfig.self).map { .vgpuSetActive($0.id, true) })
                + [.vmCreateDeviceModel(id, saveState: true)]
                + metadata.devices(id, PCIConfig.self).map { .pciPlug($0.id) }

        case .vbdHotplug(let id):
            return [.vbdSetActive(id, true), .vbdPlug(id)]
        case .vbdHotunplug(let id, let force):
            return [.vbdUnplug(id, force: force), .vbdSetActive(id, false)]
        case .vifHotplug(let id):
            return [.vifSetActive(id, true), .vifPlug(id)]
        case .vifHotunplug(let id, let force):
            return [.vifUnplug(id, force: force), .vifSetActive(id, false)]

        case .vmCheckState, .vbdCheckState, .vifCheckState, .pciCheckState, .vmMigrate, .vmReceiveMemory, .atomic:
            return []
        }
    }
}
