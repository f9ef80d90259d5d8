"""The example scripts, run as scripts against a real server with bounded options."""
import importlib.util
import os
import re
import subprocess
import sys
import time

import pytest

from conftest import EXAMPLES, PASSWORD, Server, ordinary_vms

SCRIPTS = ["event_loop.py", "watch_all_events.py", "vm_start_async.py", "powercycle.py", "vm_top.py"]


def run_while_changing(proc, change, timeout=30):
    """Keeps changing the server (every 0.2 s) until the script exits; returns (stdout, stderr)."""
    deadline = time.time() + timeout
    i = 0
    try:
        while proc.poll() is None:
            assert time.time() < deadline, "script did not finish"
            change(i)
            i += 1
            time.sleep(0.2)
        return proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()


def table_rows(lines):
    """The rows of watch_all_events.py's fixed-width table: (id, class, operation, name)."""
    return [(line[0:8].strip(), line[10:30].strip(), line[32:37].strip(), line[39:]) for line in lines]


def load_example(name):
    spec = importlib.util.spec_from_file_location(name[:-3], os.path.join(EXAMPLES, name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_example_documents_its_options(server, script):
    out = server.example(script, "--help")
    assert out.returncode == 0, out.stderr
    for option in ("--url", "-s HOST", "-p PORT", "-pw PASSWORD", "-pwf FILE", "--unix-socket"):
        assert option in out.stdout


def test_seed_event_loop(server, api):
    vm = ordinary_vms(api)[0]
    uuid = api.VM.get_uuid(vm)
    proc = server.spawn_example("event_loop.py", "--count", "1")
    out, err = run_while_changing(proc, lambda i: api.VM.set_name_description(vm, "poke %d" % i))
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert "received event op=mod class=vm ref=%s" % vm in lines
    assert "xapi-event on vm: vm_uuid=%s, power_state=Halted, current_operation=[]" % uuid in lines
    assert all(re.match(r"(received event op=\w+ class=\w+ ref=OpaqueRef:\S+|xapi-event on vm: .*)$", line)
               for line in lines)


def test_watch_all_events_first_call_lists_everything(server, api):
    out = server.example("watch_all_events.py", "--iterations", "1", "--timeout", "0")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "Waiting for events (up to 0 s)..."
    count = int(re.match(r"Number of events retrieved: (\d+)$", lines[1]).group(1))
    assert lines[3].split() == ["id", "class", "type", "name", "of", "object", "(if", "available)"]
    rows = table_rows(lines[5:])
    assert len(rows) == count and all(op == "add" for _, _, op, _ in rows)
    vm_names = sorted(r[3] for r in rows if r[1] == "vm")
    assert vm_names == sorted(v["name_label"] for v in api.VM.get_all_records().values())
    assert {"vm", "host", "pool", "sr", "vdi", "vbd", "vif", "network"} <= {r[1] for r in rows}


def test_watch_all_events_then_sees_only_changes(server, api):
    vm = ordinary_vms(api)[1]
    proc = server.spawn_example("watch_all_events.py", "--iterations", "2", "--timeout", "20")
    out, err = run_while_changing(proc, lambda i: api.VM.set_name_label(vm, "watched-%d" % i))
    api.VM.set_name_label(vm, "demo-vm-02")
    assert proc.returncode == 0, err
    second = out.split("Waiting for events (up to 20 s)...\n")[2]
    rows = table_rows(second.splitlines()[4:])
    assert rows and all(r[1] == "vm" and r[2] == "mod" and r[3].startswith("watched-") for r in rows)
    # event.from coalesces: one event per object, however many changes it saw.
    assert len(rows) == 1


def test_examples_over_the_unix_socket(server):
    env = server.env(XE_PASSWORD=None, XE_PORT="1", XE_UNIX_SOCKET=server.socket_path)
    out = server.example("watch_all_events.py", "--iterations", "1", "--timeout", "0", env=env)
    assert out.returncode == 0, out.stderr
    assert "Number of events retrieved: " in out.stdout


def test_examples_default_to_the_state_password_without_installing(server, tmp_path):
    """Run from a checkout (no PYTHONPATH, no pip install) in a directory with state/password."""
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "password").write_text(PASSWORD + "\n")
    env = server.env(XE_PASSWORD=None, PYTHONPATH=None)
    out = subprocess.run([sys.executable, os.path.join(EXAMPLES, "vm_top.py"), "--iterations", "1", "--timeout", "0"],
                         env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert " 4 VMs (4 halted); " in out.stdout.split("\n")[0]


def test_vm_top_frames(server, api):
    all_vms = api.VM.get_all_records()
    demo = {v["uuid"]: v for v in all_vms.values() if not v["is_a_template"] and not v["is_control_domain"]}
    out = server.example("vm_top.py", "--iterations", "1", "--timeout", "0", "--no-clear")
    assert out.returncode == 0, out.stderr
    frame = out.stdout.rstrip("\n").split("\n")
    assert re.match(r"\d\d:\d\d:\d\d  4 VMs \(4 halted\); %d VM objects on the server$" % len(all_vms), frame[0])
    assert frame[1].split() == ["NAME", "POWER", "UUID", "HOST", "OPERATIONS"]
    rows = {line.split()[2]: line.split() for line in frame[2:]}
    assert set(rows) == set(demo)
    assert all(rows[u][:2] == [demo[u]["name_label"], "halted"] for u in demo)

    everything = server.example("vm_top.py", "--iterations", "1", "--timeout", "0", "--no-clear", "--all")
    frame = everything.stdout.rstrip("\n").split("\n")
    assert len(frame) == 2 + len(all_vms)
    dom0 = [line for line in frame[2:] if "running" in line]
    assert len(dom0) == 1 and api.host.get_name_label(api.host.get_all()[0]) in dom0[0]


def test_vm_top_follows_changes(server, api):
    vm = ordinary_vms(api)[2]
    uuid = api.VM.get_uuid(vm)
    proc = server.spawn_example("vm_top.py", "--iterations", "2", "--timeout", "20", "--no-clear")
    out, err = run_while_changing(proc, lambda i: api.VM.set_name_label(vm, "top-%d" % i))
    api.VM.set_name_label(vm, "demo-vm-03")
    assert proc.returncode == 0, err
    frames = out.strip("\n").split("\n\n")
    assert len(frames) == 2
    (row,) = [line for line in frames[1].split("\n") if uuid in line]
    assert row.split()[0].startswith("top-") and row.split()[1] == "halted"


class FakeAPI:
    """Serves canned event.from batches, recording the tokens asked for."""

    def __init__(self, batches):
        self.batches = list(batches)
        self.tokens = []

    def event_from(self, classes, token, timeout):
        self.tokens.append(token)
        return self.batches.pop(0)


def vm_event(ref, op, name="x"):
    event = {"id": "1", "class": "vm", "operation": op, "ref": ref}
    if op != "del":
        event["snapshot"] = {"name_label": name}
    return event


def test_vm_top_resynchronises_when_valid_ref_counts_disagree():
    top = load_example("vm_top.py")
    fake = FakeAPI([
        {"events": [vm_event("a", "add"), vm_event("b", "add")], "valid_ref_counts": {"vm": 2}, "token": "t1"},
        # A deletion the old token could not report: the server counts 1 VM, the cache holds 2.
        {"events": [vm_event("a", "mod", "renamed")], "valid_ref_counts": {"vm": 1}, "token": "t2"},
        {"events": [vm_event("a", "add", "renamed")], "valid_ref_counts": {"vm": 1}, "token": "t3"},
        {"events": [vm_event("a", "del")], "valid_ref_counts": {"vm": 0}, "token": "t4"},
    ])
    table = top.VmTable()
    assert table.update(fake, 1.0) == 2 and set(table.vms) == {"a", "b"}
    table.update(fake, 1.0)
    assert fake.tokens == ["", "t1", ""] and table.resyncs == 1
    assert table.vms == {"a": {"name_label": "renamed"}} and table.token == "t3"
    table.update(fake, 1.0)
    assert table.vms == {} and table.resyncs == 1 and fake.tokens[-1] == "t3"


def test_vm_start_async_without_a_halted_vm():
    srv = Server(demo_vms=0).start()
    try:
        out = srv.example("vm_start_async.py")
        assert out.returncode == 1
        assert out.stdout == "Looking for a halted VM...\nUnable to find a halted VM\n"
    finally:
        srv.stop()


def test_powercycle_with_no_matching_vm(server):
    out = server.example("powercycle.py", "--vm", "no-such-vm")
    assert out.returncode == 1 and out.stdout.endswith("No VM matched\n")


def test_vm_start_async_follows_the_task(fresh_server):
    api = fresh_server.session().xenapi
    vm = ordinary_vms(api)[0]
    name = api.VM.get_name_label(vm)
    out = fresh_server.example("vm_start_async.py", "--vm", name)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Found %s (%s)" % (name, api.VM.get_uuid(vm)) in out.stdout
    final = out.stdout.split("The final contents of the task record:\n")[1]
    assert "'status': 'success'" in final
    assert out.stdout.endswith("VM %s is now Running\n" % name)
    assert api.VM.get_power_state(vm) == "Running"


def test_powercycle(fresh_server):
    api = fresh_server.session().xenapi
    vm = ordinary_vms(api)[1]
    name = api.VM.get_name_label(vm)
    api.VM.start(vm, False, False)  # powercycle first brings it down
    out = fresh_server.example("powercycle.py", "--vm", name, "--iterations", "2", timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert "  VM '%s' is in power state 'Running'" % name in lines
    assert [line.strip() for line in lines if "iteration" in line] == ["beginning iteration 1", "beginning iteration 2"]
    assert lines[-1] == "  VM '%s' is Halted after 2 cycles" % name
    assert api.VM.get_power_state(vm) == "Halted"
