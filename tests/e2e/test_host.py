"""Issue 20: the host's life as XenCenter's maintenance mode, xe host-* and Xen Orchestra drive
it (xapi_host.ml): disable and enable, evacuation on a one-host pool, reboot and shutdown once
disabled, a toolstack restart, plugins this host has not got."""
import shutil
import xmlrpc.client

import pytest
import XenAPI

from conftest import FAST, Server, failure, fast_server, make_state_dir, ordinary_vms, wait_for


@pytest.fixture(scope="module")
def fast():
    yield from fast_server(2)


def host_of(x):
    return x.pool.get_master(x.pool.get_all()[0])


def test_a_disabled_host_starts_nothing_and_may_reboot(fast):
    s = fast.session()
    x = s.xenapi
    host = host_of(x)
    vm = ordinary_vms(s)[0]
    assert x.host.get_enabled(host) is True
    ops = x.host.get_allowed_operations(host)
    assert "reboot" not in ops and "shutdown" not in ops and "power_on" not in ops and "vm_migrate" in ops
    assert failure(x.host.reboot, host) == ["HOST_NOT_DISABLED"]
    x.host.disable(host)
    try:
        assert x.host.get_enabled(host) is False
        assert {"reboot", "shutdown", "evacuate"} <= set(x.host.get_allowed_operations(host))
        # xapi's placement finds no host for a plain start; start_on says why.
        assert failure(x.VM.start, vm, False, False) == ["NO_HOSTS_AVAILABLE"]
        assert failure(x.VM.start_on, vm, host, False, False) == ["HOST_DISABLED", host]
    finally:
        x.host.enable(host)
    assert x.host.get_enabled(host) is True and "reboot" not in x.host.get_allowed_operations(host)
    assert failure(x.host.disable, "OpaqueRef:nothing") == ["HANDLE_INVALID", "host", "OpaqueRef:nothing"]


def test_evacuating_the_only_host_names_every_vm_that_cannot_leave(fast):
    s = fast.session()
    x = s.xenapi
    host = host_of(x)
    assert x.host.get_vms_which_prevent_evacuation(host) == {}
    x.host.assert_can_evacuate(host)
    x.host.evacuate(host, "OpaqueRef:NULL", "0")        # nothing to move: done
    vm = ordinary_vms(s)[1]
    x.VM.start(vm, False, False)
    try:
        assert x.host.get_vms_which_prevent_evacuation(host) == {vm: ["NO_HOSTS_AVAILABLE", vm]}
        assert failure(x.host.assert_can_evacuate, host) == ["CANNOT_EVACUATE_HOST", "NO_HOSTS_AVAILABLE,%s" % vm]
        assert failure(x.host.evacuate, host, "OpaqueRef:NULL", "0") == ["NO_HOSTS_AVAILABLE", vm]
        assert x.VM.get_power_state(vm) == "Running"
    finally:
        x.VM.hard_shutdown(vm)


def test_plugins_this_host_has_not_got(fast):
    """xapi_plugins.ml: XENAPI_MISSING_PLUGIN, whatever the arguments, pickled ones included
    (XML-RPC <base64> values are decoded as xapi's parser decodes them)."""
    s = fast.session()
    x = s.xenapi
    host = host_of(x)
    assert failure(x.host.call_plugin, host, "echo", "main", {"a": "b"}) == ["XENAPI_MISSING_PLUGIN", "echo"]
    pickled = xmlrpc.client.Binary(b"\x80\x04\x95\x05\x00\x00\x00K\x01.")
    assert failure(x.host.call_plugin, host, "updater.py", "check", {"args": pickled}) == [
        "XENAPI_MISSING_PLUGIN", "updater.py"]
    assert failure(x.host.call_plugin, "OpaqueRef:nothing", "echo", "main", {}) == [
        "HANDLE_INVALID", "host", "OpaqueRef:nothing"]


def test_a_toolstack_restart_keeps_sessions_and_enables_the_host_again(fast):
    s = fast.session()
    x = s.xenapi
    host = host_of(x)
    x.host.disable(host)
    x.host.restart_agent(host)
    assert wait_for(x, ["host"], lambda: x.host.get_enabled(host) is True)
    assert x.session.get_this_host(s._session) == host   # the same session still works


def test_a_reboot_stops_the_vms_and_brings_the_host_back(fast):
    s = fast.session()
    x = s.xenapi
    host = host_of(x)
    vms = ordinary_vms(s)
    for vm in vms:
        x.VM.start(vm, False, False)
    x.host.disable(host)
    x.host.reboot(host)
    assert wait_for(x, ["vm", "host"], lambda: all(x.VM.get_power_state(vm) == "Halted" for vm in vms)
                    and x.host.get_enabled(host) is True, timeout=60)
    metrics = x.host.get_metrics(host)
    assert x.host_metrics.get_live(metrics) is True
    assert x.host.get_current_operations(host) == {}
    assert all(x.PBD.get_currently_attached(p) for p in x.host.get_PBDs(host))


def test_a_shut_down_host_stays_down_until_the_server_starts_again():
    d = make_state_dir()
    srv = Server(d, demo_vms=1, extra=FAST).start()
    try:
        s = srv.session()
        x = s.xenapi
        host = host_of(x)
        vm = ordinary_vms(s)[0]
        x.VM.start(vm, False, False)
        x.host.disable(host)
        x.host.shutdown(host)
        metrics = x.host.get_metrics(host)
        assert wait_for(x, ["host_metrics", "vm"], lambda: x.host_metrics.get_live(metrics) is False
                        and x.VM.get_power_state(vm) == "Halted", timeout=60)
        assert failure(x.VM.start, vm, False, False) == ["NO_HOSTS_AVAILABLE"]
        assert failure(x.VM.start_on, vm, host, False, False) == ["HOST_NOT_LIVE"]
        assert failure(x.host.enable, host) == ["HOST_DISABLED_UNTIL_REBOOT", host]
        assert "shutdown" in x.host.get_current_operations(host).values()
        srv.stop()
        srv.start()
        x = srv.session().xenapi
        assert x.host_metrics.get_live(metrics) is True and x.host.get_enabled(host) is True
        assert x.host.get_current_operations(host) == {}
        x.VM.start(vm, False, False)
        assert x.VM.get_power_state(vm) == "Running"
    finally:
        srv.stop()
        shutil.rmtree(d, ignore_errors=True)
