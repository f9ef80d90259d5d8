"""Every write a client saw succeed survives kill -9; a restart restores refs and uuids."""
import signal

from conftest import Server


BURST = 24   # writes in a row, the kill right after the last one returned


def test_kill_minus_nine_keeps_acknowledged_writes(state_dir):
    """SIGKILL right after a burst of writes, nothing in between: no read (which could itself wait
    for earlier writes to reach the disk) and no pause. Each write's own answer must have waited
    for it to be durable, so every one of them, the last included, is there after the restart."""
    server = Server(state_dir, demo_vms=3).start()
    s = server.session()
    # Everything read first: after the first write, only writes until the kill.
    before = s.xenapi.VM.get_all_records()
    vms = sorted(ref for ref, r in before.items() if not r["is_a_template"] and not r["is_control_domain"])
    vdi_uuids = {ref: s.xenapi.VDI.get_uuid(ref) for ref in s.xenapi.VDI.get_all()}
    vdis = sorted(vdi_uuids)
    assert len(vms) == 3 and vdis

    networks = {}                                   # ref -> (name_label, other_config)
    names = {}                                      # VM ref -> its last name_label
    vm_config = {vm: {} for vm in vms}              # VM ref -> keys added to other_config
    vdi_config = {vdi: {} for vdi in vdis}          # VDI ref -> keys added to other_config
    for i in range(BURST):
        kind = i % 4
        if kind == 0:
            label, config = "durable net %d" % i, {"burst": str(i)}
            networks[s.xenapi.network.create({"name_label": label, "other_config": config})] = (label, config)
        elif kind == 1:
            vm = vms[i % len(vms)]
            names[vm] = "renamed %d before the crash" % i
            s.xenapi.VM.set_name_label(vm, names[vm])
        elif kind == 2:
            vdi = vdis[i % len(vdis)]
            vdi_config[vdi]["burst-%d" % i] = str(i)
            s.xenapi.VDI.add_to_other_config(vdi, "burst-%d" % i, str(i))
        else:
            vm = vms[i % len(vms)]
            vm_config[vm]["burst-%d" % i] = str(i)
            s.xenapi.VM.add_to_other_config(vm, "burst-%d" % i, str(i))
    server.stop(signal.SIGKILL)       # right after the last write returned

    again = Server(state_dir, demo_vms=3).start()
    try:
        t = again.session()
        missing = []
        all_networks = set(t.xenapi.network.get_all())
        for ref, (label, config) in networks.items():
            if ref not in all_networks:
                missing.append("network %s (%s)" % (ref, label))
                continue
            assert t.xenapi.network.get_name_label(ref) == label
            assert t.xenapi.network.get_other_config(ref) == config
        for vm, name in names.items():
            if t.xenapi.VM.get_name_label(vm) != name:
                missing.append("VM.set_name_label %r" % name)
        for vm, config in vm_config.items():
            got = t.xenapi.VM.get_other_config(vm)
            missing += ["VM.add_to_other_config %s" % k for k, v in config.items() if got.get(k) != v]
        for vdi, config in vdi_config.items():
            got = t.xenapi.VDI.get_other_config(vdi)
            missing += ["VDI.add_to_other_config %s" % k for k, v in config.items() if got.get(k) != v]
        assert not missing, "acknowledged writes lost by kill -9: %s" % ", ".join(missing)

        after = t.xenapi.VM.get_all_records()
        assert set(after) == set(before)
        for ref, record in before.items():
            assert after[ref]["uuid"] == record["uuid"]
            assert after[ref]["VBDs"] == record["VBDs"]
        assert {ref: t.xenapi.VDI.get_uuid(ref) for ref in t.xenapi.VDI.get_all()} == vdi_uuids
        # The demo pool is only created once.
        assert len(t.xenapi.pool.get_all()) == 1
    finally:
        again.stop()


def test_graceful_restart_keeps_everything(state_dir):
    server = Server(state_dir, demo_vms=2).start()
    s = server.session()
    vdi = s.xenapi.VDI.get_all()[0]
    s.xenapi.VDI.add_to_other_config(vdi, "kept", "yes")
    server.stop(signal.SIGTERM)
    again = Server(state_dir, demo_vms=2).start()
    try:
        assert again.session().xenapi.VDI.get_other_config(vdi)["kept"] == "yes"
    finally:
        again.stop()
