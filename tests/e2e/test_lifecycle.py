"""Issue 6 acceptance: VM lifecycle through Xenops, Async tasks, guest-initiated changes."""
import os
import shutil
import subprocess
import threading
import time

import pytest

from conftest import Server, failure, fast_server, ordinary_vms, wait_for


@pytest.fixture(scope="module")
def fast():
    """A server whose simulated hosts answer at once."""
    yield from fast_server(4)


def xs_wait_for(client, path, value, timeout=10):
    """Whether xenstore `path` reads `value` within `timeout` seconds, re-read after each watch
    event (the client's watch on `path` must be registered)."""
    deadline = time.monotonic() + timeout
    while client.read(path) != value:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        client.next_event(remaining)
    return True


RUNNING_OPS = {"clean_reboot", "clean_shutdown", "hard_reboot", "hard_shutdown", "pause", "suspend", "snapshot",
               "changing_dynamic_range", "changing_VCPUs_live"}
# Operations xapi would offer that this server does not implement yet (migration, HTTP export,
# checkpoints): allowed_operations must not offer them (issue 20).
NOT_OFFERED = {"migrate_send", "export", "metadata_export", "checkpoint"}


def test_power_cycle_with_states_operations_and_domids(fast):
    s = fast.session()
    x = s.xenapi
    vm = ordinary_vms(s)[0]

    def check(power, allowed_has, allowed_lacks=()):
        r = x.VM.get_record(vm)
        assert r["power_state"] == power
        assert r["current_operations"] == {}
        for op in allowed_has:
            assert op in r["allowed_operations"], (power, op, r["allowed_operations"])
        for op in list(allowed_lacks) + ["shutdown", "power_state_reset"] + sorted(NOT_OFFERED):
            assert op not in r["allowed_operations"], (power, op)
        return r

    r = check("Halted", {"start", "clone", "copy", "destroy"}, {"suspend", "unpause"})
    assert r["domid"] == "-1" and r["resident_on"] == "OpaqueRef:NULL"
    assert failure(x.VM.suspend, vm) == ["VM_BAD_POWER_STATE", vm, "running", "halted"]
    assert failure(x.VM.unpause, vm) == ["VM_BAD_POWER_STATE", vm, "paused", "halted"]
    assert failure(x.VM.clean_shutdown, vm) == ["VM_BAD_POWER_STATE", vm, "running", "halted"]
    assert failure(x.VM.hard_shutdown, vm) == ["VM_BAD_POWER_STATE", vm, "paused, suspended, running", "halted"]
    assert failure(x.VM.resume, vm, False, False) == ["VM_BAD_POWER_STATE", vm, "suspended", "halted"]

    x.VM.start(vm, False, False)
    r = check("Running", RUNNING_OPS, {"start", "unpause", "resume"})
    domid = int(r["domid"])
    assert domid > 0 and r["resident_on"] == x.session.get_this_host(s.handle)
    assert failure(x.VM.start, vm, False, False) == ["VM_BAD_POWER_STATE", vm, "halted", "running"]
    assert failure(x.VM.unpause, vm) == ["VM_BAD_POWER_STATE", vm, "paused", "running"]

    x.VM.pause(vm)
    r = check("Paused", {"unpause", "hard_shutdown", "hard_reboot"}, {"pause", "suspend", "clean_shutdown"})
    assert int(r["domid"]) == domid
    assert failure(x.VM.pause, vm) == ["VM_BAD_POWER_STATE", vm, "running", "paused"]
    assert failure(x.VM.suspend, vm) == ["VM_BAD_POWER_STATE", vm, "running", "paused"]

    x.VM.unpause(vm)
    check("Running", RUNNING_OPS)
    x.VM.suspend(vm)
    r = check("Suspended", {"resume", "hard_shutdown"}, {"suspend", "clean_shutdown"})
    assert r["domid"] == "-1" and r["resident_on"] == "OpaqueRef:NULL" and r["suspend_VDI"] != "OpaqueRef:NULL"
    assert x.VDI.get_type(r["suspend_VDI"]) == "suspend"
    assert failure(x.VM.start, vm, False, False) == ["VM_BAD_POWER_STATE", vm, "halted", "suspended"]
    assert failure(x.VM.hard_reboot, vm) == ["VM_BAD_POWER_STATE", vm, "paused, running", "suspended"]

    suspend_vdi = r["suspend_VDI"]
    x.VM.resume(vm, False, False)
    r = check("Running", RUNNING_OPS)
    assert r["suspend_VDI"] == "OpaqueRef:NULL" and suspend_vdi not in x.VDI.get_all()
    resumed = int(r["domid"])
    assert resumed > 0

    x.VM.clean_reboot(vm)
    r = check("Running", RUNNING_OPS)
    assert int(r["domid"]) not in (0, resumed)     # a new domain

    x.VM.clean_shutdown(vm)
    r = check("Halted", {"start"}, {"suspend"})
    assert r["domid"] == "-1" and r["resident_on"] == "OpaqueRef:NULL"
    assert all(not x.VBD.get_currently_attached(v) for v in r["VBDs"])
    assert all(not x.VIF.get_currently_attached(v) for v in r["VIFs"])


def test_devices_follow_the_power_state(fast):
    s = fast.session()
    x = s.xenapi
    vm = ordinary_vms(s)[1]
    record = x.VM.get_record(vm)
    assert not any(x.VBD.get_currently_attached(v) for v in record["VBDs"])
    x.VM.start(vm, False, False)
    assert all(x.VBD.get_currently_attached(v) for v in record["VBDs"])
    assert all(x.VIF.get_currently_attached(v) for v in record["VIFs"])
    assert x.VM_metrics.get_start_time(record["metrics"]).value != "19700101T00:00:00Z"
    disk = next(v for v in record["VBDs"] if x.VBD.get_type(v) == "Disk")
    assert failure(x.VBD.plug, disk) == ["DEVICE_ALREADY_ATTACHED", disk]
    x.VBD.unplug(disk)
    assert x.VBD.get_currently_attached(disk) is False
    assert failure(x.VBD.unplug, disk) == ["DEVICE_ALREADY_DETACHED", disk]
    x.VBD.plug(disk)
    assert x.VBD.get_currently_attached(disk) is True
    vif = record["VIFs"][0]
    x.VIF.unplug(vif)
    assert x.VIF.get_currently_attached(vif) is False
    x.VIF.plug(vif)
    assert x.VIF.get_currently_attached(vif) is True
    x.VM.hard_shutdown(vm)
    assert not any(x.VBD.get_currently_attached(v) for v in record["VBDs"])
    assert failure(x.VBD.plug, disk) == ["VM_BAD_POWER_STATE", vm, "running", "halted"]


def test_async_start_reports_progress_and_its_result(fast):
    s = fast.session()
    x = s.xenapi
    vm = ordinary_vms(s)[2]
    token = x.event_from(["task"], "", 0.0)["token"]
    task = x.Async.VM.start(vm, False, False)
    assert task.startswith("OpaqueRef:")
    seen = []
    while True:
        batch = x.event_from(["task/" + task], token, 10.0)
        token = batch["token"]
        for event in batch["events"]:
            if "snapshot" in event:
                seen.append((event["snapshot"]["status"], event["snapshot"]["progress"]))
        if seen and seen[-1][0] != "pending":
            break
    record = x.task.get_record(task)
    assert record["status"] == "success" and record["progress"] == 1.0
    assert record["result"] == "<value></value>"
    assert record["name_label"] == "Async.VM.start" and record["error_info"] == []
    assert record["finished"].value != "19700101T00:00:00Z"
    assert seen[-1] == ("success", 1.0)
    assert x.VM.get_power_state(vm) == "Running"
    x.task.destroy(task)
    assert task not in x.task.get_all()
    # Errors of an async call land in its task.
    task = x.Async.VM.start(vm, False, False)
    assert wait_for(x, ["task/" + task], lambda: x.task.get_status(task) != "pending")
    assert x.task.get_status(task) == "failure"
    assert x.task.get_error_info(task) == ["VM_BAD_POWER_STATE", vm, "halted", "running"]
    x.VM.hard_shutdown(vm)


def test_cancelling_a_slow_start_leaves_a_halted_vm(state_dir):
    server = Server(state_dir, in_memory=True, demo_vms=1, extra=["--device-step-delay-ms", "300"]).start()
    try:
        s = server.session()
        x = s.xenapi
        vm = ordinary_vms(s)[0]
        task = x.Async.VM.start(vm, False, False)
        assert wait_for(x, ["vm/" + vm], lambda: x.VM.get_current_operations(vm) == {task: "start"}, 10)
        assert "start" not in x.VM.get_allowed_operations(vm)
        x.task.cancel(task)
        assert wait_for(x, ["task/" + task], lambda: x.task.get_status(task) != "pending", 30)
        assert x.task.get_status(task) == "cancelled"
        assert x.task.get_error_info(task) == ["TASK_CANCELLED", task]
        assert wait_for(x, ["vm/" + vm], lambda: x.VM.get_current_operations(vm) == {}, 10)
        r = x.VM.get_record(vm)
        assert r["power_state"] == "Halted" and r["domid"] == "-1"
        assert "start" in r["allowed_operations"]
        assert not any(x.VBD.get_currently_attached(v) for v in r["VBDs"])
        # And it starts normally afterwards.
        x.VM.start(vm, False, False)
        assert x.VM.get_power_state(vm) == "Running"
    finally:
        server.stop()


XENSTORE = shutil.which("xenstore-write")


def xs(server, *args):
    env = dict(os.environ, XENSTORED_PATH=server.xenstore_socket)
    return subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=20)


@pytest.mark.skipif(XENSTORE is None, reason="needs Debian's xenstore-utils (scripts/test installs it)")
def test_guest_agent_write_reaches_event_from_clients(fast):
    s = fast.session()
    x = s.xenapi
    vm = ordinary_vms(s)[3]
    x.VM.start(vm, False, False)
    domid = x.VM.get_domid(vm)
    assert wait_for(x, ["vm/" + vm], lambda: x.VM.get_guest_metrics(vm) != "OpaqueRef:NULL")
    metrics = x.VM.get_guest_metrics(vm)
    token = x.event_from(["vm_guest_metrics"], "", 0.0)["token"]
    assert xs(fast, "xenstore-write", "/local/domain/%s/attr/vif/0/ipv4/0" % domid, "192.0.2.77").returncode == 0
    assert xs(fast, "xenstore-write", "/local/domain/%s/data/updated" % domid, str(int(time.time()))).returncode == 0
    deadline = time.time() + 10
    found = None
    while found is None and time.time() < deadline:
        batch = x.event_from(["vm_guest_metrics"], token, 5.0)
        token = batch["token"]
        for event in batch["events"]:
            if event["ref"] == metrics and event["operation"] == "mod" and event["snapshot"]["networks"].get("0/ip") == "192.0.2.77":
                found = event
    assert found is not None

    # The guest shuts itself down when the toolstack's request arrives through xenstore.
    token = x.event_from(["vm/" + vm], "", 0.0)["token"]
    assert xs(fast, "xenstore-write", "/local/domain/%s/control/shutdown" % domid, "poweroff").returncode == 0
    halted = False
    deadline = time.time() + 15
    while not halted and time.time() < deadline:
        batch = x.event_from(["vm/" + vm], token, 5.0)
        token = batch["token"]
        halted = any(e["snapshot"]["power_state"] == "Halted" for e in batch["events"] if "snapshot" in e)
    assert halted
    assert x.VM.get_domid(vm) == "-1"


def test_vbd_hotplug_walks_the_xenbus_handshake(state_dir):
    """Each backend state, read through the server's xenstore socket as each watch event arrives
    (steps are slowed down so that no state is overwritten before it is read)."""
    from xswire import XenstoreClient
    server = Server(state_dir, in_memory=True, demo_vms=1, extra=["--device-step-delay-ms", "100"]).start()
    try:
        s = server.session()
        x = s.xenapi
        vm = ordinary_vms(s)[0]
        x.VM.start(vm, False, False)
        domid = x.VM.get_domid(vm)
        disk = next(v for v in x.VM.get_VBDs(vm) if x.VBD.get_type(v) == "Disk")
        state = "/local/domain/0/backend/vbd/%s/51712/state" % domid
        client = XenstoreClient(server.xenstore_socket)
        client.watch(state)
        assert client.next_event(5) == state            # the initial event of a new watch
        # The backend waits in InitWait until the booting guest's frontend connects.
        assert xs_wait_for(client, state, "4"), client.read(state)

        def states_until(done, timeout=20):
            """Distinct values read after each event, and the number of events."""
            seen, events = [], 0
            deadline = time.time() + timeout
            while time.time() < deadline:
                path = client.next_event(0.5)
                if path is None:
                    if seen and done(seen):
                        break
                    continue
                events += 1
                value = client.read(path)
                if not seen or seen[-1] != value:
                    seen.append(value)
            return seen, events

        unplug = threading.Thread(target=x.VBD.unplug, args=(disk,))
        unplug.start()
        unplugged, events = states_until(lambda seen: seen[-1] is None)
        unplug.join()
        # Closing, Closed, then removed: Closed lives only until the backend is torn down, so a
        # read after its event may already find the node gone; its event is still counted.
        assert unplugged in (["5", "6", None], ["5", None]), unplugged
        assert events >= 3
        assert x.VBD.get_currently_attached(disk) is False

        plug = threading.Thread(target=x.VBD.plug, args=(disk,))
        plug.start()
        plugged, _ = states_until(lambda seen: seen[-1] == "4")
        plug.join()
        assert plugged[0] == "1" and plugged[-1] == "4", plugged     # Initialising … Connected
        assert [int(v) for v in plugged] == sorted(int(v) for v in plugged)
        assert x.VBD.get_currently_attached(disk) is True
        client.close()
    finally:
        server.stop()


def test_powercycle_like_the_users_script(fast):
    """xen-api's powercycle.py, ten rounds over every halted VM."""
    s = fast.session()
    x = s.xenapi
    vms = [ref for ref, r in x.VM.get_all_records().items()
           if not r["is_a_template"] and not r["is_control_domain"] and r["power_state"] == "Halted"]
    assert vms
    for _ in range(10):
        for vm in vms:
            x.VM.start(vm, False, True)
            assert wait_for(x, ["vm/" + vm], lambda: "suspend" in x.VM.get_record(vm)["allowed_operations"])
            x.VM.suspend(vm)
            x.VM.resume(vm, False, True)
            x.VM.clean_shutdown(vm)
            assert x.VM.get_power_state(vm) == "Halted"


@pytest.mark.skipif(shutil.which("xenstore-ls") is None, reason="needs Debian's xenstore-utils (scripts/test installs it)")
def test_running_vm_backends_visible_with_xenstore_ls(fast):
    """Issue 5: the device state is visible from outside, with Xen's own tools."""
    s = fast.session()
    x = s.xenapi
    vm = ordinary_vms(s)[2]
    x.VM.start(vm, False, False)
    domid = x.VM.get_domid(vm)
    try:
        from xswire import XenstoreClient
        client = XenstoreClient(fast.xenstore_socket)
        paths = ["/local/domain/0/backend/vbd/%s/51712/state" % domid, "/local/domain/0/backend/vif/%s/0/state" % domid]
        for path in paths:
            client.watch(path)
            assert xs_wait_for(client, path, "4"), (path, client.read(path))
        client.close()
        listing = xs(fast, "xenstore-ls", "-f", "/local/domain/0/backend").stdout
        for path in paths:
            assert '%s = "4"' % path in listing, listing
    finally:
        x.VM.hard_shutdown(vm)


def test_diagnostics_show_the_engine(fast):
    import json
    import urllib.request
    with urllib.request.urlopen(fast.url + "diagnostics") as response:
        document = json.loads(response.read())
    assert {"queues", "workers", "scheduler", "updates", "tasks", "suppressed_vms"} <= set(document)
    assert document["suppressed_vms"] == []          # nothing holds a VM's events between calls
    from conftest import BINARY
    out = subprocess.run([BINARY, "diagnostics", "--port", str(fast.port)], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert set(json.loads(out.stdout)) == set(document)


def test_api_shutdown_is_final_even_with_restart_actions(fast):
    """actions_after_shutdown=restart applies to guests shutting down, not to VM.*_shutdown."""
    s = fast.session()
    x = s.xenapi
    vm = ordinary_vms(s)[1]
    x.VM.set_actions_after_shutdown(vm, "restart")
    try:
        for shutdown in (x.VM.clean_shutdown, x.VM.hard_shutdown, x.VM.shutdown):
            x.VM.start(vm, False, False)
            shutdown(vm)
            # A restart would show as events within a moment; none comes.
            token = x.event_from(["vm/" + vm], "", 0.0)["token"]
            batch = x.event_from(["vm/" + vm], token, 0.3)
            assert all(e["snapshot"]["power_state"] == "Halted" for e in batch["events"] if "snapshot" in e), batch["events"]
            assert x.VM.get_power_state(vm) == "Halted"
    finally:
        x.VM.set_actions_after_shutdown(vm, "destroy")
