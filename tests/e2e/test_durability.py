"""Every write a client saw succeed survives kill -9; a restart restores refs and uuids."""
import signal

from conftest import Server, ordinary_vms


def test_kill_minus_nine_keeps_acknowledged_writes(state_dir):
    server = Server(state_dir, demo_vms=3).start()
    s = server.session()
    before = s.xenapi.VM.get_all_records()
    vms = ordinary_vms(s)
    vdis = s.xenapi.VDI.get_all()
    # A burst of distinct writes, each acknowledged on its own; the kill follows the last
    # answer with nothing in between, so every write's own answer must have waited for it.
    network = s.xenapi.network.create({"name_label": "durable net", "other_config": {"k": "v"}})
    expected_names = {}
    for i in range(20):
        vm = vms[i % len(vms)]
        expected_names[vm] = "renamed %d before the crash" % i
        s.xenapi.VM.set_name_label(vm, expected_names[vm])
    for i, vdi in enumerate(vdis[:10]):
        s.xenapi.VDI.add_to_other_config(vdi, "written", str(i))
    last = s.xenapi.network.create({"name_label": "last write before the crash", "other_config": {}})
    server.stop(signal.SIGKILL)

    again = Server(state_dir, demo_vms=3).start()
    try:
        t = again.session()
        assert t.xenapi.network.get_name_label(network) == "durable net"
        assert t.xenapi.network.get_other_config(network) == {"k": "v"}
        for vm, name in expected_names.items():
            assert t.xenapi.VM.get_name_label(vm) == name
        for i, vdi in enumerate(vdis[:10]):
            assert t.xenapi.VDI.get_other_config(vdi).get("written") == str(i)
        assert t.xenapi.network.get_name_label(last) == "last write before the crash"
        after = t.xenapi.VM.get_all_records()
        assert set(after) == set(before)
        for ref, record in before.items():
            assert after[ref]["uuid"] == record["uuid"]
            assert after[ref]["VBDs"] == record["VBDs"]
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
