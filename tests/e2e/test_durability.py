"""Every write a client saw succeed survives kill -9; a restart restores refs and uuids."""
import signal

from conftest import Server, ordinary_vms


def test_kill_minus_nine_keeps_acknowledged_writes(state_dir):
    server = Server(state_dir, demo_vms=3).start()
    s = server.session()
    network = s.xenapi.network.create({"name_label": "durable net", "other_config": {"k": "v"}})
    vm = ordinary_vms(s)[0]
    s.xenapi.VM.set_name_label(vm, "renamed before the crash")
    before = s.xenapi.VM.get_all_records()
    server.stop(signal.SIGKILL)       # right after the RPCs returned

    again = Server(state_dir, demo_vms=3).start()
    try:
        t = again.session()
        assert t.xenapi.network.get_name_label(network) == "durable net"
        assert t.xenapi.network.get_other_config(network) == {"k": "v"}
        assert t.xenapi.VM.get_name_label(vm) == "renamed before the crash"
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
